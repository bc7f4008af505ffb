// SSE and NDJSON framing of a stream body (docs/api.md §4, §5).
#include "eventstreams/stream_format.hpp"

#include <utility>

#include "eventstreams/event_encoder.hpp"
#include "eventstreams/partition_ring.hpp"

namespace eventstreams {

stream_format::stream_format(framing f, position_vector positions, std::vector<bool> pass_canary,
                             std::shared_ptr<const filter::compiled> filter)
    : framing_(f),
      positions_(std::move(positions)),
      pass_canary_(std::move(pass_canary)),
      filter_(std::move(filter)) {
  pass_canary_.resize(positions_.size(), false);
  if (filter_)
    filter_work_ = std::make_unique<filter::scratch>();
}

void stream_format::preamble(std::string& out) {
  if (framing_ == framing::ndjson)
    return;
  // The start positions right away: a client ended before its first event resumes from where
  // it started, not from the end.
  out += ":ok\n\n";
  if (filter_) {
    // One line: a filter holds no control character (docs/api.md "Server-side filters").
    out += ": filter ";
    out += filter_->canonical();
    out += "\n\n";
  }
  // A gap event takes the place of the start block: its id is the positions after the jump,
  // so a client that reconnects after it does not get it again (docs/api.md §5.4).
  std::vector<gap_partition> parts;
  parts.reserve(start_gaps_.size());
  for (const auto& g : start_gaps_) {
    if (g.index >= positions_.size())
      continue;
    const auto& at = positions_.at(g.index);
    parts.push_back(
        {at.topic, at.partition, g.requested, g.resumed, g.missing, gap_reason_name(g.reason)});
  }
  if (parts.empty()) {
    append_sse_id_block(out, positions_.id());
  } else {
    append_sse_gap_event(out, positions_.id(), parts);
  }
}

record_outcome stream_format::record(const source_record& rec, std::string& out) {
  if (rec.index >= positions_.size())
    return record_outcome::not_assigned;  // librdkafka delivers no such record
  if (rec.gap)
    gap(*rec.gap, out);
  if (rec.from_ring) {
    return record(spliced_record{rec.index, rec.offset, rec.timestamp,
                                 (rec.ring_flags & ring_flag::not_json) == 0,
                                 (rec.ring_flags & ring_flag::canary) != 0, rec.value, rec.key},
                  out);
  }
  scratch_.clear();
  spliced_record s{rec.index, rec.offset, rec.timestamp, false, false, {}, rec.key};
  s.json = splice_meta(rec.value, rec.topic, rec.partition, rec.offset, scratch_, &s.canary) ==
           splice_result::ok;
  s.data = scratch_;
  return record(s, out);
}

// The one step of both delivery modes (docs/api.md §11: the same bytes for the same records).
record_outcome stream_format::record(const spliced_record& rec, std::string& out) {
  const std::size_t i = rec.index;
  if (i >= positions_.size())
    return record_outcome::not_assigned;
  positions_.advance(i, rec.offset, rec.timestamp);
  id_moved_ = true;  // until an event carries the new id
  if (!rec.json)
    return record_outcome::skipped_not_json;
  if (rec.canary && !pass_canary_[i])
    return record_outcome::skipped_canary;
  if (filter_) {
    // The spliced record: its meta.topic/partition/offset are the record's own, as the client
    // sees them (docs/api.md "Server-side filters").
    const auto& at = positions_.at(i);
    filter::record_view view{rec.data, at.topic, at.partition, rec.offset, rec.timestamp, rec.key};
    if (!filter_->matches(view, *filter_work_))
      return record_outcome::skipped_filter;
  }
  if (framing_ == framing::ndjson) {
    append_ndjson_line(out, rec.data);
  } else {
    append_sse_event(out, positions_.id(), rec.data);
    id_moved_ = false;
  }
  return record_outcome::sent;
}

bool stream_format::skip_to(std::size_t i, std::int64_t next_offset,
                            std::optional<std::int64_t> timestamp_ms) {
  if (i >= positions_.size() || !positions_.move_to(i, next_offset, timestamp_ms))
    return false;
  id_moved_ = true;
  return true;
}

void stream_format::gap(const position_gap& g, std::string& out) {
  if (g.index >= positions_.size())
    return;
  positions_.jump(g.index, g.resumed);
  if (framing_ == framing::ndjson)
    return;  // NDJSON gets no gap line
  const auto& at = positions_.at(g.index);
  const gap_partition part{at.topic,  at.partition, g.requested,
                           g.resumed, g.missing,    gap_reason_name(g.reason)};
  append_sse_gap_event(out, positions_.id(), std::span(&part, 1));
  id_moved_ = false;
}

void stream_format::follow(std::string_view id, bool moved, std::shared_ptr<const void> owner) {
  following_ = true;
  followed_owner_ = std::move(owner);
  followed_id_ = id;
  id_moved_ = moved;
}

void stream_format::restart(position_vector positions) {
  positions_ = std::move(positions);
  following_ = false;
  followed_id_ = {};
  followed_owner_.reset();
}

std::string_view stream_format::id() {
  if (following_)
    return followed_id_;
  return positions_.id();
}

void stream_format::error(std::string_view problem, std::string& out) {
  if (framing_ == framing::ndjson)
    return;  // NDJSON has no framing for an error: the response just ends
  out += "event: error\nid: ";
  out += id();
  out += "\ndata: ";
  out += problem;
  out += "\n\n";
  id_moved_ = false;
}

void stream_format::heartbeat(std::string& out) {
  if (framing_ == framing::ndjson)
    return;
  // Positions that moved without an event (dropped canaries, skipped records) go out as an
  // id-only block, so that a sparse subscriber resumes from a fresh position.
  if (id_moved_) {
    id_block(out);
  } else {
    out += ":\n\n";
  }
}

void stream_format::before_end(std::string& out, std::chrono::milliseconds retry) {
  if (framing_ != framing::sse)
    return;
  if (id_moved_)
    id_block(out);
  if (retry.count() > 0) {
    // A block without data fires no event; EventSource only takes the delay from it.
    out.append("retry: ");
    append_int(out, retry.count());
    out.append("\n\n");
  }
}

void stream_format::id_block(std::string& out) {
  append_sse_id_block(out, id());
  id_moved_ = false;
}

std::vector<bool> stream_format::canary_policy(const std::vector<std::string>& topics,
                                               const std::vector<bool>& topic_passes,
                                               const position_vector& positions) {
  std::vector<bool> pass(positions.size(), false);
  for (std::size_t i = 0; i < positions.size(); ++i) {
    for (std::size_t t = 0; t < topics.size() && t < topic_passes.size(); ++t) {
      if (topics[t] == positions.at(i).topic)
        pass[i] = topic_passes[t];
    }
  }
  return pass;
}

std::chrono::steady_clock::time_point heartbeat_due(std::chrono::steady_clock::time_point last_send,
                                                    std::chrono::milliseconds interval) {
  using duration = std::chrono::steady_clock::duration;
  const duration grid = std::min<duration>(std::chrono::seconds(1), duration(interval) / 4);
  const duration due = (last_send + interval).time_since_epoch();
  if (grid.count() <= 0)
    return std::chrono::steady_clock::time_point(due);
  return std::chrono::steady_clock::time_point((due + grid - duration(1)) / grid * grid);
}

}  // namespace eventstreams

// A cohort's step and its chunk chain (docs/api.md §11).
#include "eventstreams/cohort.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

namespace eventstreams {
namespace {

// Room before an open batch for its HTTP chunk header: "ffffffff\r\n", a batch below 4 GiB.
constexpr std::size_t chunk_head_room = 10;
// A batch at least this large (a replay's slice, a burst) is published in the cohort's buffer
// as it is, with its header written into the room before it, instead of copied into a chunk of
// its own; a smaller one is copied, into a chunk that holds no more memory than its bytes.
constexpr std::size_t publish_in_place_at = 64 * 1024;

// An HTTP/1.1 chunk's header for a body of `size` bytes, "<hex>\r\n", written to `out`: its
// length.
std::size_t http_chunk_head(std::size_t size, char (&out)[20]) {
  auto [end, _] = std::to_chars(out, out + sizeof out - 2, size, 16);
  *end++ = '\r';
  *end++ = '\n';
  return static_cast<std::size_t>(end - out);
}

}  // namespace

void append_http_chunk(std::string& out, std::string_view body) {
  if (body.empty())
    return;
  char head[20];
  out.append(head, http_chunk_head(body.size(), head));
  out += body;
  out += "\r\n";
}

void framed_chunk::link(std::shared_ptr<const framed_chunk> next) const {
  next_ = std::move(next);
  linked_.store(next_.get(), std::memory_order_release);
}

framed_chunk::~framed_chunk() {
  // A long chain of chunks nobody holds any more is released in a loop, not by recursion.
  auto next = std::move(next_);
  while (next && next.use_count() == 1) {
    // use_count() is a relaxed load: the thread that dropped the chunk's other reference (a
    // session that read next_ through it) is not yet ordered before this one. A copy and its
    // release are acq_rel updates of the count, which order it (TSan found the race).
    std::shared_ptr<const framed_chunk>(next).reset();
    auto after = std::move(next->next_);
    next = std::move(after);
  }
}

cohort::cohort(std::uint64_t id, framing f, bool chunked, position_vector positions,
               std::vector<bool> pass_canary)
    : id_(id),
      chunked_(chunked),
      format_(f, std::move(positions), std::move(pass_canary)),
      events_(format_.positions().size(), 0) {
  head_room_ = chunked_ ? chunk_head_room : 0;
  body_.assign(head_room_, '\0');
  auto start = std::make_shared<framed_chunk>();
  start->cohort = id_;
  if (f == framing::sse)
    start->end_id.assign(format_.id());
  start->events.assign(events_.size(), 0);
  tail_ = std::move(start);
}

void cohort::step(const spliced_record& rec) {
  // A member that started ahead of the hub (the end it looked up) skips what the hub reads up
  // to there: F's guard, which per-connection consumers never need (they start there).
  if (rec.index >= format_.positions().size() ||
      rec.offset < format_.positions().at(rec.index).next_offset)
    return;
  switch (format_.record(rec, body_)) {
    case record_outcome::not_assigned:
      return;
    case record_outcome::skipped_not_json:
      ++skipped_not_json_;
      moved_after_event_ = true;
      break;
    case record_outcome::skipped_canary:
      ++skipped_canary_;
      moved_after_event_ = true;
      break;
    case record_outcome::skipped_filter:  // the hub evaluates the filter (docs/api.md §11)
      ++skipped_filter_;
      moved_after_event_ = true;
      break;
    case record_outcome::sent:
      any_event_ = true;
      moved_after_event_ = false;
      ++events_[rec.index];
      if (rec.timestamp >= 0)
        event_timestamps_.push_back(rec.timestamp);
      break;
  }
  if (records_ == 0)
    first_timestamp_ = rec.timestamp;
  ++records_;
}

void cohort::skip_to(std::size_t index, std::int64_t next_offset,
                     std::optional<std::int64_t> timestamp, std::uint32_t records) {
  // Nothing moves for a cohort that started ahead of the hub (step()'s guard): nothing counted.
  if (records == 0 || !format_.skip_to(index, next_offset, timestamp))
    return;
  skipped_filter_ += records;
  moved_after_event_ = true;
  records_ += records;
}

std::shared_ptr<const framed_chunk> cohort::publish(bool pull) {
  if (records_ == 0)
    return nullptr;
  auto c = std::make_shared<framed_chunk>();
  c->cohort = id_;
  c->pull = pull;
  const std::string_view body = std::string_view(body_).substr(head_room_);
  // In place only where the buffer's spare room is at most half the batch, and holds the final
  // "\r\n": a chunk holds at most 1.5 times its bytes (a buffer that grew by doubling is copied).
  const std::size_t spare = body_.capacity() - body_.size();
  if (body.size() >= publish_in_place_at && body.size() <= 0xffffffffU && spare >= 2 &&
      spare <= body.size() / 2) {
    std::size_t start = 0;
    if (chunked_) {
      char head[20];
      const std::size_t length = http_chunk_head(body.size(), head);
      start = head_room_ - length;
      std::memcpy(body_.data() + start, head, length);
      body_ += "\r\n";
    }
    const std::size_t capacity = body_.capacity();
    c->buffer = std::move(body_);
    c->start = start;
    body_ = std::string();
    body_.reserve(capacity);  // the next slice of a replay is as large
  } else if (chunked_) {
    c->buffer.reserve(body.size() + 16);
    append_http_chunk(c->buffer, body);
  } else {
    c->buffer.assign(body);
  }
  bytes_ += c->bytes().size();
  c->end_bytes = bytes_;
  if (format_.kind() == framing::sse)
    c->end_id.assign(format_.id());
  c->records = records_;
  records_total_ += records_;
  c->end_records = records_total_;
  c->first_timestamp = first_timestamp_;
  first_timestamp_ = -1;
  c->any_event = any_event_;
  c->moved_after_event = moved_after_event_;
  c->events = events_;
  c->skipped_canary = skipped_canary_;
  c->skipped_not_json = skipped_not_json_;
  c->skipped_filter = skipped_filter_;
  c->event_timestamps = std::move(event_timestamps_);
  body_.assign(head_room_, '\0');
  records_ = 0;
  any_event_ = false;
  moved_after_event_ = false;
  std::fill(events_.begin(), events_.end(), 0);
  skipped_canary_ = skipped_not_json_ = skipped_filter_ = 0;
  event_timestamps_.clear();
  tail_->link(c);
  tail_ = c;
  return c;
}

void cohort::release_room() {
  if (body_.size() == head_room_ && body_.capacity() > publish_in_place_at) {
    body_ = std::string();
    body_.assign(head_room_, '\0');
  }
}

std::shared_ptr<const framed_chunk> cohort::fail(std::string kind, std::string detail) {
  auto e = std::make_shared<framed_chunk>();
  e->cohort = id_;
  e->end_bytes = bytes_;
  e->end_records = records_total_;
  e->end_id = tail_->end_id;
  e->events.assign(events_.size(), 0);
  e->error = std::move(kind);
  e->error_detail = std::move(detail);
  tail_->link(e);
  tail_ = e;
  return e;
}

std::shared_ptr<const framed_chunk> cohort::merge_into(const cohort& into,
                                                       std::shared_ptr<const void> keep) {
  auto j = std::make_shared<framed_chunk>();
  j->cohort = into.id();
  j->end_bytes = into.tail()->end_bytes;
  j->end_records = into.tail()->end_records;
  j->end_id = into.tail()->end_id;
  j->events.assign(events_.size(), 0);
  j->jump = into.tail();
  j->jump_keep = std::move(keep);
  tail_->link(j);
  tail_ = j;
  return j;
}

namespace {

// A ring record against the replayed cohort's filter, as the hub's drain evaluates a record read
// live: one that is not JSON matches no filter.
bool replay_matches(const filter::compiled& f, const partition_position& at, const ring_record& r,
                    ring_replay& out) {
  if ((r.flags & ring_flag::not_json) != 0)
    return false;
  thread_local filter::scratch work;
  ++out.evaluated;
  return f.matches({r.json, at.topic, at.partition, r.offset, r.timestamp, std::nullopt}, work);
}

}  // namespace

bool rings_can_filter(const filter::compiled& filter) {
  return !std::ranges::binary_search(filter.fields(), std::string_view("$key"));
}

ring_replay replay_from_rings(cohort& c, const std::vector<const partition_ring*>& rings,
                              std::uint64_t consumed, std::uint64_t window, std::size_t slice,
                              std::vector<std::shared_ptr<const framed_chunk>>& published,
                              const filter::compiled* filter, std::vector<ring_place>* places) {
  ring_replay out;
  std::vector<std::optional<ring_cursor>> next(c.size());
  // The seq of each cursor's record (none: the largest value), so that picking the oldest is a
  // scan of integers, not a record read per partition per record replayed.
  constexpr auto none = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::uint64_t> seqs(c.size(), none);
  if (places)
    places->resize(c.size());
  for (std::size_t i = 0; i < c.size() && i < rings.size(); ++i) {
    const auto at = c.positions().at(i).next_offset;
    auto found = places ? rings[i]->find_from(at, (*places)[i]) : rings[i]->find(at);
    if (found.status == ring_lookup::before_ring) {
      out.result = ring_replay::outcome::lapped;
      return out;
    }
    // at_head / after_head: nothing to step now (step()'s guard skips what lies below).
    if (found.status == ring_lookup::found) {
      next[i] = std::move(found.cursor);
      seqs[i] = next[i]->record().seq;
    }
  }
  // A slice is published once `slice` bytes are open: at most an event more.
  c.reserve(slice + slice / 4);
  spliced_record s;
  while (c.published_bytes() < consumed + window) {
    const auto oldest = std::min_element(seqs.begin(), seqs.end());
    const std::size_t at = oldest == seqs.end() || *oldest == none
                               ? next.size()
                               : static_cast<std::size_t>(oldest - seqs.begin());
    if (at == next.size()) {
      out.result = ring_replay::outcome::caught_up;
      if (auto chunk = c.publish())
        published.push_back(std::move(chunk));
      return out;
    }
    const auto r = next[at]->record();
    s.index = at;
    s.offset = r.offset;
    s.timestamp = r.timestamp;
    s.json = !(r.flags & ring_flag::not_json);
    s.canary = (r.flags & ring_flag::canary) != 0;
    s.data = r.json;
    ++out.stepped;
    if (filter && !replay_matches(*filter, c.positions().at(at), r, out)) {
      c.skip_to(at, r.offset + 1, r.timestamp >= 0 ? std::optional(r.timestamp) : std::nullopt, 1);
    } else {
      c.step(s);
    }
    if (rings[at]->next(*next[at]) == ring_step::record) {
      seqs[at] = next[at]->record().seq;
    } else {
      next[at].reset();
      seqs[at] = none;
    }
    if (c.open_bytes() >= slice) {
      if (auto chunk = c.publish(true))
        published.push_back(std::move(chunk));
    }
  }
  if (auto chunk = c.publish(true))
    published.push_back(std::move(chunk));
  for (std::size_t i = 0; places && i < next.size(); ++i)
    (*places)[i] =
        next[i] ? ring_place{true, next[i]->chunk->number(), next[i]->index} : ring_place{};
  return out;
}

}  // namespace eventstreams

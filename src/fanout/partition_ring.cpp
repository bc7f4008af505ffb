// One topic-partition's ring of recent records: append, publish, evict, look up.
#include "eventstreams/partition_ring.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <stdexcept>

namespace eventstreams {
namespace {

constexpr std::size_t max_chunk_bytes = std::size_t{1} << 30;

}  // namespace

ring_record ring_chunk::at(std::size_t i) const {
  assert(i < descriptors_.size());
  const descriptor& d = descriptors_[i];
  return {d.seq,       d.offset, d.prev,
          d.timestamp, d.flags,  std::string_view(json_.data() + d.json_begin, d.json_size)};
}

std::size_t partition_ring::chunk_bytes_for(std::size_t max_bytes_per_partition,
                                            std::size_t max_bytes) noexcept {
  const std::size_t quarter = std::min(max_bytes_per_partition, max_bytes) / 4;
  return std::clamp(quarter, std::size_t{1} << 10, default_chunk_bytes);
}

partition_ring::partition_ring(std::int64_t base, std::size_t chunk_bytes)
    : chunk_bytes_(chunk_bytes), base_(base), head_(base), frontier_(base) {
  if (chunk_bytes == 0 || chunk_bytes > max_chunk_bytes) {
    throw std::invalid_argument("partition_ring: chunk_bytes must be in 1 B .. 1 GiB");
  }
}

bool partition_ring::append(std::uint64_t seq, std::int64_t offset, std::int64_t timestamp,
                            std::uint8_t flags, std::string_view json) {
  if (offset < frontier_ || (last_seq_ && seq <= *last_seq_) ||
      json.size() > std::numeric_limits<std::uint32_t>::max()) {
    return false;
  }
  const std::size_t cost = ring_chunk::record_overhead + json.size();
  if (open_ && chunks_.back()->bytes() + cost > chunk_bytes_) {
    // Close the full chunk; it is published with the rest of the batch by seal().
    chunks_.back()->descriptors_.shrink_to_fit();
    chunks_.back()->json_.shrink_to_fit();
    open_ = false;
  }
  if (!open_) {
    auto chunk = std::make_shared<ring_chunk>();
    chunk->number_ = next_number_++;
    chunks_.push_back(std::move(chunk));
    open_ = true;
  }
  ring_chunk& c = *chunks_.back();
  c.descriptors_.push_back({seq, offset, head_, timestamp,
                            static_cast<std::uint32_t>(c.json_.size()),
                            static_cast<std::uint32_t>(json.size()), flags});
  c.json_.append(json);
  c.max_timestamp_ = std::max(c.max_timestamp_, timestamp);
  if ((flags & ring_flag::log_append_time) != 0) {
    ++c.log_append_time_records_;
    ++log_append_time_records_;
  }
  head_ = offset + 1;
  frontier_ = std::max(frontier_, head_);
  last_seq_ = seq;
  bytes_ += cost;
  ++records_;
  return true;
}

std::size_t partition_ring::seal(std::int64_t now_ms,
                                 std::vector<std::shared_ptr<const ring_chunk>>& published) {
  if (open_) {
    chunks_.back()->descriptors_.shrink_to_fit();
    chunks_.back()->json_.shrink_to_fit();
    open_ = false;
  }
  if (chunks_.empty() || unpublished_ == next_number_) {
    unpublished_ = next_number_;
    return 0;
  }
  // Unpublished chunks are never evicted, so they are the last ones of the deque.
  const std::size_t first = chunks_.size() - static_cast<std::size_t>(next_number_ - unpublished_);
  for (std::size_t i = first; i < chunks_.size(); ++i) {
    chunks_[i]->sealed_at_ms_ = now_ms;
    published.push_back(chunks_[i]);
  }
  const auto n = static_cast<std::size_t>(next_number_ - unpublished_);
  unpublished_ = next_number_;
  return n;
}

void partition_ring::frontier(std::int64_t y) noexcept {
  frontier_ = std::max(frontier_, y);
}

std::size_t partition_ring::drop_front() {
  const std::shared_ptr<ring_chunk> chunk = std::move(chunks_.front());
  chunks_.pop_front();
  const std::size_t freed = chunk->bytes();
  bytes_ -= freed;
  records_ -= chunk->size();
  log_append_time_records_ -= chunk->log_append_time_records_;
  base_ = chunks_.empty() ? head_ : chunks_.front()->descriptors_.front().prev;
  return freed;
}

std::size_t partition_ring::evict(std::int64_t now_ms, std::size_t max_bytes,
                                  std::int64_t max_age_ms) {
  std::size_t freed = 0;
  while (!chunks_.empty() && chunks_.front()->number_ < unpublished_) {
    const ring_chunk& oldest = *chunks_.front();
    if (bytes_ <= max_bytes && now_ms - oldest.sealed_at_ms_ <= max_age_ms) {
      break;
    }
    freed += drop_front();
  }
  return freed;
}

std::optional<std::int64_t> partition_ring::oldest_chunk_time() const noexcept {
  if (chunks_.empty() || chunks_.front()->number_ >= unpublished_) {
    return std::nullopt;
  }
  return chunks_.front()->sealed_at_ms_;
}

std::size_t partition_ring::evict_oldest_chunk() {
  if (chunks_.empty() || chunks_.front()->number_ >= unpublished_) {
    return 0;
  }
  return drop_front();
}

ring_find_result partition_ring::find(std::int64_t offset) const {
  if (offset < base_) {
    return {ring_lookup::before_ring, {}};
  }
  if (offset >= head_) {
    return {offset <= frontier_ ? ring_lookup::at_head : ring_lookup::after_head, {}};
  }
  // base <= offset < head: the ring is not empty, and its last record (offset head - 1)
  // qualifies, so both searches succeed.
  const auto chunk_it = std::partition_point(
      chunks_.begin(), chunks_.end(),
      [offset](const std::shared_ptr<ring_chunk>& c) { return c->last_offset() < offset; });
  assert(chunk_it != chunks_.end());
  const auto& descriptors = (*chunk_it)->descriptors_;
  const auto record_it =
      std::partition_point(descriptors.begin(), descriptors.end(),
                           [offset](const ring_chunk::descriptor& d) { return d.offset < offset; });
  assert(record_it != descriptors.end());
  return {ring_lookup::found,
          {*chunk_it, static_cast<std::size_t>(record_it - descriptors.begin())}};
}

ring_find_result partition_ring::find_from(std::int64_t offset, const ring_place& place) const {
  const std::uint64_t first = chunks_.empty() ? next_number_ : chunks_.front()->number_;
  if (place.kept && place.chunk >= first && place.chunk - first < chunks_.size() &&
      offset >= base_ && offset < head_) {
    const auto at = static_cast<std::size_t>(place.chunk - first);
    const auto& held = chunks_[at];
    const auto& d = held->descriptors_;
    const std::size_t i = place.index;
    if (i < d.size() && d[i].offset >= offset &&
        (i > 0 ? d[i - 1].offset < offset : at == 0 || chunks_[at - 1]->last_offset() < offset))
      return {ring_lookup::found, {held, i}};
  }
  return find(offset);
}

ring_step partition_ring::next(ring_cursor& cursor) const {
  if (cursor.index + 1 < cursor.chunk->size()) {
    ++cursor.index;
    return ring_step::record;
  }
  const std::uint64_t wanted = cursor.chunk->number() + 1;
  const std::uint64_t first = chunks_.empty() ? next_number_ : chunks_.front()->number_;
  if (wanted < first) {
    return ring_step::evicted;
  }
  if (wanted >= next_number_) {
    return ring_step::end;
  }
  cursor.chunk = chunks_[static_cast<std::size_t>(wanted - first)];
  cursor.index = 0;
  return ring_step::record;
}

ring_find_result partition_ring::find_time(std::int64_t ts_ms) const {
  if (records_ == 0 || log_append_time_records_ != records_ ||
      ts_ms <= chunks_.front()->descriptors_.front().timestamp) {
    return {ring_lookup::cannot_answer, {}};
  }
  // Timestamps should be monotonic here, but a broker clock may step back: take the first
  // qualifying record in offset order, skipping chunks whose largest timestamp is too small.
  for (const auto& chunk : chunks_) {
    if (chunk->max_timestamp_ < ts_ms) {
      continue;
    }
    const auto& descriptors = chunk->descriptors_;
    for (std::size_t i = 0; i < descriptors.size(); ++i) {
      if (descriptors[i].timestamp >= ts_ms) {
        return {ring_lookup::found, {chunk, i}};
      }
    }
  }
  return {ring_lookup::at_head, {}};
}

std::string partition_ring::check() const {
  std::int64_t expected_prev = base_;
  std::optional<std::uint64_t> seq;
  std::size_t bytes = 0;
  std::size_t records = 0;
  std::size_t log_append_time = 0;
  std::optional<std::uint64_t> number;
  if (!(base_ <= head_ && head_ <= frontier_)) {
    return "base <= head <= frontier does not hold: base " + std::to_string(base_) + ", head " +
           std::to_string(head_) + ", frontier " + std::to_string(frontier_);
  }
  for (const auto& chunk : chunks_) {
    if (chunk->empty()) {
      return "empty chunk " + std::to_string(chunk->number_);
    }
    if (number && chunk->number_ != *number + 1) {
      return "chunk " + std::to_string(chunk->number_) + " follows chunk " +
             std::to_string(*number);
    }
    number = chunk->number_;
    std::size_t chunk_log_append_time = 0;
    std::int64_t max_timestamp = -1;
    for (const auto& d : chunk->descriptors_) {
      const std::string where = "record at offset " + std::to_string(d.offset) + ": ";
      if (d.prev != expected_prev) {
        return where + "R1: prev " + std::to_string(d.prev) + ", expected " +
               std::to_string(expected_prev);
      }
      if (d.offset < d.prev) {
        return where + "offset below prev " + std::to_string(d.prev);
      }
      if (seq && d.seq <= *seq) {
        return where + "seq " + std::to_string(d.seq) + " not above " + std::to_string(*seq);
      }
      if (std::size_t{d.json_begin} + d.json_size > chunk->json_.size()) {
        return where + "JSON outside its chunk";
      }
      seq = d.seq;
      expected_prev = d.offset + 1;
      max_timestamp = std::max(max_timestamp, d.timestamp);
      chunk_log_append_time += (d.flags & ring_flag::log_append_time) != 0 ? 1 : 0;
    }
    if (chunk_log_append_time != chunk->log_append_time_records_ ||
        max_timestamp != chunk->max_timestamp_) {
      return "chunk " + std::to_string(chunk->number_) + ": stale timestamp summary";
    }
    bytes += chunk->bytes();
    records += chunk->size();
    log_append_time += chunk_log_append_time;
  }
  if (expected_prev != head_) {
    return "head " + std::to_string(head_) + ", expected " + std::to_string(expected_prev);
  }
  if (last_seq_ && seq && *seq != *last_seq_) {
    return "last seq " + std::to_string(*seq) + ", expected " + std::to_string(*last_seq_);
  }
  if (bytes != bytes_ || records != records_ || log_append_time != log_append_time_records_) {
    return "counts: " + std::to_string(bytes_) + " bytes, " + std::to_string(records_) +
           " records; found " + std::to_string(bytes) + ", " + std::to_string(records);
  }
  if (number && *number + 1 != next_number_) {
    return "last chunk " + std::to_string(*number) + ", next " + std::to_string(next_number_);
  }
  return "";
}

bool feed_from_ring(const partition_ring& ring, std::int64_t& next, std::size_t space,
                    std::size_t& bytes, std::vector<ring_cursor>& out) {
  auto found = ring.find(next);
  if (found.status == ring_lookup::before_ring)
    return false;
  if (found.status != ring_lookup::found)
    return true;  // at or after the head: nothing yet
  auto cursor = std::move(found.cursor);
  while (bytes < space) {
    const auto rec = cursor.record();
    out.push_back(cursor);
    bytes += ring_record_bytes(rec);
    next = rec.offset + 1;
    if (ring.next(cursor) != ring_step::record)
      break;  // the head (a chunk evicted after this one cannot be: the ring holds `next`)
  }
  return true;
}

}  // namespace eventstreams

// The per-partition positions of one connection and their rendering as an SSE id (API.md §5.2).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eventstreams {

struct partition_position {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;           // always concrete (>= 0)
  std::optional<std::int64_t> timestamp;  // ms of the last record consumed from it
};

// Positions in assignment order. Rendering is incremental: each entry's JSON text is cached
// and only re-rendered when that entry changes, and id() patches the entries that changed into
// the array in place while their length stays the same (an offset gaining a digit, or a
// timestamp appearing, renders the array again), so an event costs one entry, not the array.
// Not thread-safe; owned by one session.
class position_vector {
 public:
  position_vector() = default;
  explicit position_vector(std::vector<partition_position> positions);

  std::size_t size() const noexcept { return positions_.size(); }
  const partition_position& at(std::size_t i) const { return positions_.at(i); }
  const std::vector<partition_position>& positions() const noexcept { return positions_; }

  // Index of (topic, partition) or -1. O(1) average.
  std::ptrdiff_t index_of(std::string_view topic, std::int32_t partition) const;

  // Records that the record at `offset` (with `timestamp_ms`, < 0 = none) was consumed from
  // entry `i`: next_offset becomes offset + 1.
  void advance(std::size_t i, std::int64_t offset, std::int64_t timestamp_ms);
  // Moves entry `i` to `next_offset` after a gap: the record before it is unknown, so the entry
  // has no timestamp.
  void jump(std::size_t i, std::int64_t next_offset);
  // Moves entry `i` forward to `next_offset` past records consumed elsewhere (the shared mode's
  // filtered cohorts, docs/api.md §11), with the timestamp of the last of them that had one
  // (none: the entry keeps its own). Never moves an entry back: whether it moved.
  bool move_to(std::size_t i, std::int64_t next_offset, std::optional<std::int64_t> timestamp_ms);

  // The JSON array, e.g.
  // [{"topic":"a","partition":0,"offset":12,"timestamp":1532031066001},{"topic":"b","partition":0,"offset":3}]
  // The reference stays valid until the next non-const call.
  const std::string& id();

 private:
  void render_entry(std::size_t i);
  void render_id();
  std::vector<partition_position> positions_;
  std::vector<std::string> rendered_;  // per entry JSON object text
  std::vector<std::size_t> prefix_;    // per entry: bytes of rendered_ up to the offset's value
  std::string id_;
  std::vector<std::size_t> at_;       // per entry: where its text starts in id_
  std::vector<std::size_t> changed_;  // entries re-rendered since id_ was (no repeats)
  std::vector<char> is_changed_;      // per entry: in changed_
  bool dirty_ = true;                 // id_ must be rendered whole
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  // topic -> (partition number -> index into positions_, -1 where not assigned)
  std::unordered_map<std::string, std::vector<std::ptrdiff_t>, string_hash, std::equal_to<>>
      lookup_;
};

}  // namespace eventstreams

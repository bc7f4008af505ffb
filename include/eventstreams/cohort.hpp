// Shared mode (docs/api.md §11): a cohort is the group of streams that read the same partitions
// with the same framing, canary policy and filter and whose positions are equal. It steps each
// record once, through the same stream_format step as a per-connection stream, and publishes the
// bytes of each batch as one immutable framed chunk that every member writes as it is. Sans-io: the
// hub (one thread) steps and publishes; members on other threads follow the chunk chain.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"
#include "eventstreams/partition_ring.hpp"
#include "eventstreams/position_vector.hpp"
#include "eventstreams/stream_format.hpp"

namespace eventstreams {

// One batch of a cohort's events, framed for the wire (HTTP chunk framing included when the
// cohort is chunked), with what a member needs to account for it and to render its own blocks
// after it. Immutable once published, except for the link to the next chunk, which the hub sets
// once.
struct framed_chunk {
  std::uint64_t cohort = 0;  // the cohort whose members read this chunk
  // What a member writes (bytes()): buffer from `start` on; empty for a jump or an empty start.
  // A large batch is published in the cohort's own buffer, which keeps room before the body for
  // the HTTP chunk header, so `start` may be past its beginning.
  std::string buffer;
  std::size_t start = 0;
  std::uint64_t end_bytes = 0;        // the cohort's framed bytes up to and including this chunk
  std::string end_id;                 // the positions after this chunk, rendered as an SSE id
  std::uint32_t records = 0;          // records stepped (sent, skipped or dropped)
  std::uint64_t end_records = 0;      // the cohort's records stepped up to and including this chunk
  std::int64_t first_timestamp = -1;  // of the chunk's first record stepped, ms; -1: none (lag)
  bool any_event = false;             // at least one event in `bytes`
  bool moved_after_event = false;     // records after the chunk's last event moved the positions
  std::vector<std::uint32_t> events;  // per position index: events in `bytes`
  std::uint32_t skipped_canary = 0;
  std::uint32_t skipped_not_json = 0;
  std::uint32_t skipped_filter = 0;            // records the cohort's filter did not match
  std::vector<std::int64_t> event_timestamps;  // of each event with one, ms (delivery lag)
  // The cohort is catching up from the partition rings (a resumed request): the hub steps it
  // with more of them when its member takes this chunk (it tells the hub, which keeps at most
  // fanout.cohort_window bytes ahead of the member).
  bool pull = false;
  // Not empty: the cohort ended here on a Kafka error of this kind (no chunk follows); its
  // members end with an error event, as a per-connection stream would (docs/api.md §5.5).
  std::string error;
  std::string error_detail;

  // Set when the cohort merged into another whose positions became equal: the member continues
  // after `jump` (a chunk of that cohort, whose bytes it must not write).
  std::shared_ptr<const framed_chunk> jump;
  std::shared_ptr<const void> jump_keep;  // keeps that cohort alive until its members moved

  std::string_view bytes() const noexcept {
    return std::string_view(buffer).substr(std::min(start, buffer.size()));
  }

  // Whether the positions moved past the last event a member wrote, after this chunk.
  bool moved_after(bool before) const noexcept {
    return any_event ? moved_after_event : (before || records > 0);
  }

  // The chunk after this one, or null while there is none (acquire: its contents are visible).
  const framed_chunk* next() const noexcept { return linked_.load(std::memory_order_acquire); }
  std::shared_ptr<const framed_chunk> next_shared() const noexcept {
    return next() ? next_ : nullptr;
  }
  // The hub links the next chunk, once (release: publishes it).
  void link(std::shared_ptr<const framed_chunk> next) const;

  ~framed_chunk();

 private:
  mutable std::shared_ptr<const framed_chunk> next_;
  mutable std::atomic<const framed_chunk*> linked_{nullptr};
};

// A cohort: its positions (the state every member shares), the open batch and the chunk chain.
// Used by the hub thread only; members read the chunks through shared pointers.
class cohort {
 public:
  // `positions` are the members' start positions; `pass_canary` per position
  // (stream_format::canary_policy). `chunked`: HTTP/1.1 chunk framing on every chunk.
  cohort(std::uint64_t id, framing f, bool chunked, position_vector positions,
         std::vector<bool> pass_canary);

  std::uint64_t id() const noexcept { return id_; }
  // The members' positions rendered as an id: equal ids, equal cohort state.
  std::string_view id_state() { return format_.id(); }
  // The chunk a member that joins now starts after (it has consumed nothing of the cohort).
  const std::shared_ptr<const framed_chunk>& tail() const noexcept { return tail_; }
  std::size_t size() const noexcept { return format_.positions().size(); }
  const position_vector& positions() const noexcept { return format_.positions(); }

  // Steps a record of position `rec.index` (the cohort's own index). A filtered cohort is
  // stepped only with the records its filter matched (the hub evaluates it once for all
  // cohorts with that filter).
  void step(const spliced_record& rec);
  // A filtered cohort: moves position `index` to `next_offset` (the hub's head, docs/api.md §11,
  // or the offset after a record replayed from the rings) past `records` records its filter
  // rejected, with the timestamp of the last of them that had one (none: it keeps its own).
  void skip_to(std::size_t index, std::int64_t next_offset, std::optional<std::int64_t> timestamp,
               std::uint32_t records);
  // Publishes the batch stepped since the last publish as one chunk linked after tail();
  // returns it, or null when nothing was stepped. `pull`: framed_chunk::pull.
  std::shared_ptr<const framed_chunk> publish(bool pull = false);
  // Room for `bytes` of events in the open batch, so that a batch of about that size is framed
  // without growing its buffer and is published in it without a copy (a replay's slices).
  void reserve(std::size_t bytes) { body_.reserve(head_room_ + bytes); }
  // Gives a large buffer back while no batch is open (a replay that went live: its batches are
  // small from then on).
  void release_room();
  // Framed bytes published so far, and those stepped but not yet published.
  std::uint64_t published_bytes() const noexcept { return bytes_; }
  std::size_t open_bytes() const noexcept { return body_.size() - head_room_; }
  // Ends this cohort on a Kafka error: returns the error chunk, linked after tail().
  std::shared_ptr<const framed_chunk> fail(std::string kind, std::string detail);
  // Ends this cohort: its members continue in `into` after into.tail() (equal positions
  // required). Returns the jump chunk, linked after tail(), which holds `keep`. Nothing may be
  // stepped afterwards.
  std::shared_ptr<const framed_chunk> merge_into(const cohort& into,
                                                 std::shared_ptr<const void> keep);

 private:
  std::uint64_t id_;
  bool chunked_;
  stream_format format_;
  std::shared_ptr<const framed_chunk> tail_;
  std::uint64_t bytes_ = 0;
  std::uint64_t records_total_ = 0;  // stepped and published
  // The open batch: head_room_ bytes kept for the HTTP chunk header (chunked), then the events.
  std::string body_;
  std::size_t head_room_ = 0;
  std::uint32_t records_ = 0;
  std::int64_t first_timestamp_ = -1;
  bool any_event_ = false;
  bool moved_after_event_ = false;
  std::vector<std::uint32_t> events_;
  std::uint32_t skipped_canary_ = 0;
  std::uint32_t skipped_not_json_ = 0;
  std::uint32_t skipped_filter_ = 0;
  std::vector<std::int64_t> event_timestamps_;
};

// A resumed client's cohort catching up from the partition rings (docs/api.md §11), one call per
// pull: steps `c` with the ring records of its partitions from its positions, in the order the
// hub appended them (seq), while its chain holds less than `window` bytes beyond `consumed` (the
// end_bytes of the last chunk its member took), publishing a chunk marked framed_chunk::pull
// each time `slice` bytes are open. `rings[i]` is the ring of the cohort's position i; every
// chunk of theirs must be sealed. Exactness (fanout.md §3.3, Lemma A): the first ring record at
// or after a position is the next record of the partition at or after it, and ring::next()
// follows the partition's records without gap, so the cohort steps exactly the records a
// per-connection stream from the same positions would, in the same per-partition order.
struct ring_replay {
  enum class outcome {
    more,       // the window is full: call again when the member took more
    caught_up,  // every ring record of its partitions is stepped: it reads live from here
    lapped,     // a ring no longer holds its next record: it cannot go on exactly
  };
  outcome result = outcome::more;
  std::uint64_t stepped = 0;    // records stepped by this call (rejected by `filter` included)
  std::uint64_t evaluated = 0;  // of them, records `filter` was evaluated on
};
// `filter` (null: none), the cohort's: a record it does not match (one that is not JSON
// included) moves the position past it without an event, as a per-connection stream with that
// filter does (docs/api.md §11). The rings keep no record keys: a filter that reads `$key`
// must not be replayed (rings_can_filter()).
// `places` (null: none), kept by the caller from one call to the next: where each position's
// cursor stopped (partition_ring::find_from), so that a call finds its positions in O(1) instead
// of searching every ring again; they pin no chunk.
ring_replay replay_from_rings(cohort& c, const std::vector<const partition_ring*>& rings,
                              std::uint64_t consumed, std::uint64_t window, std::size_t slice,
                              std::vector<std::shared_ptr<const framed_chunk>>& published,
                              const filter::compiled* filter = nullptr,
                              std::vector<ring_place>* places = nullptr);
// Whether the rings can replay a stream with `filter`: it does not read `$key`.
bool rings_can_filter(const filter::compiled& filter);

// Appends `body` to `out` as one HTTP/1.1 chunk ("<hex>\r\n<body>\r\n"); nothing when empty.
void append_http_chunk(std::string& out, std::string_view body);

}  // namespace eventstreams

// The partition ring of shared fan-out mode (fanout.md §2.2): one topic-partition's recent
// records in immutable, ref-counted chunks, appended by the hub and read by the shards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventstreams {

// Bits of ring_record::flags.
namespace ring_flag {
inline constexpr std::uint8_t not_json = 1;         // the value was skipped (no JSON kept)
inline constexpr std::uint8_t canary = 2;           // a canary event (filtered per policy)
inline constexpr std::uint8_t log_append_time = 4;  // timestamp is the broker's LogAppendTime
}  // namespace ring_flag

// One record as stored. `prev` is the ring's head before the record (R1: the previous
// record's offset + 1, or the ring's base for the first record); R2, which the hub guarantees,
// says no deliverable record of the partition lies in [prev, offset).
struct ring_record {
  std::uint64_t seq = 0;  // the hub's append counter, shared by every ring of the node
  std::int64_t offset = 0;
  std::int64_t prev = 0;
  std::int64_t timestamp = -1;  // ms since epoch, -1 if none
  std::uint8_t flags = 0;       // ring_flag bits
  std::string_view json;        // the value after the meta splice; empty when not_json
};

// A block of consecutive records (about chunk_bytes; a record larger than that has a chunk of
// its own). Immutable once partition_ring::seal() has published it: any thread may then read
// it, and a reader keeps it alive past eviction by holding the shared_ptr. The views that at()
// returns live as long as the chunk.
class ring_chunk {
 public:
  // What one record costs besides its JSON bytes (its descriptor), as counted by bytes().
  static constexpr std::size_t record_overhead = 48;

  ring_chunk() = default;

  std::size_t size() const noexcept { return descriptors_.size(); }
  bool empty() const noexcept { return descriptors_.empty(); }
  // The i-th record, i < size().
  ring_record at(std::size_t i) const;
  std::uint64_t first_seq() const noexcept { return descriptors_.front().seq; }
  std::uint64_t last_seq() const noexcept { return descriptors_.back().seq; }
  std::int64_t first_offset() const noexcept { return descriptors_.front().offset; }
  std::int64_t last_offset() const noexcept { return descriptors_.back().offset; }
  // Descriptors + JSON bytes: what the ring's byte caps count.
  std::size_t bytes() const noexcept { return size() * record_overhead + json_.size(); }
  // The chunk's position in its ring, counted from 0 at the ring's creation: the ring's next
  // chunk after this one has number() + 1. Lets a reader index its own copy of the chunk list.
  std::uint64_t number() const noexcept { return number_; }
  // The hub clock passed to the seal() that published the chunk (-1 until then). The age
  // eviction goes by this clock, not by record timestamps (see partition_ring::evict).
  std::int64_t sealed_at_ms() const noexcept { return sealed_at_ms_; }

 private:
  friend class partition_ring;
  struct descriptor {
    std::uint64_t seq;
    std::int64_t offset;
    std::int64_t prev;
    std::int64_t timestamp;
    std::uint32_t json_begin;
    std::uint32_t json_size;
    std::uint8_t flags;
  };
  static_assert(sizeof(descriptor) == record_overhead);

  std::vector<descriptor> descriptors_;
  std::string json_;
  std::uint64_t number_ = 0;
  std::int64_t sealed_at_ms_ = -1;
  std::int64_t max_timestamp_ = -1;          // of its records, for find_time
  std::size_t log_append_time_records_ = 0;  // records with ring_flag::log_append_time
};

// A record's place in a ring: `chunk` pins the chunk, `index` < chunk->size().
struct ring_cursor {
  std::shared_ptr<const ring_chunk> chunk;
  std::size_t index = 0;

  ring_record record() const { return chunk->at(index); }
};

// Where a cursor of a ring was (a chunk number and an index into it), kept without pinning the
// chunk: partition_ring::find_from.
struct ring_place {
  bool kept = false;
  std::uint64_t chunk = 0;
  std::size_t index = 0;
};

enum class ring_lookup {
  found,          // cursor is the answer
  before_ring,    // the answer lies before base(): records there were never kept or evicted
  at_head,        // nothing to read now; the next record appended is the answer
  after_head,     // beyond the proven-empty frontier: wait, and skip records below the offset
  cannot_answer,  // find_time only: the ring cannot tell (ask the broker)
};

struct ring_find_result {
  ring_lookup status = ring_lookup::at_head;
  ring_cursor cursor;  // set only when status == found
};

enum class ring_step {
  record,   // the cursor moved to the next record
  end,      // no record after the cursor yet; the cursor did not move
  evicted,  // the next record's chunk was evicted: the reader was lapped (fanout.md §3.7)
};

// One topic-partition's ring, written by the hub.
//
// Thread contract: every member function is for the hub's thread only (no locking inside).
// Other threads only ever see chunks that seal() returned (and the ring_records and cursors
// into them); those are immutable. The hub appends a batch of records, then calls seal()
// once, which closes the chunk being filled and returns every chunk of the batch, to be posted
// to the shards with head(), base() and frontier(). Until seal(), the batch's chunks are
// visible to the hub itself (find, next, bytes, evict counts them) but must not leave the hub
// thread; a ring_record read from the chunk being filled is valid until the next append() or
// seal() (its JSON buffer may grow), and a cursor into it stays valid (it holds an index).
class partition_ring {
 public:
  static constexpr std::size_t default_chunk_bytes = std::size_t{64} << 10;

  // The chunk size for rings bounded by `max_bytes_per_partition` and a process-wide
  // `max_bytes` (fanout.ring.*, docs/api.md §11): at most a quarter of the smaller bound, so that
  // evicting whole chunks down to a bound still keeps the newest records (with 64 KiB chunks
  // and a 48 KiB bound, a large batch left a ring empty); default_chunk_bytes when the bounds
  // are large, 1 KiB at least.
  static std::size_t chunk_bytes_for(std::size_t max_bytes_per_partition,
                                     std::size_t max_bytes) noexcept;

  // An empty ring at `base` (the hub's start offset in the partition): head() == base() ==
  // frontier() == base. `chunk_bytes` (1 B .. 1 GiB, else std::invalid_argument) is the
  // size at which a chunk is closed and the next record starts a new one.
  explicit partition_ring(std::int64_t base, std::size_t chunk_bytes = default_chunk_bytes);
  // Not copyable: a copy would share the chunk being filled with the original.
  partition_ring(const partition_ring&) = delete;
  partition_ring& operator=(const partition_ring&) = delete;
  partition_ring(partition_ring&&) = default;
  partition_ring& operator=(partition_ring&&) = default;
  ~partition_ring() = default;

  // Appends a record with prev = head(), so R1 holds by construction. Returns false and stores
  // nothing when `offset` < frontier() (a duplicate, a reordering, or a record inside a range
  // the hub declared empty: the hub counts it as a ring break), when `seq` is not above the
  // last appended seq, or when `json` is longer than 2^32 - 1 bytes. An offset above head()
  // is a hole (compaction, control records, aborted transactions), allowed by R2.
  bool append(std::uint64_t seq, std::int64_t offset, std::int64_t timestamp, std::uint8_t flags,
              std::string_view json);

  // Publishes the batch: closes the chunk being filled, stamps every chunk appended since the
  // last seal() with `now_ms` (the hub's clock, e.g. steady_clock; only differences are used)
  // and appends them, oldest first, to `published`. Returns how many it appended.
  std::size_t seal(std::int64_t now_ms, std::vector<std::shared_ptr<const ring_chunk>>& published);

  // The offset after the last appended record (== base while nothing was appended).
  std::int64_t head() const noexcept { return head_; }
  // The prev of the first retained record; head() when no record is retained.
  std::int64_t base() const noexcept { return base_; }
  // The proven-empty frontier y >= head(): no deliverable record lies in [head(), y) (from the
  // hub consumer's partition EOF or position). Monotonic: a lower y is ignored. append()
  // raises it to offset + 1.
  std::int64_t frontier() const noexcept { return frontier_; }
  void frontier(std::int64_t y) noexcept;

  // Retained bytes (ring_chunk::bytes() summed), records and chunks, sealed or not.
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return records_; }
  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  // The i-th retained chunk, oldest first (i < chunk_count()).
  std::shared_ptr<const ring_chunk> chunk(std::size_t i) const { return chunks_.at(i); }

  // FIFO eviction of whole published chunks, while bytes() > max_bytes or the oldest chunk
  // was sealed more than max_age_ms before now_ms. Age is the hub's append clock (the seal
  // time, which follows the newest record of the chunk by at most one batch), not the record
  // timestamps: CreateTime is the producer's clock and may be -1 or anything, and records
  // read back at a warm start are old by timestamp but new to the ring. Chunks not yet
  // published are never evicted. base() becomes the prev of the first retained record.
  // Returns the bytes freed (a chunk a reader still holds is freed when the reader lets go).
  std::size_t evict(std::int64_t now_ms, std::size_t max_bytes, std::int64_t max_age_ms);
  // For the process-wide cap: the seal time of the oldest published chunk (none if no chunk is
  // published), so the hub can pick the ring whose oldest chunk is oldest, and the eviction of
  // that one chunk (returns the bytes freed, 0 if none is published).
  std::optional<std::int64_t> oldest_chunk_time() const noexcept;
  std::size_t evict_oldest_chunk();

  // Where a reader whose position is `offset` continues (fanout.md §3.3):
  //   offset < base()                  before_ring
  //   base() <= offset < head()        found: the first record with offset >= `offset`
  //                                    (inside a hole, that is the record after the hole)
  //   head() <= offset <= frontier()   at_head
  //   offset > frontier()              after_head
  ring_find_result find(std::int64_t offset) const;
  // find(offset) again for a reader that kept where its cursor was (ring_place, which pins
  // nothing): the cursor there, when this ring still holds that chunk and its record is the one
  // find(offset) returns (the first at or after `offset`: the record before it, in its chunk or
  // the chunk before, lies below `offset`, or it is the ring's first and `offset` >= base());
  // else find(offset). O(1) when the place still answers.
  ring_find_result find_from(std::int64_t offset, const ring_place& place) const;

  // Moves `cursor` (a cursor of this ring) to the next record, across chunks.
  ring_step next(ring_cursor& cursor) const;

  // The first record with timestamp >= ts_ms, when every retained record carries
  // ring_flag::log_append_time (monotonic, set by the broker) and ts_ms > the first record's
  // timestamp, so that no record before the ring can qualify: found, or at_head when no
  // retained record qualifies. Otherwise (CreateTime, an empty ring, ts_ms too old)
  // cannot_answer. Takes the first qualifying record in offset order, as the broker's
  // offsets_for_times does.
  ring_find_result find_time(std::int64_t ts_ms) const;

  // The first violated invariant, or "" when all hold: R1 over all retained records, the first
  // record's prev == base(), head() == last offset + 1 (or base() when empty), base() <=
  // head() <= frontier(), seq strictly increasing, and the byte and record counts. O(size());
  // for tests and debug builds.
  std::string check() const;

 private:
  std::size_t drop_front();

  std::size_t chunk_bytes_;
  std::int64_t base_;
  std::int64_t head_;
  std::int64_t frontier_;
  std::optional<std::uint64_t> last_seq_;
  std::deque<std::shared_ptr<ring_chunk>> chunks_;
  bool open_ = false;              // chunks_.back() is being filled
  std::uint64_t next_number_ = 0;  // number() of the next chunk created
  std::uint64_t unpublished_ = 0;  // number() of the first chunk seal() has not yet returned
  std::size_t bytes_ = 0;
  std::size_t records_ = 0;
  std::size_t log_append_time_records_ = 0;
};

// What one record costs a ring, or a catch-up reader's queue of ring records: its JSON and its
// descriptor (the share of ring_chunk::bytes()).
inline std::size_t ring_record_bytes(const ring_record& r) noexcept {
  return r.json.size() + ring_chunk::record_overhead;
}

// One step of a catch-up reader's partition read from `ring` (docs/api.md §11; the hub's
// thread, every chunk sealed): appends the cursors of the records from `next` on while `bytes`
// (each record's ring_record_bytes, added as it goes) is below `space`,
// moving `next` past each. False when the ring does not hold `next` (evicted, or a ring that
// started again after it): the partition must be read from Kafka from `next` on. By the ring's
// R1 and R2 the first record at or after `next` is the partition's next one, and those after it
// follow on without a hole (the design's Lemma A).
bool feed_from_ring(const partition_ring& ring, std::int64_t& next, std::size_t space,
                    std::size_t& bytes, std::vector<ring_cursor>& out);

// Whether a catch-up reader at `offset` may leave the partition to `ring` (docs/api.md §11): the
// ring holds every record from there and, once the rings fill up (`filling`: more than half a
// bound), a quarter of what it keeps lies before the offset, so that eviction does not pass it
// while the rest of the stream catches up.
inline bool holds_with_room(const partition_ring& ring, std::int64_t offset, bool filling) {
  return ring.find(offset).status != ring_lookup::before_ring &&
         (!filling || (offset - ring.base()) * 4 >= ring.head() - ring.base());
}

}  // namespace eventstreams

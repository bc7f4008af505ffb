// Tests of the partition ring (fanout.md §2.2, §3.3, §3.5, §3.8): chaining, holes, the
// frontier, lookups, iteration, eviction, pinning, and a randomised model comparison.
#include "eventstreams/partition_ring.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using eventstreams::partition_ring;
using eventstreams::ring_chunk;
using eventstreams::ring_cursor;
using eventstreams::ring_find_result;
using eventstreams::ring_lookup;
using eventstreams::ring_place;
using eventstreams::ring_record;
using eventstreams::ring_step;
namespace ring_flag = eventstreams::ring_flag;

using chunk_list = std::vector<std::shared_ptr<const ring_chunk>>;

constexpr std::size_t overhead = ring_chunk::record_overhead;

// A JSON value that names its offset, padded to `size` bytes when that is larger.
std::string json_for(std::int64_t offset, std::size_t size = 0) {
  std::string s = R"({"offset":)" + std::to_string(offset) + "}";
  const std::size_t padding = 7;  // ,"p":""
  if (s.size() + padding <= size) {
    s.insert(s.size() - 1, R"(,"p":")" + std::string(size - s.size() - padding, 'x') + "\"");
  }
  return s;
}

// A chunk size that holds exactly `n` records of json_for(offset) with offsets of `digits`
// digits.
std::size_t chunk_for(std::size_t n, std::size_t digits) {
  return n * (overhead + json_for(0).size() - 1 + digits);
}

// Appends records at `offsets` with seqs 1, 2, ... (after `first_seq` - 1), timestamps
// 1000 + offset, and json_for(offset). Every append must succeed.
void append_all(partition_ring& ring, const std::vector<std::int64_t>& offsets,
                std::uint64_t first_seq = 1, std::uint8_t flags = 0) {
  std::uint64_t seq = first_seq;
  for (const std::int64_t off : offsets) {
    ASSERT_TRUE(ring.append(seq++, off, 1000 + off, flags, json_for(off))) << off;
  }
}

// Every record from find(from) to the end.
std::vector<ring_record> read_from(const partition_ring& ring, std::int64_t from) {
  std::vector<ring_record> out;
  ring_find_result r = ring.find(from);
  if (r.status != ring_lookup::found) {
    return out;
  }
  out.push_back(r.cursor.record());
  while (ring.next(r.cursor) == ring_step::record) {
    out.push_back(r.cursor.record());
  }
  return out;
}

std::vector<std::int64_t> offsets_of(const std::vector<ring_record>& records) {
  std::vector<std::int64_t> out;
  for (const ring_record& r : records) {
    out.push_back(r.offset);
  }
  return out;
}

const char* name(ring_lookup s) {
  switch (s) {
    case ring_lookup::found:
      return "found";
    case ring_lookup::before_ring:
      return "before_ring";
    case ring_lookup::at_head:
      return "at_head";
    case ring_lookup::after_head:
      return "after_head";
    case ring_lookup::cannot_answer:
      return "cannot_answer";
  }
  return "?";
}

TEST(PartitionRing, EmptyRingStartsAtBase) {
  partition_ring ring(42);
  EXPECT_EQ(ring.base(), 42);
  EXPECT_EQ(ring.head(), 42);
  EXPECT_EQ(ring.frontier(), 42);
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.chunk_count(), 0u);
  EXPECT_FALSE(ring.oldest_chunk_time().has_value());
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, RejectsChunkSizesOutOfRange) {
  EXPECT_THROW(partition_ring(0, 0), std::invalid_argument);
  EXPECT_THROW(partition_ring(0, (std::size_t{1} << 30) + 1), std::invalid_argument);
  EXPECT_NO_THROW(partition_ring(0, 1));
}

TEST(PartitionRing, AppendChainsRecordsAndMovesHead) {
  struct row {
    std::int64_t offset;
    std::int64_t expected_prev;
  };
  // Starts at 10; 11 follows 10; 15 and 100 jump holes (compaction, control records).
  const std::vector<row> rows = {{10, 10}, {11, 11}, {15, 12}, {16, 16}, {100, 17}, {101, 101}};
  partition_ring ring(10);
  std::uint64_t seq = 7;
  std::size_t bytes = 0;
  for (const row& r : rows) {
    const std::string json = json_for(r.offset);
    ASSERT_TRUE(ring.append(seq, r.offset, 5, 0, json)) << r.offset;
    bytes += overhead + json.size();
    EXPECT_EQ(ring.head(), r.offset + 1);
    EXPECT_EQ(ring.base(), 10);
    EXPECT_EQ(ring.frontier(), r.offset + 1);
    EXPECT_EQ(ring.bytes(), bytes);
    const ring_find_result f = ring.find(r.offset);
    ASSERT_EQ(f.status, ring_lookup::found);
    const ring_record rec = f.cursor.record();
    EXPECT_EQ(rec.seq, seq);
    EXPECT_EQ(rec.offset, r.offset);
    EXPECT_EQ(rec.prev, r.expected_prev);
    EXPECT_EQ(rec.timestamp, 5);
    EXPECT_EQ(rec.json, json);
    EXPECT_EQ(ring.check(), "");
    seq += 3;
  }
  EXPECT_EQ(ring.size(), rows.size());
  EXPECT_EQ(offsets_of(read_from(ring, 10)), (std::vector<std::int64_t>{10, 11, 15, 16, 100, 101}));
}

TEST(PartitionRing, FirstRecordAfterAHoleAtTheStartChainsToBase) {
  partition_ring ring(0);
  append_all(ring, {5});
  const ring_record r = ring.find(0).cursor.record();
  EXPECT_EQ(r.offset, 5);
  EXPECT_EQ(r.prev, 0);
  EXPECT_EQ(ring.base(), 0);
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, RejectsOffsetsBelowHeadAndStoresNothing) {
  struct row {
    const char* what;
    std::uint64_t seq;
    std::int64_t offset;
  };
  const std::vector<row> rows = {
      {"duplicate of the last record", 10, 22},
      {"duplicate of an earlier record", 10, 20},
      {"inside the hole before the last record", 10, 21},
      {"below base", 10, 3},
      {"seq equal to the last seq", 2, 23},
      {"seq below the last seq", 1, 23},
  };
  for (const row& r : rows) {
    partition_ring ring(20);
    append_all(ring, {20, 22});  // seqs 1, 2; a hole at 21
    const std::size_t bytes = ring.bytes();
    EXPECT_FALSE(ring.append(r.seq, r.offset, 0, 0, "{}")) << r.what;
    EXPECT_EQ(ring.head(), 23) << r.what;
    EXPECT_EQ(ring.size(), 2u) << r.what;
    EXPECT_EQ(ring.bytes(), bytes) << r.what;
    EXPECT_EQ(offsets_of(read_from(ring, 20)), (std::vector<std::int64_t>{20, 22})) << r.what;
    EXPECT_EQ(ring.check(), "") << r.what;
    // The ring is still usable: the next record chains to head.
    ASSERT_TRUE(ring.append(11, 23, 0, 0, "{}")) << r.what;
    EXPECT_EQ(ring.find(23).cursor.record().prev, 23) << r.what;
  }
}

TEST(PartitionRing, FrontierIsMonotonicAndRaisedByAppend) {
  partition_ring ring(100);
  EXPECT_EQ(ring.frontier(), 100);
  ring.frontier(104);  // EOF past control records at 100..103
  EXPECT_EQ(ring.frontier(), 104);
  EXPECT_EQ(ring.head(), 100);
  ring.frontier(102);  // a stale, lower report is ignored
  EXPECT_EQ(ring.frontier(), 104);

  // A record inside the proven-empty range contradicts it: rejected like a reordering.
  EXPECT_FALSE(ring.append(1, 103, 0, 0, "{}"));
  EXPECT_EQ(ring.head(), 100);
  // A record at the frontier is accepted; its prev is head, not the frontier (R1).
  ASSERT_TRUE(ring.append(2, 104, 0, 0, "{}"));
  EXPECT_EQ(ring.head(), 105);
  EXPECT_EQ(ring.frontier(), 105);
  EXPECT_EQ(ring.find(100).cursor.record().prev, 100);
  // Append raises a lower frontier to offset + 1, a higher one stays.
  ring.frontier(200);
  ASSERT_TRUE(ring.append(3, 250, 0, 0, "{}"));
  EXPECT_EQ(ring.frontier(), 251);
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, FindInEveryCase) {
  struct row {
    std::int64_t x;
    ring_lookup status;
    std::int64_t offset;  // of the found record
  };
  // Records 100, 101, 105 (a hole at 102..104), 106, 110; head 111; frontier 115.
  const std::vector<row> rows = {
      {0, ring_lookup::before_ring, 0},   {99, ring_lookup::before_ring, 0},
      {100, ring_lookup::found, 100},     {101, ring_lookup::found, 101},
      {102, ring_lookup::found, 105},     {104, ring_lookup::found, 105},
      {105, ring_lookup::found, 105},     {106, ring_lookup::found, 106},
      {107, ring_lookup::found, 110},     {110, ring_lookup::found, 110},
      {111, ring_lookup::at_head, 0},     {113, ring_lookup::at_head, 0},
      {115, ring_lookup::at_head, 0},     {116, ring_lookup::after_head, 0},
      {1000, ring_lookup::after_head, 0},
  };
  // The same answers whatever the chunking: one record per chunk, two, all in one.
  for (const std::size_t chunk : {chunk_for(1, 3), chunk_for(2, 3), std::size_t{1} << 16}) {
    partition_ring ring(100, chunk);
    append_all(ring, {100, 101, 105, 106, 110});
    ring.frontier(115);
    for (const row& r : rows) {
      const ring_find_result f = ring.find(r.x);
      EXPECT_EQ(f.status, r.status) << "x " << r.x << " chunk " << chunk << ": " << name(f.status);
      if (r.status == ring_lookup::found && f.status == ring_lookup::found) {
        EXPECT_EQ(f.cursor.record().offset, r.offset) << "x " << r.x << " chunk " << chunk;
        EXPECT_EQ(f.cursor.record().json, json_for(r.offset));
      } else {
        EXPECT_EQ(f.cursor.chunk, nullptr);
      }
    }
  }
}

TEST(PartitionRing, FindOnAnEmptyRing) {
  partition_ring ring(50);
  EXPECT_EQ(ring.find(49).status, ring_lookup::before_ring);
  EXPECT_EQ(ring.find(50).status, ring_lookup::at_head);
  EXPECT_EQ(ring.find(51).status, ring_lookup::after_head);
  ring.frontier(60);  // after a transaction marker: 51..60 are at head
  EXPECT_EQ(ring.find(51).status, ring_lookup::at_head);
  EXPECT_EQ(ring.find(60).status, ring_lookup::at_head);
  EXPECT_EQ(ring.find(61).status, ring_lookup::after_head);
}

TEST(PartitionRing, IteratesAcrossChunkBoundaries) {
  partition_ring ring(10, chunk_for(3, 2));
  append_all(ring, {10, 11, 12, 13, 15, 16, 17, 18, 19, 20});
  ASSERT_EQ(ring.chunk_count(), 4u);  // 3 + 3 + 3 + 1
  for (std::size_t i = 0; i < ring.chunk_count(); ++i) {
    EXPECT_EQ(ring.chunk(i)->number(), i);
    EXPECT_EQ(ring.chunk(i)->size(), i < 3 ? 3u : 1u);
  }
  EXPECT_EQ(ring.chunk(1)->first_offset(), 13);
  EXPECT_EQ(ring.chunk(1)->last_offset(), 16);
  EXPECT_EQ(ring.chunk(1)->first_seq(), 4u);
  EXPECT_EQ(ring.chunk(1)->last_seq(), 6u);

  const std::vector<ring_record> all = read_from(ring, 10);
  EXPECT_EQ(offsets_of(all), (std::vector<std::int64_t>{10, 11, 12, 13, 15, 16, 17, 18, 19, 20}));
  std::int64_t prev = 10;
  for (const ring_record& r : all) {
    EXPECT_EQ(r.prev, prev);
    EXPECT_EQ(r.json, json_for(r.offset));
    prev = r.offset + 1;
  }
  // From the middle of a chunk, through a chunk boundary.
  EXPECT_EQ(offsets_of(read_from(ring, 14)), (std::vector<std::int64_t>{15, 16, 17, 18, 19, 20}));

  // At the end the cursor stays put, and moves on when more records arrive, in the same
  // chunk and then in a new one.
  ring_cursor c = ring.find(20).cursor;
  EXPECT_EQ(ring.next(c), ring_step::end);
  EXPECT_EQ(c.record().offset, 20);
  append_all(ring, {21, 22, 23}, 11);
  ASSERT_EQ(ring.next(c), ring_step::record);
  EXPECT_EQ(c.record().offset, 21);
  ASSERT_EQ(ring.next(c), ring_step::record);
  EXPECT_EQ(c.record().offset, 22);
  ASSERT_EQ(ring.next(c), ring_step::record);
  EXPECT_EQ(c.record().offset, 23);
  EXPECT_EQ(c.chunk->number(), 4u);
  EXPECT_EQ(ring.next(c), ring_step::end);
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, RecordLargerThanAChunkGetsItsOwnChunk) {
  partition_ring ring(0, 256);
  const std::string big = json_for(1, 1000);
  ASSERT_EQ(big.size(), 1000u);
  ASSERT_TRUE(ring.append(1, 0, -1, 0, json_for(0)));
  ASSERT_TRUE(ring.append(2, 1, -1, 0, big));
  ASSERT_TRUE(ring.append(3, 2, -1, 0, json_for(2)));
  ASSERT_TRUE(ring.append(4, 3, -1, 0, json_for(3)));
  ASSERT_EQ(ring.chunk_count(), 3u);
  EXPECT_EQ(ring.chunk(0)->size(), 1u);
  EXPECT_EQ(ring.chunk(1)->size(), 1u);
  EXPECT_EQ(ring.chunk(1)->bytes(), overhead + 1000);
  EXPECT_EQ(ring.chunk(2)->size(), 2u);
  const std::vector<ring_record> all = read_from(ring, 0);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[1].json, big);
  EXPECT_EQ(all[2].json, json_for(2));
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, NotJsonRecordsKeepTheirPlace) {
  partition_ring ring(0);
  ASSERT_TRUE(ring.append(1, 0, 7, ring_flag::not_json, ""));
  ASSERT_TRUE(ring.append(2, 1, 8, ring_flag::canary, "{}"));
  const std::vector<ring_record> all = read_from(ring, 0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].flags, ring_flag::not_json);
  EXPECT_TRUE(all[0].json.empty());
  EXPECT_EQ(all[1].flags, ring_flag::canary);
  EXPECT_EQ(all[1].prev, 1);
  EXPECT_EQ(ring.bytes(), 2 * overhead + 2);
}

TEST(PartitionRing, SealPublishesTheBatchOnce) {
  partition_ring ring(0, chunk_for(2, 1));
  chunk_list published;
  EXPECT_EQ(ring.seal(5, published), 0u);  // nothing appended
  EXPECT_TRUE(published.empty());

  append_all(ring, {0, 1, 2, 3, 4});  // a batch of three chunks: 2 + 2 + 1
  EXPECT_FALSE(ring.oldest_chunk_time().has_value());
  EXPECT_EQ(ring.chunk(0)->sealed_at_ms(), -1);
  EXPECT_EQ(ring.seal(10, published), 3u);
  ASSERT_EQ(published.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(published[i], ring.chunk(i));
    EXPECT_EQ(published[i]->sealed_at_ms(), 10);
  }
  EXPECT_EQ(ring.oldest_chunk_time(), 10);
  EXPECT_EQ(ring.seal(11, published), 0u);  // nothing new
  EXPECT_EQ(published.size(), 3u);

  // The last chunk had room, but it is published, hence immutable: the next batch starts a
  // new chunk.
  append_all(ring, {5}, 6);
  ASSERT_EQ(ring.chunk_count(), 4u);
  EXPECT_EQ(published[2]->size(), 1u);
  EXPECT_EQ(ring.seal(20, published), 1u);
  ASSERT_EQ(published.size(), 4u);
  EXPECT_EQ(published[3]->first_offset(), 5);
  EXPECT_EQ(published[3]->sealed_at_ms(), 20);
  EXPECT_EQ(published[2]->sealed_at_ms(), 10);
  EXPECT_EQ(ring.check(), "");
}

// Ten records at offsets 10, 13, ..., 37 (holes of two), in five chunks of two published at
// times 0, 100, 200, 300, 400. The chunks start at 10, 16, 22, 28, 34 (prevs 10, 14, 20, 26,
// 32); head is 38.
partition_ring five_chunks(chunk_list& published) {
  partition_ring ring(10, chunk_for(2, 2));
  std::uint64_t seq = 1;
  for (std::int64_t batch = 0; batch < 5; ++batch) {
    for (std::int64_t i = 0; i < 2; ++i) {
      const std::int64_t off = 10 + 3 * (2 * batch + i);
      EXPECT_TRUE(ring.append(seq++, off, off, 0, json_for(off)));
    }
    ring.seal(100 * batch, published);
  }
  return ring;
}

TEST(PartitionRing, ChunkSizeIsAQuarterOfTheSmallerBoundWithinLimits) {
  constexpr std::size_t KiB = 1024;
  EXPECT_EQ(partition_ring::chunk_bytes_for(32 * KiB * KiB, 512 * KiB * KiB),
            partition_ring::default_chunk_bytes);
  EXPECT_EQ(partition_ring::chunk_bytes_for(48 * KiB, 64 * KiB), 12 * KiB);
  EXPECT_EQ(partition_ring::chunk_bytes_for(1024 * KiB, 40 * KiB), 10 * KiB);
  EXPECT_EQ(partition_ring::chunk_bytes_for(2 * KiB, 64 * KiB), 1 * KiB);
}

// Whatever the size of the batches the hub appends (a slow hub drains up to 512 records at
// once), a ring built with chunk_bytes_for(bounds) and evicted down to its bound after each
// batch keeps its newest records: never empty, never over the bound, at least half of it full
// once that much was appended. With 64 KiB chunks and a 48 KiB bound a batch ending in a full
// chunk left the ring empty (seen once in the suite under ASan).
TEST(PartitionRing, EvictionToTheBoundKeepsTheNewestRecordsWhateverTheBatchSize) {
  constexpr std::size_t bound = 48 * 1024;
  partition_ring ring(0, partition_ring::chunk_bytes_for(bound, 64 * 1024));
  const std::string record(1000, 'r');  // 1 KB events, as in the integration test
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> batch_size(1, 600);
  chunk_list published;
  std::int64_t offset = 0;
  std::uint64_t seq = 0;
  std::size_t appended = 0;
  for (int batch = 0; batch < 300; ++batch) {
    const int n = batch % 10 == 0 ? 512 : batch_size(rng);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(ring.append(++seq, offset++, -1, 0, record));
      appended += ring_chunk::record_overhead + record.size();
    }
    ring.seal(batch, published);
    ring.evict(batch, bound, 1'000'000);
    SCOPED_TRACE("batch " + std::to_string(batch) + " of " + std::to_string(n) + " records");
    ASSERT_LE(ring.bytes(), bound);
    ASSERT_GE(ring.bytes(), std::min(appended, bound / 2));
    ASSERT_EQ(ring.find(offset - 1).status, ring_lookup::found);
  }
}

TEST(PartitionRing, EvictsByBytesOldestChunkFirst) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  ASSERT_EQ(ring.chunk_count(), 5u);
  const std::size_t chunk_bytes = ring.chunk(0)->bytes();
  const std::size_t total = ring.bytes();
  EXPECT_EQ(total, 5 * chunk_bytes);
  EXPECT_EQ(ring.evict(400, total, 1000), 0u);  // at the cap: nothing
  EXPECT_EQ(ring.base(), 10);

  // One byte over the cap drops a whole chunk; base moves to the prev of record 16.
  EXPECT_EQ(ring.evict(400, total - 1, 1000), chunk_bytes);
  EXPECT_EQ(ring.bytes(), 4 * chunk_bytes);
  EXPECT_EQ(ring.chunk_count(), 4u);
  EXPECT_EQ(ring.chunk(0)->first_offset(), 16);
  EXPECT_EQ(ring.base(), 14);
  EXPECT_EQ(ring.find(13).status, ring_lookup::before_ring);
  EXPECT_EQ(ring.find(14).cursor.record().offset, 16);

  EXPECT_EQ(ring.evict(400, 2 * chunk_bytes, 1000), 2 * chunk_bytes);
  EXPECT_EQ(ring.base(), 26);
  EXPECT_EQ(offsets_of(read_from(ring, ring.base())), (std::vector<std::int64_t>{28, 31, 34, 37}));
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, FindFromAKeptPlaceAnswersWhatFindAnswers) {
  // Records 10, 13, ..., 37, two per chunk (chunks 0..4). A place is a chunk number and an
  // index: find_from uses it only where it names the record find() returns.
  chunk_list published;
  partition_ring ring = five_chunks(published);
  auto same = [&](std::int64_t offset, const ring_place& place) {
    const auto kept = ring.find_from(offset, place);
    const auto searched = ring.find(offset);
    const std::string where = std::to_string(offset) + " at " + std::to_string(place.chunk) + "/" +
                              std::to_string(place.index);
    EXPECT_EQ(kept.status, searched.status) << where;
    EXPECT_EQ(kept.cursor.chunk, searched.cursor.chunk) << where;
    EXPECT_EQ(kept.cursor.index, searched.cursor.index) << where;
    return kept;
  };
  // Every place of the ring (and some it never had), for every position from 0 to 40.
  for (std::int64_t offset = 0; offset <= 40; ++offset) {
    for (std::uint64_t chunk = 0; chunk <= 6; ++chunk) {
      for (std::size_t index = 0; index <= 2; ++index)
        same(offset, {true, chunk, index});
    }
    same(offset, {});  // no place kept
  }
  // The places that answer, each for the positions after the record before it: 16 (chunk 1,
  // index 0) for 14..16, after 13 in the chunk before; 10, the ring's first, for 10 (the base).
  for (std::int64_t offset = 14; offset <= 16; ++offset)
    EXPECT_EQ(ring.find_from(offset, {true, 1, 0}).cursor.record().offset, 16);
  EXPECT_EQ(ring.find_from(10, {true, 0, 0}).cursor.record().offset, 10);
  // Evicted: chunk 0 is gone, its places answer nothing, and 16 is now the ring's first record.
  ASSERT_GT(ring.evict(400, ring.bytes() - 1, 1000), 0u);
  EXPECT_EQ(same(13, {true, 0, 1}).status, ring_lookup::before_ring);
  for (std::int64_t offset = 0; offset <= 40; ++offset) {
    same(offset, {true, 0, 1});
    same(offset, {true, 1, 0});
    same(offset, {true, 1, 1});
  }
  // A ring started again (a ring break) with chunks numbered as before: the old ring's places are
  // checked against the new ring's records.
  partition_ring again(100, chunk_for(2, 3));
  append_all(again, {100, 102, 104, 106});
  for (std::int64_t offset = 99; offset <= 108; ++offset) {
    for (std::size_t index = 0; index <= 1; ++index) {
      const auto kept = again.find_from(offset, {true, 0, index});
      const auto searched = again.find(offset);
      EXPECT_EQ(kept.status, searched.status) << offset;
      EXPECT_EQ(kept.cursor.index, searched.cursor.index) << offset;
      EXPECT_EQ(kept.cursor.chunk, searched.cursor.chunk) << offset;
    }
  }
}

TEST(PartitionRing, EvictsByAgeOfTheSealClock) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  const std::size_t chunk_bytes = ring.chunk(0)->bytes();
  // At 450 with max age 200, the chunks sealed at 0, 100 and 200 (age 250) go; the one sealed
  // at 300 (age 150) stays.
  EXPECT_EQ(ring.evict(450, ring.bytes(), 200), 3 * chunk_bytes);
  EXPECT_EQ(ring.oldest_chunk_time(), 300);
  EXPECT_EQ(ring.chunk(0)->first_offset(), 28);
  EXPECT_EQ(ring.base(), 26);
  // Exactly max_age old is not older than max_age.
  EXPECT_EQ(ring.evict(500, ring.bytes(), 200), 0u);
  EXPECT_EQ(ring.evict(501, ring.bytes(), 200), chunk_bytes);
  EXPECT_EQ(ring.base(), 32);
  // Record timestamps play no part: these records carry timestamps 10..37, "ancient" (1970).
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, EvictingEverythingLeavesBaseAtHead) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  ring.evict(10000, 0, 0);
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.base(), 38);
  EXPECT_EQ(ring.head(), 38);
  EXPECT_EQ(ring.find(37).status, ring_lookup::before_ring);
  EXPECT_EQ(ring.find(38).status, ring_lookup::at_head);
  EXPECT_EQ(ring.check(), "");
  // The ring goes on from head.
  ASSERT_TRUE(ring.append(100, 40, 0, 0, "{}"));
  EXPECT_EQ(ring.base(), 38);
  EXPECT_EQ(ring.find(38).cursor.record().prev, 38);
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, UnpublishedChunksAreNeverEvicted) {
  partition_ring ring(0, chunk_for(1, 1));
  append_all(ring, {0, 1, 2});
  EXPECT_EQ(ring.evict(1000, 0, 0), 0u);
  EXPECT_EQ(ring.evict_oldest_chunk(), 0u);
  EXPECT_EQ(ring.size(), 3u);
  chunk_list published;
  ring.seal(0, published);
  append_all(ring, {3}, 4);  // the next batch, not yet sealed
  const std::size_t one_chunk = ring.chunk(0)->bytes();
  EXPECT_EQ(ring.evict(1000, 0, 0), 3 * one_chunk);
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring.base(), 3);
  EXPECT_FALSE(ring.oldest_chunk_time().has_value());
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, EvictOldestChunkForTheProcessCap) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  const std::size_t chunk_bytes = ring.chunk(0)->bytes();
  EXPECT_EQ(ring.oldest_chunk_time(), 0);
  EXPECT_EQ(ring.evict_oldest_chunk(), chunk_bytes);
  EXPECT_EQ(ring.oldest_chunk_time(), 100);
  EXPECT_EQ(ring.base(), 14);
  EXPECT_EQ(ring.chunk_count(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ring.evict_oldest_chunk(), chunk_bytes);
  }
  EXPECT_EQ(ring.evict_oldest_chunk(), 0u);
  EXPECT_FALSE(ring.oldest_chunk_time().has_value());
  EXPECT_EQ(ring.base(), ring.head());
  EXPECT_EQ(ring.check(), "");
}

TEST(PartitionRing, PinnedChunkOutlivesEvictionUntilReleased) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  std::shared_ptr<const ring_chunk> reader = ring.find(10).cursor.chunk;  // a shard's pin
  const std::weak_ptr<const ring_chunk> watch = reader;
  published.clear();                 // the hub's copy of the posted batch is gone
  EXPECT_EQ(reader.use_count(), 2);  // the ring and the reader

  ring.evict_oldest_chunk();
  EXPECT_EQ(ring.base(), 14);
  EXPECT_EQ(reader.use_count(), 1);  // only the reader
  ASSERT_EQ(reader->size(), 2u);
  EXPECT_EQ(reader->at(0).offset, 10);
  EXPECT_EQ(reader->at(1).offset, 13);
  EXPECT_EQ(reader->at(1).json, json_for(13));
  EXPECT_EQ(reader->at(1).prev, 11);

  // A cursor on the evicted chunk pins it too, and still continues into the next chunk.
  ring_cursor on_evicted{reader, 1};
  ring_cursor c = on_evicted;
  ASSERT_EQ(ring.next(c), ring_step::record);
  EXPECT_EQ(c.record().offset, 16);  // c left chunk 0

  reader.reset();
  EXPECT_FALSE(watch.expired());  // on_evicted still pins it
  EXPECT_EQ(on_evicted.record().json, json_for(13));
  on_evicted = {};
  EXPECT_TRUE(watch.expired());  // the last reader let go: freed
}

TEST(PartitionRing, CursorLappedByEvictionIsReported) {
  chunk_list published;
  partition_ring ring = five_chunks(published);
  ring_cursor c = ring.find(13).cursor;  // last record of chunk 0
  ring.evict_oldest_chunk();
  ring.evict_oldest_chunk();  // chunk 1, the one after the cursor, is gone too
  EXPECT_EQ(ring.next(c), ring_step::evicted);
  EXPECT_EQ(c.record().offset, 13);  // unchanged
  ring.evict(10000, 0, 0);
  EXPECT_EQ(ring.next(c), ring_step::evicted);
}

TEST(PartitionRing, FindTimeWithLogAppendTime) {
  struct row {
    std::int64_t ts;
    ring_lookup status;
    std::int64_t offset;
  };
  // Records at offsets 0, 2, 3, 5, 6 with LogAppendTime 1000, 1000, 1005, 1010, 1010.
  const std::vector<row> rows = {
      {0, ring_lookup::cannot_answer, 0}, {1000, ring_lookup::cannot_answer, 0},
      {1001, ring_lookup::found, 3},      {1005, ring_lookup::found, 3},
      {1006, ring_lookup::found, 5},      {1010, ring_lookup::found, 5},
      {1011, ring_lookup::at_head, 0},    {99999, ring_lookup::at_head, 0},
  };
  partition_ring ring(0, chunk_for(2, 1));
  const std::vector<std::pair<std::int64_t, std::int64_t>> records = {
      {0, 1000}, {2, 1000}, {3, 1005}, {5, 1010}, {6, 1010}};
  std::uint64_t seq = 1;
  for (const auto& [off, ts] : records) {
    ASSERT_TRUE(ring.append(seq++, off, ts, ring_flag::log_append_time, json_for(off)));
  }
  for (const row& r : rows) {
    const ring_find_result f = ring.find_time(r.ts);
    EXPECT_EQ(f.status, r.status) << "ts " << r.ts << ": " << name(f.status);
    if (r.status == ring_lookup::found && f.status == ring_lookup::found) {
      EXPECT_EQ(f.cursor.record().offset, r.offset) << "ts " << r.ts;
    }
  }
}

TEST(PartitionRing, FindTimeCannotAnswerWithoutLogAppendTime) {
  partition_ring empty(0);
  EXPECT_EQ(empty.find_time(5).status, ring_lookup::cannot_answer);

  // CreateTime everywhere.
  partition_ring create_time(0);
  append_all(create_time, {0, 1, 2});  // timestamps 1000..1002
  EXPECT_EQ(create_time.find_time(1001).status, ring_lookup::cannot_answer);

  // One CreateTime record among LogAppendTime ones, until it is evicted.
  partition_ring mixed(0, chunk_for(1, 1));
  ASSERT_TRUE(mixed.append(1, 0, 1000, 0, json_for(0)));
  ASSERT_TRUE(mixed.append(2, 1, 1001, ring_flag::log_append_time, json_for(1)));
  ASSERT_TRUE(mixed.append(3, 2, 1002, ring_flag::log_append_time, json_for(2)));
  EXPECT_EQ(mixed.find_time(1002).status, ring_lookup::cannot_answer);
  chunk_list published;
  mixed.seal(0, published);
  mixed.evict_oldest_chunk();
  const ring_find_result f = mixed.find_time(1002);
  ASSERT_EQ(f.status, ring_lookup::found);
  EXPECT_EQ(f.cursor.record().offset, 2);
  // Now the first record (1001) bounds what the ring can answer.
  EXPECT_EQ(mixed.find_time(1001).status, ring_lookup::cannot_answer);
}

// The model of the randomised test: what was appended, minus what the ring says it evicted.
struct model_record {
  std::uint64_t seq;
  std::int64_t offset;
  std::int64_t prev;
  std::int64_t timestamp;
  std::uint8_t flags;
  std::string json;
};

struct pinned {
  std::shared_ptr<const ring_chunk> chunk;
  std::vector<model_record> records;
};

void expect_matches_model(const partition_ring& ring, const std::deque<model_record>& model,
                          std::int64_t head, std::size_t bytes, const std::string& where) {
  ASSERT_EQ(ring.check(), "") << where;
  ASSERT_EQ(ring.head(), head) << where;
  ASSERT_EQ(ring.bytes(), bytes) << where;
  ASSERT_EQ(ring.size(), model.size()) << where;
  ASSERT_EQ(ring.base(), model.empty() ? head : model.front().prev) << where;
  const ring_find_result f = ring.find(ring.base());
  if (model.empty()) {
    ASSERT_EQ(f.status, ring_lookup::at_head) << where;
    return;
  }
  ASSERT_EQ(f.status, ring_lookup::found) << where;
  ring_cursor c = f.cursor;
  std::int64_t prev = ring.base();
  for (std::size_t i = 0; i < model.size(); ++i) {
    if (i > 0) {
      ASSERT_EQ(ring.next(c), ring_step::record) << where << " record " << i;
    }
    const ring_record r = c.record();
    const model_record& m = model[i];
    ASSERT_EQ(r.prev, prev) << where << " R1 at record " << i;
    ASSERT_EQ(r.seq, m.seq) << where;
    ASSERT_EQ(r.offset, m.offset) << where;
    ASSERT_EQ(r.prev, m.prev) << where;
    ASSERT_EQ(r.timestamp, m.timestamp) << where;
    ASSERT_EQ(r.flags, m.flags) << where;
    ASSERT_EQ(r.json, m.json) << where;
    prev = r.offset + 1;
  }
  ASSERT_EQ(ring.next(c), ring_step::end) << where;
  ASSERT_EQ(prev, head) << where;
}

TEST(PartitionRing, RandomisedAgainstAModel) {
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&rng](std::int64_t lo, std::int64_t hi) {
      return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };
    const std::int64_t start = pick(0, 1000);
    const auto chunk = static_cast<std::size_t>(pick(64, 2048));
    partition_ring ring(start, chunk);
    std::deque<model_record> model;
    std::vector<pinned> pins;
    std::int64_t head = start;
    std::int64_t frontier = start;
    std::uint64_t seq = 0;
    std::size_t bytes = 0;
    std::int64_t now = 0;
    std::size_t evicted_records = 0;
    for (int step = 0; step < 300; ++step) {
      const std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      const std::int64_t action = pick(0, 99);
      if (action < 55) {
        // Mostly consecutive, sometimes a hole, rarely a big one.
        const std::int64_t hole = pick(0, 9) < 7 ? 0 : (pick(0, 9) < 9 ? pick(1, 5) : 50);
        const std::int64_t off = frontier + hole;
        seq += static_cast<std::uint64_t>(pick(1, 3));
        const std::uint8_t flags = static_cast<std::uint8_t>(pick(0, 7));
        const std::size_t size = pick(0, 19) == 0 ? static_cast<std::size_t>(pick(1000, 3000))
                                                  : static_cast<std::size_t>(pick(0, 200));
        const std::string json = (flags & ring_flag::not_json) != 0 ? "" : json_for(off, size);
        const std::int64_t ts = pick(0, 4) == 0 ? -1 : pick(0, 1'000'000);
        ASSERT_TRUE(ring.append(seq, off, ts, flags, json)) << where;
        model.push_back({seq, off, head, ts, flags, json});
        head = off + 1;
        frontier = head;
        bytes += overhead + json.size();
      } else if (action < 62) {
        // Rejected: an offset below the frontier, or a seq not above the last.
        const bool bad_seq = seq > 0 && pick(0, 1) == 0;
        const std::int64_t off = bad_seq ? frontier : frontier - pick(1, 10);
        const std::uint64_t s = bad_seq ? seq - static_cast<std::uint64_t>(pick(0, 1)) : seq + 1;
        ASSERT_FALSE(ring.append(s, off, 0, 0, "{}")) << where;
      } else if (action < 70) {
        const std::int64_t y = pick(0, 3) == 0 ? frontier - pick(0, 3) : frontier + pick(0, 4);
        ring.frontier(y);
        frontier = std::max(frontier, y);
        ASSERT_EQ(ring.frontier(), frontier) << where;
      } else if (action < 85) {
        now += pick(0, 50);
        chunk_list published;
        ring.seal(now, published);
        if (!published.empty() && pick(0, 2) == 0) {
          const auto& c = published[static_cast<std::size_t>(
              pick(0, static_cast<std::int64_t>(published.size()) - 1))];
          pinned p{c, {}};
          for (const model_record& m : model) {
            if (m.seq >= c->first_seq() && m.seq <= c->last_seq()) {
              p.records.push_back(m);
            }
          }
          pins.push_back(std::move(p));
        }
      } else {
        const std::size_t before = ring.bytes();
        const std::int64_t base_before = ring.base();
        std::size_t freed = 0;
        if (action < 93) {
          const auto cap = static_cast<std::size_t>(pick(0, 3 * static_cast<std::int64_t>(chunk)));
          const std::int64_t age = pick(0, 200);
          freed = ring.evict(now, cap, age);
          // Stopped at a chunk within both limits, or at an unpublished one.
          if (ring.oldest_chunk_time()) {
            ASSERT_LE(ring.bytes(), cap) << where;
            ASSERT_LE(now - *ring.oldest_chunk_time(), age) << where;
          }
        } else {
          const std::optional<std::int64_t> oldest = ring.oldest_chunk_time();
          freed = ring.evict_oldest_chunk();
          ASSERT_EQ(freed > 0, oldest.has_value()) << where;
        }
        ASSERT_EQ(freed, before - ring.bytes()) << where;
        ASSERT_GE(ring.base(), base_before) << where;
        std::size_t dropped_bytes = 0;
        while (!model.empty() && model.front().offset < ring.base()) {
          dropped_bytes += overhead + model.front().json.size();
          model.pop_front();
          ++evicted_records;
        }
        ASSERT_EQ(freed, dropped_bytes) << where;
        bytes -= dropped_bytes;
      }
      ASSERT_NO_FATAL_FAILURE(expect_matches_model(ring, model, head, bytes, where));
      ASSERT_EQ(ring.frontier(), frontier) << where;

      // A few lookups against the model.
      for (int k = 0; k < 4; ++k) {
        const std::int64_t x = pick(ring.base() - 3, frontier + 3);
        const ring_find_result f = ring.find(x);
        if (x < ring.base()) {
          ASSERT_EQ(f.status, ring_lookup::before_ring) << where << " x " << x;
        } else if (x >= head) {
          ASSERT_EQ(f.status, x <= frontier ? ring_lookup::at_head : ring_lookup::after_head)
              << where << " x " << x;
        } else {
          ASSERT_EQ(f.status, ring_lookup::found) << where << " x " << x;
          const model_record* expected = nullptr;
          for (const model_record& m : model) {
            if (m.offset >= x) {
              expected = &m;
              break;
            }
          }
          ASSERT_NE(expected, nullptr) << where;
          ASSERT_EQ(f.cursor.record().seq, expected->seq) << where << " x " << x;
          ASSERT_LE(f.cursor.record().prev, x) << where << " guard of fanout.md §3.3";
        }
      }
      // Pinned chunks read the same, evicted or not.
      for (const pinned& p : pins) {
        ASSERT_EQ(p.chunk->size(), p.records.size()) << where;
        for (std::size_t i = 0; i < p.records.size(); ++i) {
          ASSERT_EQ(p.chunk->at(i).offset, p.records[i].offset) << where;
          ASSERT_EQ(p.chunk->at(i).json, p.records[i].json) << where;
        }
      }
      if (pins.size() > 4) {
        const std::weak_ptr<const ring_chunk> watch = pins.front().chunk;
        const bool retained =
            ring.chunk_count() > 0 && pins.front().chunk->number() >= ring.chunk(0)->number();
        pins.erase(pins.begin());
        bool pinned_elsewhere = false;
        for (const pinned& p : pins) {
          pinned_elsewhere = pinned_elsewhere || p.chunk == watch.lock();
        }
        ASSERT_EQ(watch.expired(), !retained && !pinned_elsewhere) << where;
      }
    }
    // The test exercised what it claims to.
    EXPECT_GT(evicted_records, 0u) << "seed " << seed;
  }
}

}  // namespace

// The shared mode's cohort against the per-connection encoder (docs/api.md §11): for the same
// records in the same order, what a cohort publishes is, byte for byte, what one connection's
// stream_format writes; a merge hands members over at equal positions; the chain frees itself.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "eventstreams/cohort.hpp"
#include "eventstreams/event_encoder.hpp"

namespace eventstreams {
namespace {

struct rec {
  std::size_t index;
  std::string topic;
  std::int32_t partition;
  std::int64_t offset;
  std::int64_t timestamp;
  std::string value;
};

std::vector<partition_position> start_positions(std::mt19937& rng) {
  std::vector<partition_position> out;
  const int topics = 1 + static_cast<int>(rng() % 2);
  for (int t = 0; t < topics; ++t) {
    const int parts = 1 + static_cast<int>(rng() % 3);
    for (int p = 0; p < parts; ++p)
      out.push_back(
          {t ? "codfw.rc" : "eqiad.rc", p, static_cast<std::int64_t>(rng() % 50), std::nullopt});
  }
  return out;
}

// Records in a random delivery order: per partition ascending offsets with holes (compaction,
// transaction markers); values are events, canaries or not JSON.
std::vector<rec> random_records(std::mt19937& rng, const std::vector<partition_position>& start,
                                int count) {
  std::vector<std::int64_t> next;
  for (const auto& p : start)
    next.push_back(p.next_offset);
  std::vector<rec> out;
  for (int n = 0; n < count; ++n) {
    auto i = rng() % start.size();
    auto offset = next[i] + static_cast<std::int64_t>(rng() % 4 == 0 ? rng() % 5 : 0);
    next[i] = offset + 1;
    std::string value;
    switch (rng() % 8) {
      case 0:
        value = "not json";
        break;
      case 1:
        value = R"({"meta":{"domain":"canary"},"n":)" + std::to_string(n) + "}";
        break;
      default:
        value = R"({"meta":{"domain":"x.org","topic":"t"},"n":)" + std::to_string(n) +
                R"(,"s":"line\nbreak é"})";
    }
    auto ts = rng() % 5 == 0 ? -1 : 1700000000000 + n;
    out.push_back({i, start[i].topic, start[i].partition, offset, ts, value});
  }
  return out;
}

// The record as a per-connection consumer hands it to its stream_format.
source_record as_source(const rec& r) {
  source_record s;
  s.index = r.index;
  s.topic = r.topic;
  s.partition = r.partition;
  s.offset = r.offset;
  s.timestamp = r.timestamp;
  s.value = r.value;
  return s;
}

// One splice per record, as the hub does, then the cohort's step.
spliced_record splice_once(const rec& r, std::string& buf) {
  buf.clear();
  spliced_record s;
  s.index = r.index;
  s.offset = r.offset;
  s.timestamp = r.timestamp;
  s.json =
      splice_meta(r.value, r.topic, r.partition, r.offset, buf, &s.canary) == splice_result::ok;
  s.data = buf;
  return s;
}

// The HTTP/1.1 chunk framing removed (each chunk "<hex>\r\n<body>\r\n").
std::string dechunk(std::string_view framed) {
  std::string out;
  while (!framed.empty()) {
    auto eol = framed.find("\r\n");
    auto size = std::stoul(std::string(framed.substr(0, eol)), nullptr, 16);
    out += framed.substr(eol + 2, size);
    framed.remove_prefix(eol + 2 + size + 2);
  }
  return out;
}

TEST(Cohort, PublishesWhatTheConnectionEncoderWritesForTheSameRecords) {
  for (unsigned seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto start = start_positions(rng);
    auto records = random_records(rng, start, 200);
    const auto f = seed % 3 == 0 ? framing::ndjson : framing::sse;
    const bool chunked = seed % 2 == 0;
    std::vector<bool> pass(start.size());
    for (std::size_t i = 0; i < pass.size(); ++i)
      pass[i] = (seed + i) % 2 == 0;

    // The per-connection stream: each record through stream_format, as a session does.
    stream_format connection(f, position_vector(start), pass);
    std::string expected;
    for (const auto& r : records) {
      connection.record(as_source(r), expected);
    }

    // The cohort: the same records in batches of random sizes, each published as one chunk.
    cohort c(seed, f, chunked, position_vector(start), pass);
    auto first = c.tail();
    std::string buf;
    std::size_t i = 0;
    while (i < records.size()) {
      auto batch = 1 + rng() % 20;
      for (std::size_t k = 0; k < batch && i < records.size(); ++k, ++i)
        c.step(splice_once(records[i], buf));
      ASSERT_NE(c.publish(), nullptr);
    }
    EXPECT_EQ(c.publish(), nullptr);  // nothing stepped since

    // A member that joined at the start reads the chain.
    std::string got;
    std::uint32_t events = 0;
    bool moved = false;
    std::uint64_t bytes = 0;
    std::shared_ptr<const framed_chunk> last = first;
    for (auto ch = first->next_shared(); ch; ch = ch->next_shared()) {
      got += chunked ? dechunk(ch->bytes()) : ch->bytes();
      bytes += ch->bytes().size();
      EXPECT_EQ(ch->end_bytes, bytes);
      for (auto e : ch->events)
        events += e;
      moved = ch->moved_after(moved);
      last = ch;
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(events,
              std::count(expected.begin(), expected.end(), '\n') / (f == framing::ndjson ? 1 : 4));
    // The state after the chain: the connection's id, and whether it moved past its last event.
    if (f == framing::sse) {
      EXPECT_EQ(last->end_id, std::string(connection.id()));
      EXPECT_EQ(moved, connection.id_moved());
    }
  }
}

TEST(Cohort, PublishesALargeBatchInItsOwnBufferWithTheSameBytes) {
  // A batch of 64 KiB or more (a replay's slice) is handed over in the cohort's buffer, its HTTP
  // chunk header written into the room kept before it; a smaller one is copied. Either way the
  // chain is, byte for byte, what one connection writes, and the next batch starts clean.
  for (const bool chunked : {true, false}) {
    SCOPED_TRACE(chunked ? "chunked" : "not chunked");
    const std::vector<partition_position> start = {{"t", 0, 0, std::nullopt},
                                                   {"t", 1, 0, std::nullopt}};
    stream_format connection(framing::sse, position_vector(start), {false, false});
    cohort c(1, framing::sse, chunked, position_vector(start), {false, false});
    auto first = c.tail();
    std::string expected, buf;
    std::int64_t next[2] = {0, 0};
    // Batches of 1, 40, 3, 100 and 1 records of about 3 KB: 3, 120, 9, 300 and 3 KB.
    for (const int batch : {1, 40, 3, 100, 1}) {
      c.reserve(static_cast<std::size_t>(batch) * 3300);  // as a replay reserves its slices
      for (int k = 0; k < batch; ++k) {
        const std::size_t i = static_cast<std::size_t>(k % 2);
        const rec r{i,
                    "t",
                    static_cast<std::int32_t>(i),
                    next[i]++,
                    1700000000000 + k,
                    R"({"n":)" + std::to_string(k) + R"(,"s":")" + std::string(3000, 'x') + "\"}"};
        connection.record(as_source(r), expected);
        c.step(splice_once(r, buf));
      }
      EXPECT_EQ(c.open_bytes() >= 64 * 1024, batch >= 40);
      auto ch = c.publish();
      ASSERT_NE(ch, nullptr);
      // In its own buffer: the chunk's bytes start after the room (chunked) or at 0.
      if (chunked && batch >= 40)
        EXPECT_GT(ch->start, 0u);
      else
        EXPECT_EQ(ch->start, 0u);
      EXPECT_EQ(c.open_bytes(), 0u);
      c.release_room();  // as a replay that went live: the next batch gets a new buffer
    }
    std::string got;
    std::uint64_t bytes = 0;
    for (auto ch = first->next_shared(); ch; ch = ch->next_shared()) {
      const auto framed = ch->bytes();
      if (chunked) {
        // One HTTP chunk each: "<hex>\r\n<body>\r\n", its size exactly the body's.
        const auto eol = framed.find("\r\n");
        ASSERT_NE(eol, std::string_view::npos);
        EXPECT_EQ(std::stoul(std::string(framed.substr(0, eol)), nullptr, 16),
                  framed.size() - eol - 4);
        EXPECT_EQ(framed.substr(framed.size() - 2), "\r\n");
      }
      got += chunked ? dechunk(framed) : std::string(framed);
      bytes += framed.size();
      EXPECT_EQ(ch->end_bytes, bytes);
    }
    EXPECT_EQ(got, expected);
  }
}

TEST(Cohort, SkipsRecordsBelowItsPositions) {
  // A member that started ahead of the hub (the end it looked up) gets nothing below it.
  cohort c(1, framing::sse, false, position_vector({{"t", 0, 10, std::nullopt}}), {false});
  std::string buf;
  for (std::int64_t o = 5; o < 12; ++o)
    c.step(splice_once({0, "t", 0, o, 1000 + o, R"({"n":1})"}, buf));
  auto ch = c.publish();
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->records, 2u);
  EXPECT_EQ(ch->events[0], 2u);
  EXPECT_EQ(ch->end_id, R"([{"topic":"t","partition":0,"offset":12,"timestamp":1011}])");
}

TEST(Cohort, ChunksCountTheRecordsSteppedAndKeepTheFirstOnesTimestamp) {
  // What a member's lag is computed from (docs/api.md "Metrics"): the records of the chain after
  // its cursor, and the age of the first of them.
  cohort c(1, framing::sse, true, position_vector({{"t", 0, 0, std::nullopt}}), {false});
  EXPECT_EQ(c.tail()->end_records, 0u);
  std::string buf;
  c.step(splice_once({0, "t", 0, 0, 100, R"({"n":0})"}, buf));
  c.step(splice_once({0, "t", 0, 1, 101, "not json"}, buf));
  auto first = c.publish();
  c.step(splice_once({0, "t", 0, 2, 102, R"({"meta":{"domain":"canary"}})"}, buf));
  c.step(splice_once({0, "t", 0, 3, 103, R"({"n":3})"}, buf));
  c.step(splice_once({0, "t", 0, 4, 104, R"({"n":4})"}, buf));
  auto second = c.publish();
  EXPECT_EQ(first->end_records, 2u);
  EXPECT_EQ(first->first_timestamp, 100);
  EXPECT_EQ(second->end_records, 5u);
  EXPECT_EQ(second->first_timestamp, 102);  // skipped records count: they are behind too
  EXPECT_EQ(c.fail("_FATAL", "x")->end_records, 5u);
}

TEST(Cohort, MergeHandsMembersOverAtEqualPositions) {
  // A joined at the start; B joined later at the same offsets but no timestamp: a variant until
  // the partition delivers, then equal.
  cohort a(1, framing::sse, true, position_vector({{"t", 0, 0, std::nullopt}}), {false});
  std::string buf;
  a.step(splice_once({0, "t", 0, 0, 100, R"({"n":0})"}, buf));
  a.publish();
  cohort b(2, framing::sse, true, position_vector({{"t", 0, 1, std::nullopt}}), {false});
  auto b_start = b.tail();
  EXPECT_NE(a.id_state(), b.id_state());
  for (auto* c : {&a, &b})
    c->step(splice_once({0, "t", 0, 1, 101, R"({"n":1})"}, buf));
  a.publish();
  b.publish();
  ASSERT_EQ(a.id_state(), b.id_state());
  auto keep = std::make_shared<int>(7);
  auto jump = b.merge_into(a, keep);
  EXPECT_EQ(jump->jump, a.tail());
  EXPECT_EQ(jump->end_records, a.tail()->end_records);  // counted in the cohort it joins
  EXPECT_EQ(jump->jump_keep, keep);
  EXPECT_TRUE(jump->bytes().empty());
  // A member of B: B's chunk, then the jump, then A's next chunk.
  a.step(splice_once({0, "t", 0, 2, 102, R"({"n":2})"}, buf));
  auto after = a.publish();
  auto b1 = b_start->next_shared();
  ASSERT_NE(b1, nullptr);
  ASSERT_EQ(b1->next_shared(), jump);
  EXPECT_EQ(jump->jump->next_shared(), after);
}

TEST(Cohort, AnErrorEndsTheChain) {
  cohort c(1, framing::sse, true, position_vector({{"t", 0, 0, std::nullopt}}), {false});
  auto e = c.fail("TOPIC_AUTHORIZATION_FAILED", "t: denied");
  EXPECT_EQ(e->error, "TOPIC_AUTHORIZATION_FAILED");
  EXPECT_EQ(e->end_id, R"([{"topic":"t","partition":0,"offset":0}])");
  EXPECT_TRUE(e->bytes().empty());
}

TEST(Cohort, ALongChainNobodyHoldsIsFreedWithoutRecursion) {
  cohort c(1, framing::sse, false, position_vector({{"t", 0, 0, std::nullopt}}), {false});
  std::weak_ptr<const framed_chunk> first;
  {
    auto head = c.tail();
    first = head;
    std::string buf;
    for (std::int64_t o = 0; o < 100000; ++o) {
      c.step(splice_once({0, "t", 0, o, -1, R"({})"}, buf));
      c.publish();
    }
  }
  // Only the cohort's tail is held: the 100,000 chunks before it were freed in a loop.
  EXPECT_TRUE(first.expired());
}

std::shared_ptr<const filter::compiled> compiled_filter(std::string clause) {
  const std::vector<std::string> clauses{std::move(clause)};
  return filter::compile(clauses, filter::limits{}).filter;
}

// The rings keep no record keys (docs/api.md §11): a filter that reads $key anywhere, even in
// one branch of an OR, is not replayed from them; every other filter is.
TEST(ReplayFilter, RingsReplayEveryFilterThatDoesNotReadTheKey) {
  for (const auto* clause : {"wiki=enwiki", "$topic=a;$partition=1", "$offset>5|n<3",
                             "has(meta.id);$timestamp>0", "!(bot=true)"}) {
    auto f = compiled_filter(clause);
    ASSERT_TRUE(f) << clause;
    EXPECT_TRUE(rings_can_filter(*f)) << clause;
  }
  for (const auto* clause : {"$key=x", "wiki=enwiki|$key^=Q", "has($key)", "!($key=a;n=1)"}) {
    auto f = compiled_filter(clause);
    ASSERT_TRUE(f) << clause;
    EXPECT_FALSE(rings_can_filter(*f)) << clause;
  }
}

}  // namespace
}  // namespace eventstreams

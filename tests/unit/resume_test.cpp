// Tests of Last-Event-ID parsing and the per-partition start rules (API.md §4, §5.3).
#include "eventstreams/resume.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "eventstreams/partition_ring.hpp"

namespace {

using eventstreams::gap_reason;
using eventstreams::governing_entry;
using eventstreams::partition_ring;
using eventstreams::ring_chunk;
using eventstreams::start_in_ring;
namespace ring_flag = eventstreams::ring_flag;
using eventstreams::gap_reason_name;
using eventstreams::last_event_entry;
using eventstreams::last_event_id_error;
using eventstreams::max_last_event_id_bytes;
using eventstreams::parse_last_event_id;
using eventstreams::partition_bounds;
using eventstreams::plan_start;
using eventstreams::resume_policy;
using eventstreams::start_kind;
using eventstreams::start_plan;

std::vector<last_event_entry> parse_ok(std::string_view header) {
  auto r = parse_last_event_id(header);
  if (const auto* err = std::get_if<last_event_id_error>(&r)) {
    ADD_FAILURE() << "unexpected error: " << err->detail;
    return {};
  }
  return std::get<std::vector<last_event_entry>>(r);
}

std::string parse_err(std::string_view header) {
  auto r = parse_last_event_id(header);
  if (!std::holds_alternative<last_event_id_error>(r)) {
    ADD_FAILURE() << "expected an error";
    return {};
  }
  return std::get<last_event_id_error>(r).detail;
}

// `[{"topic":"<padding>"}]` of exactly `size` bytes.
std::string valid_header_of_size(std::size_t size) {
  const std::string head = R"([{"topic":")";
  const std::string tail = R"("}])";
  return head + std::string(size - head.size() - tail.size(), 't') + tail;
}

TEST(LastEventId, OurFormatRoundTrips) {
  const auto entries =
      parse_ok(R"([{"topic":"a","partition":0,"offset":12,"timestamp":1532031066001},)"
               R"({"topic":"b","partition":0,"offset":3}])");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].topic, "a");
  EXPECT_EQ(entries[0].partition, 0);
  EXPECT_EQ(entries[0].offset, 12);
  EXPECT_EQ(entries[0].timestamp, 1532031066001);
  EXPECT_EQ(entries[1].topic, "b");
  EXPECT_EQ(entries[1].partition, 0);
  EXPECT_EQ(entries[1].offset, 3);
  EXPECT_EQ(entries[1].timestamp, std::nullopt);
}

TEST(LastEventId, OriginalServiceTimestampOnly) {
  const auto entries = parse_ok(
      R"([{"topic":"eqiad.mediawiki.recentchange","partition":0,"timestamp":1532031066001}])");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].topic, "eqiad.mediawiki.recentchange");
  EXPECT_EQ(entries[0].partition, 0);
  EXPECT_EQ(entries[0].offset, std::nullopt);
  EXPECT_EQ(entries[0].timestamp, 1532031066001);
}

TEST(LastEventId, OriginalServiceSpecialOffsets) {
  const auto entries = parse_ok(
      R"([{"topic":"a","partition":1,"offset":-1},{"topic":"b","partition":2,"offset":-2}])");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].partition, 1);
  EXPECT_EQ(entries[0].offset, -1);
  EXPECT_EQ(entries[1].partition, 2);
  EXPECT_EQ(entries[1].offset, -2);
}

TEST(LastEventId, BareTopicStringsAndMixed) {
  const auto entries =
      parse_ok(R"(["a", {"topic":"b","partition":3,"offset":7}, "c", {"topic":"d"}])");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].topic, "a");
  EXPECT_EQ(entries[0].partition, std::nullopt);
  EXPECT_EQ(entries[0].offset, std::nullopt);
  EXPECT_EQ(entries[0].timestamp, std::nullopt);
  EXPECT_EQ(entries[1].topic, "b");
  EXPECT_EQ(entries[1].partition, 3);
  EXPECT_EQ(entries[1].offset, 7);
  EXPECT_EQ(entries[2].topic, "c");
  EXPECT_EQ(entries[3].topic, "d");
  EXPECT_EQ(entries[3].partition, std::nullopt);
}

TEST(LastEventId, EmptyOrWhitespaceIsAbsent) {
  for (const char* h : {"", " ", "\t", " \r\n\t "}) {
    SCOPED_TRACE(testing::Message() << "header length " << std::string_view(h).size());
    EXPECT_TRUE(parse_ok(h).empty());
  }
  EXPECT_TRUE(parse_ok("[]").empty());
  EXPECT_TRUE(parse_ok("  [ ]  ").empty());
}

TEST(LastEventId, UnknownMembersIgnoredAndLimitsAccepted) {
  const auto entries = parse_ok(
      R"([{"topic":"a","partition":2147483647,"offset":9223372036854775807,)"
      R"("timestamp":9223372036854775807,"dt":"2018-07-19T20:11:06Z","extra":{"x":[1.5]}},)"
      R"({"topic":"b","partition":0,"offset":0,"timestamp":0}])");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].partition, INT32_MAX);
  EXPECT_EQ(entries[0].offset, INT64_MAX);
  EXPECT_EQ(entries[0].timestamp, INT64_MAX);
  EXPECT_EQ(entries[1].partition, 0);
  EXPECT_EQ(entries[1].offset, 0);
  EXPECT_EQ(entries[1].timestamp, 0);
}

TEST(LastEventId, UnicodeTopicKept) {
  const auto entries = parse_ok(R"([{"topic":"caf\u00e9"}])");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].topic, "caf\xc3\xa9");
}

TEST(LastEventId, MalformedHeadersEachSayWhatIsWrong) {
  struct row {
    std::string header;
    std::string keyword;  // the detail must mention it
  };
  const std::vector<row> rows = {
      {"nope", "JSON"},
      {"[", "JSON"},
      {R"([{"topic":"a"}] trailing)", "JSON"},
      {R"([{"topic":"a",}])", "JSON"},
      {"{\"topic\":\"a\"}", "array"},
      {"\"a\"", "array"},
      {"42", "array"},
      {"null", "array"},
      {"[42]", "string or an object"},
      {"[null]", "string or an object"},
      {"[true]", "string or an object"},
      {"[[\"a\"]]", "string or an object"},
      {"[\"a\", 1.5]", "entry 1"},
      {"[\"\"]", "empty"},
      {R"([{"partition":0,"offset":1}])", "\"topic\" is missing"},
      {R"([{"topic":5}])", "\"topic\" must be a string"},
      {R"([{"topic":null}])", "\"topic\" must be a string"},
      {R"([{"topic":["a"]}])", "\"topic\" must be a string"},
      {R"([{"topic":""}])", "\"topic\" is empty"},
      {R"([{"topic":"a","partition":-1}])", "\"partition\""},
      {R"([{"topic":"a","partition":0.0}])", "\"partition\""},
      {R"([{"topic":"a","partition":1.5}])", "\"partition\""},
      {R"([{"topic":"a","partition":1e2}])", "\"partition\""},
      {R"([{"topic":"a","partition":"0"}])", "\"partition\""},
      {R"([{"topic":"a","partition":null}])", "\"partition\""},
      {R"([{"topic":"a","partition":2147483648}])", "\"partition\""},
      {R"([{"topic":"a","partition":18446744073709551615}])", "\"partition\""},
      {R"([{"topic":"a","partition":0,"offset":-3}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":12.0}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":"12"}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":true}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":9223372036854775808}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":-9223372036854775809}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"offset":99999999999999999999999}])", "\"offset\""},
      {R"([{"topic":"a","partition":0,"timestamp":-1}])", "\"timestamp\""},
      {R"([{"topic":"a","partition":0,"timestamp":1.5}])", "\"timestamp\""},
      {R"([{"topic":"a","partition":0,"timestamp":"1532031066001"}])", "\"timestamp\""},
      {R"([{"topic":"a","partition":0,"timestamp":{}}])", "\"timestamp\""},
      {"[\"ok\", {\"topic\":\"b\",\"offset\":-5}]", "entry 1"},
      {"[\"\xff\"]", "JSON"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.header);
    const std::string detail = parse_err(r.header);
    EXPECT_NE(detail.find(r.keyword), std::string::npos) << "detail: " << detail;
  }
}

TEST(LastEventId, DetailNamesTheKindNotTheValue) {
  EXPECT_EQ(parse_err(R"([{"topic":"a","partition":"zz"}])"),
            R"(entry 0: "partition" must be an integer in [0, 2147483647], got a string)");
  EXPECT_EQ(parse_err(R"(["a",{"topic":"b","offset":1.5}])"),
            R"(entry 1: "offset" must be an integer >= -2, got a non-integer number)");
  EXPECT_EQ(parse_err(R"([{"topic":"a","timestamp":-4}])"),
            R"(entry 0: "timestamp" must be an integer >= 0, got an integer outside that range)");
  EXPECT_EQ(parse_err(R"({"a":1})"), "must be a JSON array, got an object");
}

TEST(LastEventId, DetailsNeverEchoTheInput) {
  const std::string marker(120, 'q');
  const std::vector<std::string> headers = {
      marker,
      "[\"" + marker + "\", 7]",
      R"([{"topic":")" + marker + R"(","partition":")" + marker + R"("}])",
      R"([{"topic":")" + marker + R"(","offset":")" + marker + R"("}])",
      R"([{"topic":")" + marker + R"(","timestamp":")" + marker + R"("}])",
      R"([{")" + marker + R"(":1}])",
      "[" + marker + "]",
      "{\"" + marker + "\":\"" + marker + "\"}",
      std::string(max_last_event_id_bytes + 1, 'q'),
  };
  for (const auto& h : headers) {
    SCOPED_TRACE(h.substr(0, 60));
    const std::string detail = parse_err(h);
    EXPECT_FALSE(detail.empty());
    EXPECT_LE(detail.size(), 100u) << detail;
    EXPECT_EQ(detail.find("qqqq"), std::string::npos) << detail;
  }
}

TEST(LastEventId, SizeLimitIsExactly16KiB) {
  const std::string at_limit = valid_header_of_size(max_last_event_id_bytes);
  ASSERT_EQ(at_limit.size(), 16384u);
  const auto entries = parse_ok(at_limit);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].topic.size(), 16384u - 14u);

  const std::string over = valid_header_of_size(max_last_event_id_bytes + 1);
  ASSERT_EQ(over.size(), 16385u);
  EXPECT_NE(parse_err(over).find("16384"), std::string::npos);
  // Whitespace counts too: the limit is on the raw header.
  EXPECT_NE(parse_err(std::string(max_last_event_id_bytes + 1, ' ')).find("16384"),
            std::string::npos);
}

TEST(LastEventId, DeepNestingIsRejectedNotCrashing) {
  const std::size_t depth = max_last_event_id_bytes / 2;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_NE(parse_err(nested).find("entry 0"), std::string::npos);
}

// ---- plan_start ----------------------------------------------------------------------------

constexpr partition_bounds plan_bounds{100, 200};
constexpr std::int64_t entry_ts = 1532031066001;
constexpr std::int64_t since = 1714564800000;

last_event_entry entry(std::optional<std::int64_t> offset, std::optional<std::int64_t> timestamp) {
  return last_event_entry{"a", 0, offset, timestamp};
}

void expect_plan(const start_plan& p, start_kind kind, std::int64_t value,
                 std::optional<std::int64_t> carried) {
  EXPECT_EQ(p.kind, kind);
  EXPECT_EQ(p.value, value);
  EXPECT_EQ(p.carried_timestamp, carried);
}

start_plan plan(std::optional<std::int64_t> offset, std::optional<std::int64_t> timestamp,
                resume_policy policy, std::optional<std::int64_t> since_ms = std::nullopt) {
  const auto e = entry(offset, timestamp);
  return plan_start(&e, since_ms, policy, plan_bounds);
}

TEST(PlanStart, NoEntryUsesSinceElseEnd) {
  for (auto policy : {resume_policy::offset, resume_policy::timestamp}) {
    expect_plan(plan_start(nullptr, since, policy, plan_bounds), start_kind::timestamp, since,
                std::nullopt);
    expect_plan(plan_start(nullptr, 0, policy, plan_bounds), start_kind::timestamp, 0,
                std::nullopt);
    expect_plan(plan_start(nullptr, std::nullopt, policy, plan_bounds), start_kind::end, 200,
                std::nullopt);
  }
}

TEST(PlanStart, EntryWithNeitherActsAsNoEntry) {
  for (auto policy : {resume_policy::offset, resume_policy::timestamp}) {
    expect_plan(plan(std::nullopt, std::nullopt, policy, since), start_kind::timestamp, since,
                std::nullopt);
    expect_plan(plan(std::nullopt, std::nullopt, policy), start_kind::end, 200, std::nullopt);
  }
}

TEST(PlanStart, OffsetPolicyInRangeIsExact) {
  const auto p = resume_policy::offset;
  expect_plan(plan(100, std::nullopt, p), start_kind::offset, 100, std::nullopt);  // low
  expect_plan(plan(150, std::nullopt, p), start_kind::offset, 150, std::nullopt);
  expect_plan(plan(200, std::nullopt, p), start_kind::offset, 200, std::nullopt);  // high
  // The entry's timestamp does not override a valid offset, but is carried for the id.
  expect_plan(plan(100, entry_ts, p), start_kind::offset, 100, entry_ts);
  expect_plan(plan(200, entry_ts, p), start_kind::offset, 200, entry_ts);
  // `since` never overrides an entry.
  expect_plan(plan(150, std::nullopt, p, since), start_kind::offset, 150, std::nullopt);
}

TEST(PlanStart, OffsetPolicyOutOfRange) {
  const auto p = resume_policy::offset;
  expect_plan(plan(99, std::nullopt, p), start_kind::earliest, 100, std::nullopt);
  expect_plan(plan(0, std::nullopt, p), start_kind::earliest, 100, std::nullopt);
  expect_plan(plan(201, std::nullopt, p), start_kind::end, 200, std::nullopt);
  expect_plan(plan(INT64_MAX, std::nullopt, p), start_kind::end, 200, std::nullopt);
  expect_plan(plan(99, entry_ts, p), start_kind::timestamp, entry_ts, entry_ts);
  expect_plan(plan(201, entry_ts, p), start_kind::timestamp, entry_ts, entry_ts);
  expect_plan(plan(201, std::nullopt, p, since), start_kind::end, 200, std::nullopt);
}

TEST(PlanStart, OffsetPolicySpecialOffsets) {
  const auto p = resume_policy::offset;
  expect_plan(plan(-1, std::nullopt, p), start_kind::end, 200, std::nullopt);
  expect_plan(plan(-1, entry_ts, p), start_kind::timestamp, entry_ts, entry_ts);
  expect_plan(plan(-1, std::nullopt, p, since), start_kind::end, 200, std::nullopt);
  expect_plan(plan(-2, std::nullopt, p), start_kind::earliest, 100, std::nullopt);
  expect_plan(plan(-2, entry_ts, p), start_kind::earliest, 100, entry_ts);
}

TEST(PlanStart, TimestampOnlyEntry) {
  for (auto policy : {resume_policy::offset, resume_policy::timestamp}) {
    expect_plan(plan(std::nullopt, entry_ts, policy), start_kind::timestamp, entry_ts, entry_ts);
    expect_plan(plan(std::nullopt, entry_ts, policy, since), start_kind::timestamp, entry_ts,
                entry_ts);
    expect_plan(plan(std::nullopt, 0, policy), start_kind::timestamp, 0, 0);
  }
}

TEST(PlanStart, TimestampPolicyTimestampWins) {
  const auto p = resume_policy::timestamp;
  for (std::int64_t offset : {100, 150, 200, 99, 201, -1, -2}) {
    SCOPED_TRACE(offset);
    expect_plan(plan(offset, entry_ts, p), start_kind::timestamp, entry_ts, entry_ts);
  }
}

TEST(PlanStart, TimestampPolicyWithoutTimestampFallsBackToOffsetRules) {
  const auto p = resume_policy::timestamp;
  expect_plan(plan(100, std::nullopt, p), start_kind::offset, 100, std::nullopt);
  expect_plan(plan(200, std::nullopt, p), start_kind::offset, 200, std::nullopt);
  expect_plan(plan(99, std::nullopt, p), start_kind::earliest, 100, std::nullopt);
  expect_plan(plan(201, std::nullopt, p), start_kind::end, 200, std::nullopt);
  expect_plan(plan(-1, std::nullopt, p), start_kind::end, 200, std::nullopt);
  expect_plan(plan(-2, std::nullopt, p), start_kind::earliest, 100, std::nullopt);
}

TEST(PlanStart, AnOffsetOutsideTheRangeIsAGapWithItsReason) {
  for (auto policy : {resume_policy::offset, resume_policy::timestamp}) {
    SCOPED_TRACE(static_cast<int>(policy));
    auto below = plan(99, std::nullopt, policy);
    ASSERT_TRUE(below.gap.has_value());
    EXPECT_EQ(*below.gap, gap_reason::retention);
    EXPECT_EQ(below.requested, 99);
    auto above = plan(201, std::nullopt, policy);
    ASSERT_TRUE(above.gap.has_value());
    EXPECT_EQ(*above.gap, gap_reason::reset);
    EXPECT_EQ(above.requested, 201);
    // In range, at either bound, and the logical offsets are honoured exactly: no gap.
    for (std::int64_t offset : {100, 150, 200, -1, -2})
      EXPECT_FALSE(plan(offset, std::nullopt, policy).gap.has_value()) << offset;
    EXPECT_FALSE(plan(std::nullopt, entry_ts, policy).gap.has_value());
  }
  // resume_by offset: the entry's timestamp is where it continues, still after a gap.
  auto by_time = plan(0, entry_ts, resume_policy::offset);
  expect_plan(by_time, start_kind::timestamp, entry_ts, entry_ts);
  ASSERT_TRUE(by_time.gap.has_value());
  EXPECT_EQ(*by_time.gap, gap_reason::retention);
  // resume_by timestamp: the timestamp is the position asked for; the offset is not a gap.
  EXPECT_FALSE(plan(0, entry_ts, resume_policy::timestamp).gap.has_value());
}

TEST(PlanStart, GapReasonNames) {
  EXPECT_STREQ(gap_reason_name(gap_reason::retention), "retention");
  EXPECT_STREQ(gap_reason_name(gap_reason::reset), "reset");
  EXPECT_STREQ(gap_reason_name(gap_reason::unknown), "unknown");
}

TEST(PlanStart, EmptyPartitionOffsetAtHighIsExact) {
  const last_event_entry e{"a", 0, 5, std::nullopt};
  expect_plan(plan_start(&e, std::nullopt, resume_policy::offset, {5, 5}), start_kind::offset, 5,
              std::nullopt);
  const last_event_entry fresh{"a", 0, 0, std::nullopt};
  expect_plan(plan_start(&fresh, std::nullopt, resume_policy::offset, {0, 0}), start_kind::offset,
              0, std::nullopt);
}

TEST(PlanStart, WholeTopicEntryAppliesLikeAnExactOne) {
  const last_event_entry whole{"a", std::nullopt, 150, entry_ts};
  expect_plan(plan_start(&whole, std::nullopt, resume_policy::offset, plan_bounds),
              start_kind::offset, 150, entry_ts);
  const last_event_entry bare{"a", std::nullopt, std::nullopt, std::nullopt};
  expect_plan(plan_start(&bare, since, resume_policy::offset, plan_bounds), start_kind::timestamp,
              since, std::nullopt);
}

TEST(GoverningEntry, AnExactPartitionWinsAndTheLastOfEqualsWins) {
  const std::vector<last_event_entry> entries{{"a", std::nullopt, 1, std::nullopt},
                                              {"a", 0, 2, std::nullopt},
                                              {"a", 0, 3, std::nullopt},
                                              {"a", std::nullopt, 4, std::nullopt},
                                              {"b", 1, 5, std::nullopt}};
  EXPECT_EQ(governing_entry(entries, "a", 0)->offset, 3);
  EXPECT_EQ(governing_entry(entries, "a", 1)->offset, 4);
  EXPECT_EQ(governing_entry(entries, "b", 1)->offset, 5);
  EXPECT_EQ(governing_entry(entries, "b", 0), nullptr);
  EXPECT_EQ(governing_entry(entries, "c", 0), nullptr);
}

// A ring holding offsets 100..109 (a hole at 105: compacted) with timestamps 1000 + 10 x
// (offset - 100), read up to 115 (the frontier); `flags` for every record.
partition_ring ring_of(std::uint8_t flags) {
  partition_ring ring(100, 64);
  std::uint64_t seq = 0;
  for (std::int64_t o = 100; o < 110; ++o) {
    if (o != 105)
      ring.append(++seq, o, 1000 + 10 * (o - 100), flags, R"({"o":1})");
  }
  ring.frontier(115);
  std::vector<std::shared_ptr<const ring_chunk>> published;
  ring.seal(0, published);
  return ring;
}

struct placed {
  bool ok = false;
  std::int64_t offset = -1;
  std::optional<std::int64_t> carried;
};

placed place(const partition_ring& ring, const last_event_entry* e,
             std::optional<std::int64_t> since_ms = std::nullopt,
             resume_policy policy = resume_policy::offset) {
  placed out;
  out.ok = start_in_ring(e, since_ms, policy, ring, out.offset, out.carried);
  return out;
}

void expect_placed(const placed& p, std::int64_t offset, std::optional<std::int64_t> carried) {
  EXPECT_TRUE(p.ok);
  EXPECT_EQ(p.offset, offset);
  EXPECT_EQ(p.carried, carried);
}

TEST(StartInRing, AnOffsetTheRingHoldsIsTakenAsIsAndOthersAreLookedUp) {
  const auto ring = ring_of(0);
  for (std::int64_t o : {100, 104, 105, 109, 110, 115}) {
    SCOPED_TRACE(o);
    const auto e = entry(o, entry_ts);
    expect_placed(place(ring, &e), o, entry_ts);  // 105: the hole; 110..115: nothing there
  }
  // Before the ring (retained by Kafka or not: it knows), past what the hub read, the earliest.
  for (std::int64_t o : {0, 99, 116, -2}) {
    SCOPED_TRACE(o);
    const auto e = entry(o, std::nullopt);
    EXPECT_FALSE(place(ring, &e).ok);
  }
}

TEST(StartInRing, TheEndIsTheRingsHead) {
  const auto ring = ring_of(0);
  expect_placed(place(ring, nullptr), 110, std::nullopt);
  const auto none = entry(std::nullopt, std::nullopt);
  expect_placed(place(ring, &none), 110, std::nullopt);
  const auto end = entry(-1, std::nullopt);
  expect_placed(place(ring, &end), 110, std::nullopt);
}

TEST(StartInRing, ARingThatKeepsNoRecordPlacesNothing) {
  // Nothing read yet (or every record evicted): its head may be an offset Kafka removed.
  partition_ring empty(100, 64);
  empty.frontier(105);
  EXPECT_FALSE(place(empty, nullptr).ok);
  const auto at_head = entry(100, std::nullopt);
  EXPECT_FALSE(place(empty, &at_head).ok);
  const auto end = entry(-1, std::nullopt);
  EXPECT_FALSE(place(empty, &end).ok);
}

TEST(StartInRing, TimestampsArePlacedWhereTheRingCanTell) {
  // LogAppendTime: monotonic, set by the broker; a time after the first record's is placed.
  const auto lat = ring_of(ring_flag::log_append_time);
  expect_placed(place(lat, nullptr, 1035), 104, std::nullopt);
  expect_placed(place(lat, nullptr, 1041), 106, std::nullopt);  // the hole: the next record
  expect_placed(place(lat, nullptr, 5000), 110, std::nullopt);  // newer than every record
  EXPECT_FALSE(place(lat, nullptr, 1000).ok);  // a record before the ring could qualify
  const auto by_ts = entry(std::nullopt, 1035);
  expect_placed(place(lat, &by_ts), 104, 1035);
  const auto both = entry(101, 1035);
  expect_placed(place(lat, &both, std::nullopt, resume_policy::timestamp), 104, 1035);
  expect_placed(place(lat, &both, std::nullopt, resume_policy::offset), 101, 1035);
  const auto end_at = entry(-1, 1035);
  expect_placed(place(lat, &end_at), 104, 1035);
  // CreateTime: the producer's clock; a record before the ring may carry any time: Kafka.
  const auto create = ring_of(0);
  EXPECT_FALSE(place(create, nullptr, 1035).ok);
  EXPECT_FALSE(place(create, &by_ts).ok);
  EXPECT_FALSE(place(create, &both, std::nullopt, resume_policy::timestamp).ok);
}

}  // namespace

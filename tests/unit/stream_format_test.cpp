// Tests of the stream body's framing, SSE and NDJSON (API.md §4, §5.1, §5.2): the bytes each
// block adds, written out by hand here rather than with the encoder under test.
#include "eventstreams/stream_format.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace eventstreams {
namespace {

// Two partitions, as a connection to topics a and b would be assigned.
position_vector two_positions() {
  return position_vector({{"a", 0, 5, std::nullopt}, {"b", 0, 7, std::nullopt}});
}

constexpr const char* start_id = R"([{"topic":"a","partition":0,"offset":5},)"
                                 R"({"topic":"b","partition":0,"offset":7}])";

source_record rec(std::size_t index, std::string_view topic, std::int64_t offset,
                  std::string_view value, std::int64_t timestamp = 1000) {
  source_record r;
  r.index = index;
  r.topic = topic;
  r.partition = 0;
  r.offset = offset;
  r.timestamp = timestamp;
  r.value = value;
  return r;
}

constexpr const char* canary = R"({"meta":{"domain":"canary"},"n":1})";

TEST(StreamFormat, SsePreambleIsOkThenTheStartPositionsAsAnIdOnlyBlock) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  f.preamble(out);
  EXPECT_EQ(out, std::string(":ok\n\nid: ") + start_id + "\n\n");
  EXPECT_FALSE(f.id_moved());
}

TEST(StreamFormat, SsePreambleWithAGapSendsTheGapEventInPlaceOfTheStartBlock) {
  stream_format f(framing::sse, two_positions(), {false, false});
  f.set_start_gaps({{1, gap_reason::retention, 2, 7, 5}});
  std::string out;
  f.preamble(out);
  EXPECT_EQ(out, std::string(":ok\n\nevent: gap\nid: ") + start_id +
                     "\n"
                     R"(data: {"partitions":[{"topic":"b","partition":0,"requested":2,)"
                     R"("resumed":7,"missing":5,"reason":"retention"}]})"
                     "\n\n");
  EXPECT_FALSE(f.id_moved());
  // Events follow as usual; the next id moves on from the gap's.
  out.clear();
  EXPECT_EQ(f.record(rec(1, "b", 7, R"({"x":1})"), out), record_outcome::sent);
  EXPECT_EQ(out.rfind("event: message\n", 0), 0u) << out;
}

TEST(StreamFormat, ARecordAfterAJumpIsPrecededByAGapEventWithThePositionsAfterTheJump) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  auto r = rec(0, "a", 40, R"({"x":1})", 1234);
  const position_gap retention{0, gap_reason::retention, 5, 40, 35};
  r.gap = &retention;
  EXPECT_EQ(f.record(r, out), record_outcome::sent);
  EXPECT_EQ(out,
            "event: gap\n"
            R"(id: [{"topic":"a","partition":0,"offset":40},)"
            R"({"topic":"b","partition":0,"offset":7}])"
            "\n"
            R"(data: {"partitions":[{"topic":"a","partition":0,"requested":5,)"
            R"("resumed":40,"missing":35,"reason":"retention"}]})"
            "\n\n"
            "event: message\n"
            R"(id: [{"topic":"a","partition":0,"offset":41,"timestamp":1234},)"
            R"({"topic":"b","partition":0,"offset":7}])"
            "\n"
            R"(data: {"meta":{"topic":"a","partition":0,"offset":40},"x":1})"
            "\n\n");
  // NDJSON: the position moves, no gap line.
  stream_format nd(framing::ndjson, two_positions(), {false, false});
  out.clear();
  auto skipped = rec(1, "b", 90, "not json");
  const position_gap reset{1, gap_reason::reset, 7, 90, 0};
  skipped.gap = &reset;
  EXPECT_EQ(nd.record(skipped, out), record_outcome::skipped_not_json);
  EXPECT_EQ(out, "");
  EXPECT_EQ(nd.positions().at(1).next_offset, 91);
}

TEST(StreamFormat, NdjsonGetsNoGapLine) {
  stream_format f(framing::ndjson, two_positions(), {false, false});
  f.set_start_gaps({{0, gap_reason::reset, 90, 5, 5}});
  std::string out;
  f.preamble(out);
  EXPECT_EQ(out, "");
}

TEST(StreamFormat, NdjsonPreambleIsEmpty) {
  stream_format f(framing::ndjson, two_positions(), {false, false});
  std::string out;
  f.preamble(out);
  EXPECT_EQ(out, "");
}

TEST(StreamFormat, SseEventCarriesTheNewIdAndTheSplicedRecord) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  EXPECT_EQ(f.record(rec(1, "b", 7, R"({"x":1})", 1700000000123), out), record_outcome::sent);
  EXPECT_EQ(out,
            "event: message\n"
            R"(id: [{"topic":"a","partition":0,"offset":5},)"
            R"({"topic":"b","partition":0,"offset":8,"timestamp":1700000000123}])"
            "\n"
            R"(data: {"meta":{"topic":"b","partition":0,"offset":7},"x":1})"
            "\n\n");
  EXPECT_FALSE(f.id_moved());
  EXPECT_EQ(f.positions().at(1).next_offset, 8);
}

TEST(StreamFormat, NdjsonEventIsOneLineWithoutId) {
  stream_format f(framing::ndjson, two_positions(), {false, false});
  std::string out;
  EXPECT_EQ(f.record(rec(0, "a", 5, R"({"x":1})"), out), record_outcome::sent);
  EXPECT_EQ(out, R"({"meta":{"topic":"a","partition":0,"offset":5},"x":1})"
                 "\n");
}

TEST(StreamFormat, CanariesAreDroppedUnlessTheirTopicPassesThemAndStillAdvance) {
  stream_format f(framing::sse, two_positions(), {false, true});
  std::string out;
  EXPECT_EQ(f.record(rec(0, "a", 5, canary, 42), out), record_outcome::skipped_canary);
  EXPECT_EQ(out, "");
  EXPECT_EQ(f.positions().at(0).next_offset, 6);
  EXPECT_EQ(f.positions().at(0).timestamp, 42);
  EXPECT_TRUE(f.id_moved());

  EXPECT_EQ(f.record(rec(1, "b", 7, canary), out), record_outcome::sent);
  EXPECT_TRUE(out.starts_with("event: message\nid: ")) << out;
  EXPECT_NE(out.find(R"("domain":"canary")"), std::string::npos) << out;
  EXPECT_FALSE(f.id_moved());  // the event carried the dropped canary's position too
  EXPECT_NE(out.find(R"({"topic":"a","partition":0,"offset":6,"timestamp":42})"), std::string::npos)
      << out;
}

TEST(StreamFormat, RecordsThatAreNotJsonObjectsAreSkippedAndStillAdvance) {
  for (auto f : {framing::sse, framing::ndjson}) {
    stream_format format(f, two_positions(), {true, true});
    std::string out;
    for (const char* value : {"not json", "[1,2]", "", R"({"a":)"}) {
      EXPECT_EQ(format.record(rec(0, "a", 5, value), out), record_outcome::skipped_not_json);
    }
    EXPECT_EQ(out, "");
    EXPECT_EQ(format.positions().at(0).next_offset, 6);
  }
}

TEST(StreamFormat, RecordOfAnUnassignedPartitionIsIgnored) {
  stream_format f(framing::sse, two_positions(), {true, true});
  std::string out;
  EXPECT_EQ(f.record(rec(2, "c", 1, R"({"x":1})"), out), record_outcome::not_assigned);
  EXPECT_EQ(f.record(rec(source_record::no_index, "c", 1, R"({"x":1})"), out),
            record_outcome::not_assigned);
  EXPECT_EQ(out, "");
  EXPECT_FALSE(f.id_moved());
  f.heartbeat(out);
  EXPECT_EQ(out, ":\n\n");
}

TEST(StreamFormat, HeartbeatIsAnIdOnlyBlockOnlyWhenPositionsMovedWithoutAnEvent) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  f.heartbeat(out);
  EXPECT_EQ(out, ":\n\n");  // nothing moved since the start block

  out.clear();
  ASSERT_EQ(f.record(rec(0, "a", 5, canary, 42), out), record_outcome::skipped_canary);
  f.heartbeat(out);
  EXPECT_EQ(out, R"(id: [{"topic":"a","partition":0,"offset":6,"timestamp":42},)"
                 R"({"topic":"b","partition":0,"offset":7}])"
                 "\n\n");

  out.clear();
  f.heartbeat(out);
  EXPECT_EQ(out, ":\n\n");  // that block told the client

  out.clear();
  ASSERT_EQ(f.record(rec(1, "b", 7, R"({"x":1})"), out), record_outcome::sent);
  out.clear();
  f.heartbeat(out);
  EXPECT_EQ(out, ":\n\n");  // the event carried the id
}

TEST(StreamFormat, BeforeEndSendsAnIdOnlyBlockOnlyWhenPositionsMoved) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  f.before_end(out);
  EXPECT_EQ(out, "");
  ASSERT_EQ(f.record(rec(1, "b", 7, "not json"), out), record_outcome::skipped_not_json);
  f.before_end(out);
  EXPECT_EQ(out, R"(id: [{"topic":"a","partition":0,"offset":5},)"
                 R"({"topic":"b","partition":0,"offset":8,"timestamp":1000}])"
                 "\n\n");
  out.clear();
  f.before_end(out);
  EXPECT_EQ(out, "");
}

TEST(StreamFormat, BeforeAShutdownEndTheRetryBlockFollowsTheIdBlock) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  f.before_end(out, std::chrono::milliseconds(2345));
  EXPECT_EQ(out, "retry: 2345\n\n");
  out.clear();
  ASSERT_EQ(f.record(rec(1, "b", 7, "not json"), out), record_outcome::skipped_not_json);
  f.before_end(out, std::chrono::milliseconds(1));
  EXPECT_EQ(out, R"(id: [{"topic":"a","partition":0,"offset":5},)"
                 R"({"topic":"b","partition":0,"offset":8,"timestamp":1000}])"
                 "\n\nretry: 1\n\n");
}

TEST(StreamFormat, SseErrorIsAnErrorEventWithTheCurrentId) {
  stream_format f(framing::sse, two_positions(), {false, false});
  std::string out;
  ASSERT_EQ(f.record(rec(0, "a", 5, canary, 42), out), record_outcome::skipped_canary);
  f.error(R"({"status":503})", out);
  EXPECT_EQ(out,
            "event: error\n"
            R"(id: [{"topic":"a","partition":0,"offset":6,"timestamp":42},)"
            R"({"topic":"b","partition":0,"offset":7}])"
            "\n"
            R"(data: {"status":503})"
            "\n\n");
  EXPECT_FALSE(f.id_moved());
}

TEST(StreamFormat, NdjsonHasNoErrorFrameNoKeepaliveAndNoEndBlock) {
  stream_format f(framing::ndjson, two_positions(), {false, false});
  std::string out;
  ASSERT_EQ(f.record(rec(0, "a", 5, canary), out), record_outcome::skipped_canary);
  f.error(R"({"status":503})", out);
  f.heartbeat(out);
  f.before_end(out);
  f.before_end(out, std::chrono::milliseconds(1000));  // NDJSON has no retry field
  EXPECT_EQ(out, "");
}

TEST(StreamFormat, CanaryPolicyIsLookedUpOncePerPosition) {
  position_vector positions({{"b", 0, 0, std::nullopt},
                             {"a", 0, 0, std::nullopt},
                             {"a", 1, 0, std::nullopt},
                             {"c", 0, 0, std::nullopt}});
  EXPECT_EQ(stream_format::canary_policy({"a", "b", "c"}, {true, false, false}, positions),
            (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(stream_format::canary_policy({"a", "b", "c"}, {false, true, true}, positions),
            (std::vector<bool>{true, false, false, true}));
}

// Keepalive deadlines (docs/api.md §5.1): never before the interval, at most a grid step (a
// quarter of the interval, at most 1 s) after it, and equal for the streams that fell quiet
// within one step, so that they go out in one wake-up.
TEST(HeartbeatDue, RoundsUpToAGridOfAQuarterOfTheIntervalAtMostOneSecond) {
  using namespace std::chrono;
  using time_point = steady_clock::time_point;
  struct grid_case {
    milliseconds interval;
    nanoseconds step;
  };
  for (const auto& [interval, step] :
       {grid_case{15s, 1s}, grid_case{2s, 500ms}, grid_case{100ms, 25ms}, grid_case{1ms, 250us}}) {
    SCOPED_TRACE(interval.count());
    for (nanoseconds at :
         {nanoseconds(0), nanoseconds(1), nanoseconds(step / 2), nanoseconds(step - nanoseconds(1)),
          nanoseconds(step), nanoseconds(123456789012345)}) {
      const time_point last(at);
      const time_point due = heartbeat_due(last, interval);
      EXPECT_GE(due, last + interval);
      EXPECT_LT(due - (last + interval), step);
      EXPECT_EQ(due.time_since_epoch() % step, nanoseconds(0));
    }
    // Quiet since two instants in one step: due together. In the next step: one step later.
    const time_point a(nanoseconds(1000 * step.count() + 1));
    const time_point b = a + step - nanoseconds(2);
    EXPECT_EQ(heartbeat_due(a, interval), heartbeat_due(b, interval));
    EXPECT_EQ(heartbeat_due(a + step, interval), heartbeat_due(a, interval) + step);
  }
  // A zero interval (heartbeats off never asks) is the instant itself.
  EXPECT_EQ(heartbeat_due(steady_clock::time_point(nanoseconds(7)), milliseconds(0)),
            steady_clock::time_point(nanoseconds(7)));
}

}  // namespace
}  // namespace eventstreams

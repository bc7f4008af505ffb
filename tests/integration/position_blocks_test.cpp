// A position from the first byte (docs/api.md §5.1): the start id-only block, the keepalive
// that carries the id when positions moved without an event, and the id before an end the
// server decides.
#include <gtest/gtest.h>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// Waits: every 10 s bound below is for a step that takes milliseconds (the preamble after the
// response header, one fetch round trip of a produced record, 300 ms keepalives, the 2 s
// max_connection_duration); it only ends a test that is already failing.

constexpr const char* canary = R"({"meta":{"domain":"canary"},"n":1})";

daemon_config canary_stream(std::string heartbeat) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.heartbeat_interval = std::move(heartbeat);
  cfg.streams = {{"rc", {"blocks.rc"}, {}, false}};  // canaries dropped
  return cfg;
}

std::size_t heartbeats(const sse_client& c) {
  return static_cast<std::size_t>(std::count(c.comments().begin(), c.comments().end(), ""));
}

TEST(PositionBlocks, StartBlockCarriesTheStartPositionsBeforeAnyEvent) {
  daemon_config cfg = canary_stream("0");
  cfg.partitions = 2;
  daemon_process d(cfg);
  test_producer p(d.bootstrap());
  p.produce("blocks.rc", 0, R"({"before":1})");
  p.produce("blocks.rc", 1, R"({"before":2})");
  p.produce("blocks.rc", 1, R"({"before":3})");
  ASSERT_TRUE(p.flush());
  auto c = open_stream(d.port(), "/v2/stream/rc");
  // Right after ":ok": the end of each partition at connect, no timestamp, no event.
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return !s.id_blocks().empty(); }, 10s))
      << describe(*c);
  EXPECT_TRUE(c->body().starts_with(":ok\n\nid: ")) << c->body();
  EXPECT_TRUE(id_equals(c->id_blocks()[0], {{"blocks.rc", 0, 1, {}}, {"blocks.rc", 1, 2, {}}}));
  EXPECT_TRUE(c->events().empty());
  EXPECT_EQ(c->last_id(), c->id_blocks()[0]);

  // Resuming from that block misses nothing produced after it.
  c->close();
  auto after = p.produce("blocks.rc", 1, R"({"after":1})");
  ASSERT_TRUE(p.flush());
  auto r = open_stream(d.port(), "/v2/stream/rc", {{"Last-Event-ID", c->id_blocks()[0]}});
  ASSERT_TRUE(r->read_events(1, 10s)) << describe(*r);
  EXPECT_EQ(parse_json(r->events()[0].data), expected_data(p.record(after)));
}

TEST(PositionBlocks, KeepaliveIsAnIdBlockOnlyWhenPositionsMovedWithoutAnEvent) {
  daemon_process d(canary_stream("300ms"));
  auto c = open_stream(d.port(), "/v2/stream/rc");
  // Idle: the keepalives are comments.
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return heartbeats(s) >= 1; }, 10s))
      << describe(*c);
  ASSERT_EQ(c->id_blocks().size(), 1u) << describe(*c);  // the start block only

  // A dropped canary moves the position without an event: the next keepalive says where.
  test_producer p(d.bootstrap());
  auto dropped = p.produce("blocks.rc", 0, canary, 1700000000123);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return s.id_blocks().size() >= 2; }, 10s))
      << describe(*c);
  EXPECT_TRUE(
      id_equals(c->id_blocks()[1], {{"blocks.rc", 0, p.record(dropped).offset + 1, 1700000000123}}))
      << c->id_blocks()[1];
  EXPECT_TRUE(c->events().empty());

  // Nothing moved since: the keepalives are comments again, no third id block.
  const auto comments = heartbeats(*c);
  ASSERT_TRUE(
      c->read_until([&](const sse_client& s) { return heartbeats(s) >= comments + 2; }, 10s))
      << describe(*c);
  EXPECT_EQ(c->id_blocks().size(), 2u) << describe(*c);
}

TEST(PositionBlocks, AnEndTheServerDecidesCarriesTheIdWhenPositionsMoved) {
  // Heartbeats off: only the pre-end block can tell the client about the dropped canary.
  daemon_config cfg = canary_stream("0");
  cfg.server_settings = {{"max_connection_duration", "2s"}};
  daemon_process d(cfg);
  auto moved = open_stream(d.port(), "/v2/stream/rc");
  test_producer p(d.bootstrap());
  auto dropped = p.produce("blocks.rc", 0, canary, 1700000000456);
  ASSERT_TRUE(p.flush());
  auto still = open_stream(d.port(), "/v2/stream/rc");  // opened after the canary
  // max_connection_duration (2 s) ends both; 10 s leaves a loaded machine a wide margin.
  ASSERT_TRUE(moved->read_to_eof(10s)) << describe(*moved);
  ASSERT_TRUE(still->read_to_eof(10s)) << describe(*still);
  EXPECT_TRUE(moved->terminator_received());
  ASSERT_EQ(moved->id_blocks().size(), 2u) << describe(*moved);
  EXPECT_TRUE(id_equals(moved->id_blocks()[1],
                        {{"blocks.rc", 0, p.record(dropped).offset + 1, 1700000000456}}));
  EXPECT_TRUE(moved->body().ends_with("\n\n"));
  // A stream whose positions never moved ends with its start block only.
  EXPECT_EQ(still->id_blocks().size(), 1u) << describe(*still);
  EXPECT_TRUE(still->events().empty());
}

TEST(PositionBlocks, NdjsonCarriesNoIds) {
  daemon_process d(canary_stream("300ms"));
  auto c = open_stream(d.port(), "/v2/stream/rc", {{"Accept", "application/json"}}, 11, false);
  test_producer p(d.bootstrap());
  p.produce("blocks.rc", 0, canary);
  auto ev = p.produce("blocks.rc", 0, R"({"x":1})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return !s.lines().empty(); }, 10s))
      << describe(*c);
  EXPECT_EQ(c->lines().size(), 1u);
  EXPECT_EQ(parse_json(c->lines()[0]), expected_data(p.record(ev)));
  EXPECT_EQ(c->body().find("id:"), std::string::npos) << c->body();
}

}  // namespace
}  // namespace eventstreams::test

// Response framing: SSE headers and preamble, heartbeats, NDJSON, HTTP/1.0.
#include <gtest/gtest.h>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

daemon_config format_daemon(std::string heartbeat = "0") {
  daemon_config cfg;
  cfg.heartbeat_interval = std::move(heartbeat);
  cfg.streams = {{"rc", {"eqiad.fmt.rc"}, {"recent"}, false}};
  return cfg;
}

std::string sse_event_bytes(const std::string& id, const std::string& data) {
  return "event: message\nid: " + id + "\ndata: " + data + "\n\n";
}

TEST(Format, SseResponseHeadersAndExactEventBytes) {
  daemon_process d(format_daemon());
  auto c = open_stream(d.port(), "/v2/stream/rc");
  const auto& h = c->head();
  EXPECT_EQ(h.version, 11u);
  EXPECT_EQ(h.get("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(h.get("Cache-Control"), "no-cache");
  EXPECT_EQ(h.get("X-Accel-Buffering"), "no");
  EXPECT_EQ(h.get("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(h.get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(h.count("Content-Length"), 0u);
  EXPECT_TRUE(c->chunked());

  test_producer p(d.bootstrap());
  auto a = p.produce("eqiad.fmt.rc", 0, R"({"a":1})", 1700000000001);
  auto b =
      p.produce("eqiad.fmt.rc", 0, R"({"meta":{"domain":"x.org"},"b":[true,null]})", 1700000000002);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(2)) << describe(*c);
  // The start positions come first, as an id-only block (docs/api.md §5.1).
  std::string want =
      ":ok\n\n"
      "id: [{\"topic\":\"eqiad.fmt.rc\",\"partition\":0,\"offset\":0}]\n\n" +
      sse_event_bytes(
          R"([{"topic":"eqiad.fmt.rc","partition":0,"offset":1,"timestamp":1700000000001}])",
          R"({"meta":{"topic":"eqiad.fmt.rc","partition":0,"offset":0},"a":1})") +
      sse_event_bytes(
          R"([{"topic":"eqiad.fmt.rc","partition":0,"offset":2,"timestamp":1700000000002}])",
          R"({"meta":{"topic":"eqiad.fmt.rc","partition":0,"offset":1,"domain":"x.org"},)"
          R"("b":[true,null]})");
  EXPECT_EQ(c->body(), want);
  EXPECT_EQ(p.record(a).offset, 0);
  EXPECT_EQ(p.record(b).offset, 1);
  EXPECT_TRUE(c->protocol_error().empty()) << c->protocol_error();
}

TEST(Format, IdleStreamsGetHeartbeatCommentsButNdjsonDoesNot) {
  daemon_process d(format_daemon("300ms"));
  const auto requested = std::chrono::steady_clock::now();
  auto sse = open_stream(d.port(), "/v2/stream/rc");
  auto nd = open_stream(d.port(), "/v2/stream/rc", {{"Accept", "application/json"}}, 11, false);

  auto heartbeats = [](const sse_client& c) {
    return std::count(c.comments().begin(), c.comments().end(), "");
  };
  // Heartbeats every 300 ms (a timer): two within 600 ms of the request; 5 s only ends a
  // failing test.
  ASSERT_TRUE(sse->read_until([&](const sse_client& c) { return heartbeats(c) >= 2; }, 5s))
      << describe(*sse);
  // Not a flood: no more heartbeats than 300 ms intervals since the request, plus one. Counted
  // against the time since the request, not between two reads: a slow reader (seen under TSan)
  // finds several heartbeats in one read, but never more than the intervals that passed.
  const auto intervals = (std::chrono::steady_clock::now() - requested) / 300ms;
  EXPECT_LE(heartbeats(*sse), intervals + 1) << describe(*sse);
  // Nothing moved the position: after the start id block, heartbeat comments only.
  std::string want = ":ok\n\nid: [{\"topic\":\"eqiad.fmt.rc\",\"partition\":0,\"offset\":0}]\n\n";
  for (auto i = heartbeats(*sse); i > 0; --i)
    want += ":\n\n";
  EXPECT_EQ(sse->body(), want);
  EXPECT_TRUE(sse->events().empty());

  // Two heartbeat intervals passed on the NDJSON connection too: it must hold only the event.
  test_producer p(d.bootstrap());
  auto rec = p.produce("eqiad.fmt.rc", 0, R"({"x":1})");
  ASSERT_TRUE(p.flush());
  // The flushed record arrives in milliseconds; 10 s only ends a failing test.
  ASSERT_TRUE(nd->read_until([](const sse_client& c) { return !c.lines().empty(); }, 10s))
      << describe(*nd);
  ASSERT_TRUE(nd->body().ends_with("\n"));
  EXPECT_EQ(nd->lines().size(), 1u) << nd->body();
  EXPECT_EQ(parse_json(nd->body()), expected_data(p.record(rec))) << nd->body();

  // The SSE stream got the event, and heartbeats resume after it.
  ASSERT_TRUE(sse->read_events(1)) << describe(*sse);
  std::size_t before = sse->comments().size();
  // The next heartbeat is due within 300 ms.
  ASSERT_TRUE(
      sse->read_until([&](const sse_client& c) { return c.comments().size() > before; }, 5s))
      << describe(*sse);
  EXPECT_TRUE(sse->body().ends_with("\n\n:\n\n")) << describe(*sse);
}

TEST(Format, AcceptApplicationJsonGivesNdjson) {
  daemon_process d(format_daemon());
  auto c = open_stream(d.port(), "/v2/stream/recent",
                       {{"Accept", "application/json; q=1.0, text/plain"}}, 11, false);
  EXPECT_EQ(c->head().get("Content-Type"), "application/x-ndjson; charset=utf-8");
  EXPECT_EQ(c->head().get("Transfer-Encoding"), "chunked");

  test_producer p(d.bootstrap());
  std::vector<std::size_t> recs;
  recs.push_back(p.produce("eqiad.fmt.rc", 0, R"({"n":1,"meta":{"domain":"d"}})"));
  recs.push_back(p.produce("eqiad.fmt.rc", 0, "not json"));
  recs.push_back(p.produce("eqiad.fmt.rc", 0, "{\n\"n\":2}"));
  recs.push_back(p.produce("eqiad.fmt.rc", 0, R"({"n":3,"s":"data: x\nid: y"})"));
  ASSERT_TRUE(p.flush());
  // The flushed records arrive in milliseconds; 10 s only ends a failing test.
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return s.lines().size() >= 3; }, 10s))
      << describe(*c);
  auto lines = c->lines();
  ASSERT_EQ(lines.size(), 3u) << c->body();
  const std::size_t delivered[] = {0, 2, 3};  // "not json" is skipped
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(parse_json(lines[k]), expected_data(p.record(recs[delivered[k]]))) << lines[k];
  }
  EXPECT_TRUE(c->events().empty());
  EXPECT_TRUE(c->comments().empty());
  EXPECT_EQ(c->body().find("event:"), std::string::npos);
  EXPECT_EQ(c->body().find("\nid:"), std::string::npos);
  EXPECT_FALSE(c->body().starts_with(":ok"));
  EXPECT_TRUE(c->body().ends_with("\n"));
}

TEST(Format, Http10GetsTheStreamWithoutChunkedEncoding) {
  daemon_process d(format_daemon());
  auto c = open_stream(d.port(), "/v2/stream/rc", {}, 10);
  const auto& h = c->head();
  EXPECT_EQ(h.version, 10u);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(h.count("Content-Length"), 0u);
  EXPECT_EQ(h.get("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_FALSE(c->chunked());

  test_producer p(d.bootstrap());
  auto a = p.produce("eqiad.fmt.rc", 0, R"({"a":1})", 1700000000001);
  auto b = p.produce("eqiad.fmt.rc", 0, R"({"b":2})", 1700000000002);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(2)) << describe(*c);
  // The bytes after the header are the SSE text itself: no chunk-size lines.
  std::string body = c->raw().substr(c->head_size());
  EXPECT_EQ(body, c->body());
  EXPECT_TRUE(
      body.starts_with(":ok\n\nid: [{\"topic\":\"eqiad.fmt.rc\",\"partition\":0,\"offset\":0}]"
                       "\n\nevent: message\nid: ["))
      << body;
  EXPECT_EQ(parse_json(c->events()[0].data), expected_data(p.record(a)));
  EXPECT_EQ(parse_json(c->events()[1].data), expected_data(p.record(b)));
  EXPECT_TRUE(id_equals(c->events()[1].id, {{"eqiad.fmt.rc", 0, 2, 1700000000002}}));
  EXPECT_FALSE(c->eof());
}

}  // namespace
}  // namespace eventstreams::test

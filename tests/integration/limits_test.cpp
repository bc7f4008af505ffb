// Every request- and connection-level limit of API.md §7, each with its server.* setting: header
// size and read time, streams per request, connections per process and per client IP (peer or
// client_ip_header), counters that never drift, and max_connection_duration.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using settings = std::vector<std::pair<std::string, std::string>>;
using clock_type = std::chrono::steady_clock;

// `base` with these limits (server settings).
daemon_config with_server(daemon_config base, const settings& server) {
  base.server_settings = server;
  return base;
}

daemon_config named_stream_daemon(const std::string& name, const std::string& topic) {
  daemon_config cfg;
  cfg.streams = {{name, {topic}, {}, false}};
  return cfg;
}

// Sends GET `target` and reads the response header (and the ":ok" preamble of a 200).
std::unique_ptr<sse_client> attempt(std::uint16_t port, const std::string& target,
                                    const header_list& headers = {}, unsigned version = 11) {
  auto c = std::make_unique<sse_client>(port);
  c->send_request("GET", target, headers, version);
  EXPECT_TRUE(c->read_head()) << describe(*c);
  if (c->head_complete() && c->head().status == 200) {
    EXPECT_TRUE(c->read_until([](const sse_client& s) { return s.body().size() >= 5; }));
  }
  return c;
}

// Succeeds if `c` got a complete problem-JSON answer with this status and type (and a
// positive Retry-After where API.md §6 requires one).
::testing::AssertionResult is_problem(sse_client& c, int status, const std::string& type) {
  if (!c.head_complete())
    return ::testing::AssertionFailure() << "no response: " << describe(c);
  c.read_to_end(5s);  // a refusal's body follows its header at once
  const auto& h = c.head();
  auto body = parse_json(c.body());
  if (h.status != status || body.is_discarded() || body.value("type", "") != type ||
      body.value("status", 0) != status || h.get("Content-Type") != "application/json") {
    return ::testing::AssertionFailure()
           << "expected " << status << " " << type << "; " << describe(c);
  }
  if (status == 429 || status == 503) {
    auto retry = h.get("Retry-After");
    if (!retry || retry->empty() || retry->find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(*retry) <= 0) {
      return ::testing::AssertionFailure() << "no valid Retry-After: " << describe(c);
    }
  }
  return ::testing::AssertionSuccess();
}

// Opens a stream, retrying (bounded) while the answer is 429/503: a closed connection leaves
// the registry when its session object is destroyed, which may lag the close by milliseconds.
// 15 s only ends a test whose counter leaked.
std::unique_ptr<sse_client> open_when_admitted(std::uint16_t port, const std::string& target,
                                               const header_list& headers = {},
                                               unsigned version = 11) {
  std::unique_ptr<sse_client> c;
  wait_for(
      [&] {
        c = attempt(port, target, headers, version);
        return c->head_complete() && c->head().status != 429 && c->head().status != 503;
      },
      15s, 50ms);
  return c;
}

TEST(Limits, RequestHeaderOverMaxRequestHeaderBytesIs431) {
  // 2048 rather than the default 8192: a 3000-byte header passes the default but not this.
  daemon_process d(
      with_server(named_stream_daemon("s", "hdr.topic"), {{"max_request_header_bytes", "2048"}}));

  auto big = attempt(d.port(), "/v2/stream/s", {{"X-Pad", std::string(3000, 'a')}});
  EXPECT_TRUE(is_problem(*big, 431, "request_header_fields_too_large"));
  // The sum of the fields counts, not the largest one.
  header_list many;
  for (int i = 0; i < 50; ++i)
    many.emplace_back("X-Pad-" + std::to_string(i), std::string(60, 'b'));
  auto split = attempt(d.port(), "/v2/stream/s", many);
  EXPECT_TRUE(is_problem(*split, 431, "request_header_fields_too_large"));

  auto small = attempt(d.port(), "/v2/stream/s", {{"X-Pad", std::string(1000, 'a')}});
  ASSERT_TRUE(small->head_complete());
  EXPECT_EQ(small->head().status, 200) << describe(*small);
}

TEST(Limits, SlowClientsAreClosedAfterRequestHeaderTimeout) {
  daemon_process d(
      with_server(named_stream_daemon("s", "slow.topic"), {{"request_header_timeout", "1s"}}));
  // Each case: time from before the connection (or, keep-alive, the request) until the client
  // saw the close. The daemon's deadline runs from later moments (the accept, its response), so
  // a slow client can only make this longer, never shorter.
  auto closed_after = [&](sse_client& c, clock_type::time_point since) {
    // Due 1 s after the last byte; a 10 s wait also sees a close at the default of 10 s, which
    // in_bounds then refuses.
    EXPECT_TRUE(c.read_to_eof(10s)) << describe(c);
    return clock_type::now() - since;
  };
  auto in_bounds = [](clock_type::duration took, const char* what) {
    // Not before the 1 s deadline (less timer granularity; measured as above, a lower bound a
    // slow machine cannot break); well before the default of 10 s: the 6 s upper bound leaves
    // 5 s for a 1 s timer to fire and the close to arrive, and tells the setting from the default.
    EXPECT_GE(took, 900ms) << what;
    EXPECT_LE(took, 6s) << what;
  };
  {
    const auto since = clock_type::now();
    sse_client c(d.port());
    c.send_raw("GET /v2/stream/s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Part");
    in_bounds(closed_after(c, since), "partial header");
    EXPECT_FALSE(c.head_complete()) << describe(c);
  }
  {
    const auto since = clock_type::now();
    sse_client c(d.port());
    in_bounds(closed_after(c, since), "nothing sent");
  }
  {
    // Keep-alive: the idle time before the next request is bounded by the same setting.
    sse_client c(d.port());
    const auto since = clock_type::now();
    c.send_request("GET", "/healthz");
    ASSERT_TRUE(c.read_to_end(5s)) << describe(c);  // /healthz answers at once
    EXPECT_EQ(c.head().status, 200);
    in_bounds(closed_after(c, since), "idle keep-alive");
  }
  {
    // Trickling a byte every 100 ms must not reset the deadline: it covers the whole header.
    const auto start = clock_type::now();
    sse_client c(d.port());
    bool closed = false;
    const std::string header = "GET /v2/stream/s HTTP/1.1\r\nX-Slow: " + std::string(200, 'x');
    for (std::size_t i = 0; i < header.size() && !closed; ++i) {
      try {
        c.send_raw(header.substr(i, 1));
      } catch (const std::runtime_error&) {
        closed = true;  // the write failed: the daemon already closed the connection
        break;
      }
      // The pace of the trickle (a byte per 100 ms), not a wait for a result.
      closed = c.read_until([](const sse_client& s) { return s.eof(); }, 100ms);
    }
    // The 200 bytes take 20 s to trickle: the 1 s deadline passed long before; 5 s more only
    // ends a test that already failed.
    ASSERT_TRUE(closed || c.read_to_eof(5s)) << "trickling client never closed; " << describe(c);
    in_bounds(clock_type::now() - start, "trickle");
  }
  // The daemon still serves.
  EXPECT_EQ(http_get(d.port(), "/healthz").head.status, 200);
}

TEST(Limits, MoreThanMaxStreamsPerRequestIs400) {
  daemon_config cfg;
  cfg.streams = {{"a", {"a.topic"}, {}, false},
                 {"b", {"b.topic"}, {}, false},
                 {"c", {"c.topic"}, {"cc"}, false}};
  daemon_process d(with_server(cfg, {{"max_streams_per_request", "2"}}));

  auto two = attempt(d.port(), "/v2/stream/a,b");
  ASSERT_TRUE(two->head_complete());
  EXPECT_EQ(two->head().status, 200) << describe(*two);
  for (const char* target : {"/v2/stream/a,b,c", "/v2/stream/cc,a,b", "/v2/stream/a%2Cb%2Cc"}) {
    auto three = attempt(d.port(), target);
    EXPECT_TRUE(is_problem(*three, 400, "bad_request")) << target;
  }
}

TEST(Limits, MaxConnectionsAnswers503WithRetryAfterUntilOneCloses) {
  daemon_process d(with_server(named_stream_daemon("s", "max.topic"), {{"max_connections", "2"}}));
  auto first = open_stream(d.port(), "/v2/stream/s");
  auto second = open_stream(d.port(), "/v2/stream/s");
  auto third = attempt(d.port(), "/v2/stream/s");
  EXPECT_TRUE(is_problem(*third, 503, "unavailable"));

  first->close();
  auto again = open_when_admitted(d.port(), "/v2/stream/s");
  ASSERT_TRUE(again->head_complete());
  EXPECT_EQ(again->head().status, 200) << describe(*again);
  auto over = attempt(d.port(), "/v2/stream/s");
  EXPECT_TRUE(is_problem(*over, 503, "unavailable"));
}

TEST(Limits, ClientIpConnectionLimitAnswers429WithRetryAfter) {
  daemon_process d(
      with_server(named_stream_daemon("s", "ip.topic"), {{"client_ip_connection_limit", "2"}}));
  auto first = open_stream(d.port(), "/v2/stream/s");
  auto second = open_stream(d.port(), "/v2/stream/s");
  auto third = attempt(d.port(), "/v2/stream/s");
  EXPECT_TRUE(is_problem(*third, 429, "too_many_requests"));

  second->close();
  auto again = open_when_admitted(d.port(), "/v2/stream/s");
  ASSERT_TRUE(again->head_complete());
  EXPECT_EQ(again->head().status, 200) << describe(*again);
}

TEST(Limits, ClientIpHeaderCountsEachForwardedAddressSeparately) {
  daemon_process d(
      with_server(named_stream_daemon("s", "xff.topic"),
                  {{"client_ip_connection_limit", "1"}, {"client_ip_header", "X-Client-IP"}}));
  std::vector<std::unique_ptr<sse_client>> open;
  for (const char* ip : {"10.0.0.1", "10.0.0.2", "2001:db8::3"}) {
    open.push_back(attempt(d.port(), "/v2/stream/s", {{"X-Client-IP", ip}}));
    ASSERT_TRUE(open.back()->head_complete());
    EXPECT_EQ(open.back()->head().status, 200) << ip << ": " << describe(*open.back());
  }
  // The same value again, also as the first entry of a proxy list, and case-insensitively named.
  for (const header_list& h : {header_list{{"X-Client-IP", "10.0.0.1"}},
                               header_list{{"x-client-ip", " 10.0.0.2 , 192.0.2.9"}}}) {
    auto dup = attempt(d.port(), "/v2/stream/s", h);
    EXPECT_TRUE(is_problem(*dup, 429, "too_many_requests")) << h[0].second;
  }
  // Without the header the peer address counts, with the same limit.
  auto peer = attempt(d.port(), "/v2/stream/s");
  ASSERT_TRUE(peer->head_complete());
  EXPECT_EQ(peer->head().status, 200) << describe(*peer);
  auto peer2 = attempt(d.port(), "/v2/stream/s");
  EXPECT_TRUE(is_problem(*peer2, 429, "too_many_requests"));
}

TEST(Limits, ConnectionCountersGoDownExactlyOncePerClosedConnection) {
  // Per-IP limit 2 (by header, so two "clients" share the loopback peer), process limit 3.
  daemon_process d(
      with_server(named_stream_daemon("s", "drift.topic"), {{"max_connections", "3"},
                                                            {"client_ip_connection_limit", "2"},
                                                            {"client_ip_header", "X-Client-IP"}}));
  test_producer p(d.bootstrap());
  const header_list a{{"X-Client-IP", "192.0.2.1"}}, b{{"X-Client-IP", "192.0.2.2"}};
  constexpr int cycles = 90;
  for (int i = 0; i < cycles; ++i) {
    switch (i % 6) {
      case 0: {  // leaves right after the response header
        sse_client c(d.port());
        c.send_request("GET", "/v2/stream/s", a);
        ASSERT_TRUE(c.read_head()) << describe(c);
        break;
      }
      case 1: {  // leaves before the answer, while the daemon resolves positions
        sse_client c(d.port());
        c.send_request("GET", "/v2/stream/s", b);
        break;
      }
      case 2: {  // leaves after an event
        auto c = open_when_admitted(d.port(), "/v2/stream/s", a);
        ASSERT_EQ(c->head().status, 200) << describe(*c);
        p.produce("drift.topic", 0, R"({"i":)" + std::to_string(i) + "}");
        ASSERT_TRUE(p.flush());
        ASSERT_TRUE(c->read_events(1)) << describe(*c);
        break;
      }
      case 3: {  // refused by the per-IP limit while two are open: a refusal counts nothing
        auto c1 = open_when_admitted(d.port(), "/v2/stream/s", a);
        auto c2 = open_when_admitted(d.port(), "/v2/stream/s", a);
        ASSERT_EQ(c2->head().status, 200) << describe(*c2);
        auto c3 = attempt(d.port(), "/v2/stream/s", a);
        ASSERT_TRUE(is_problem(*c3, 429, "too_many_requests"));
        break;
      }
      case 4: {  // refused by the process limit
        auto c1 = open_when_admitted(d.port(), "/v2/stream/s", a);
        auto c2 = open_when_admitted(d.port(), "/v2/stream/s", b);
        auto c3 = open_when_admitted(d.port(), "/v2/stream/s", b);
        ASSERT_EQ(c3->head().status, 200) << describe(*c3);
        auto c4 = attempt(d.port(), "/v2/stream/s", {{"X-Client-IP", "192.0.2.3"}});
        ASSERT_TRUE(is_problem(*c4, 503, "unavailable"));
        break;
      }
      default: {  // HTTP/1.0 (close-framed) and HEAD, which never registers
        auto c = open_when_admitted(d.port(), "/v2/stream/s", b, 10);
        ASSERT_EQ(c->head().status, 200) << describe(*c);
        auto h = http_get(d.port(), "/v2/stream/s", b, "HEAD");
        ASSERT_EQ(h.head.status, 200);
        break;
      }
    }
  }
  double gauge = -1;
  // Closes reach the gauge in milliseconds; 15 s only ends a test whose gauge leaked.
  EXPECT_TRUE(wait_for(
      [&] { return (gauge = metric_sum(d.port(), "eventstreams_connected_clients")) == 0; }, 15s,
      50ms))
      << "eventstreams_connected_clients stays at " << gauge;

  // Exactly the configured numbers are admitted again: 2 for a, then 1 for b (process limit 3).
  auto a1 = open_when_admitted(d.port(), "/v2/stream/s", a);
  auto a2 = open_when_admitted(d.port(), "/v2/stream/s", a);
  ASSERT_EQ(a2->head().status, 200) << "per-IP counter leaked: " << describe(*a2);
  auto a3 = attempt(d.port(), "/v2/stream/s", a);
  EXPECT_TRUE(is_problem(*a3, 429, "too_many_requests")) << "per-IP counter went below zero";
  auto b1 = open_when_admitted(d.port(), "/v2/stream/s", b);
  ASSERT_EQ(b1->head().status, 200) << "process counter leaked: " << describe(*b1);
  auto b2 = attempt(d.port(), "/v2/stream/s", b);
  EXPECT_TRUE(is_problem(*b2, 503, "unavailable")) << "process counter went below zero";
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_connected_clients"), 3);

  for (auto* c : {a1.get(), a2.get(), b1.get()})
    c->close();
  EXPECT_TRUE(wait_for(  // as above: milliseconds, 15 s only ends a failing test
      [&] { return (gauge = metric_sum(d.port(), "eventstreams_connected_clients")) == 0; }, 15s,
      50ms))
      << "eventstreams_connected_clients stays at " << gauge;
  // Every started stream was counted closed exactly once.
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_client_connections_total"),
            metric_sum(d.port(), "eventstreams_clients_disconnected_total"));
}

TEST(Limits, MaxConnectionDurationEndsWithACompleteEventAndResumesWithoutGap) {
  daemon_process d(
      with_server(named_stream_daemon("s", "dur.topic"), {{"max_connection_duration", "2s"}}));
  // Taken before the request: the daemon's 2 s run from when the stream starts, after it.
  const auto requested = clock_type::now();
  auto first = open_stream(d.port(), "/v2/stream/s");

  // Events keep flowing while the deadline passes, so the end may land between two of them.
  std::atomic<int> produced{0};  // records() is not safe to read while the thread produces
  test_producer p(d.bootstrap());
  std::jthread producer([&](std::stop_token stop) {
    for (int i = 0; !stop.stop_requested(); ++i, ++produced) {
      p.produce("dur.topic", 0,
                R"({"n":)" + std::to_string(i) + R"(,"pad":")" +
                    std::string(static_cast<std::size_t>(i % 7) * 300, 'p') + "\"}");
      std::this_thread::sleep_for(5ms);  // pacing: ~200 events/s
    }
  });

  // Due 2 s after the stream started (a timer); 10 s only ends a stream that never ends.
  ASSERT_TRUE(first->read_to_end(10s)) << describe(*first);
  const auto took = clock_type::now() - requested;
  // Not before the 2 s: measured from before the request, a slow machine (or a reader that got
  // the preamble late) only makes it longer; 1.5 s leaves timer granularity aside. The upper
  // bound leaves 4 s for a 2 s timer and tells a stream that ignores the setting.
  EXPECT_GE(took, 1500ms);
  EXPECT_LE(took, 6s);
  EXPECT_TRUE(first->terminator_received()) << describe(*first);
  EXPECT_TRUE(first->protocol_error().empty()) << first->protocol_error();
  EXPECT_TRUE(first->body().ends_with("\n\n")) << describe(*first);
  ASSERT_FALSE(first->events().empty()) << describe(*first);
  EXPECT_FALSE(parse_json(first->events().back().data).is_discarded()) << describe(*first);

  // Let some events arrive while no connection is open, then stop.
  ASSERT_TRUE(wait_for([&] { return produced > 600; }, 20s));  // ~3 s at ~200 events/s
  producer.request_stop();
  producer.join();
  ASSERT_TRUE(p.flush());
  const auto& records = p.records();

  // Resume with the last id until every record arrived; each stream also ends after 2 s.
  std::vector<sse_event> got = first->events();
  for (int round = 0; round < 8 && got.size() < records.size(); ++round) {
    auto next = open_stream(d.port(), "/v2/stream/s", {{"Last-Event-ID", got.back().id}});
    next->read_until(
        [&](const sse_client& c) { return got.size() + c.events().size() >= records.size(); },
        10s);  // each connection ends after 2 s anyway; 8 rounds cover the ~1,000 records
    got.insert(got.end(), next->events().begin(), next->events().end());
  }
  ASSERT_EQ(got.size(), records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(parse_json(got[i].data), expected_data(records[i])) << "event " << i;
  }
  EXPECT_GE(metric_sum(d.port(), "eventstreams_clients_disconnected_total",
                       "reason=\"max_connection_duration\""),
            1);
}

TEST(Limits, MaxConnectionDurationEndsAStreamPausedByBackpressure) {
  // The deadline passes while the session is paused (its buffer is full and a write pending
  // because the client does not read); once the client reads again it must get a clean end.
  auto cfg = named_stream_daemon("s", "pause.topic");
  cfg.partitions = 4;  // the mock keeps ~5 MB per partition
  daemon_process d(with_server(cfg, {{"max_connection_duration", "2s"},
                                     {"stall_timeout", "60s"},
                                     {"max_buffered_bytes", "65536"}}));
  auto c = open_stream(d.port(), "/v2/stream/s");
  const auto opened = clock_type::now();
  test_producer p(d.bootstrap());
  const std::string pad(1000, 'p');
  for (int i = 0; i < 6000; ++i)  // 6 MB: more than the socket buffers of both ends hold
    p.produce("pause.topic", i % 4, R"({"i":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}");
  ASSERT_TRUE(p.flush());
  // Not reading until well past the 2 s deadline is the scenario itself, not a settling wait.
  std::this_thread::sleep_until(opened + 3500ms);

  // Once it reads, the client drains a few MB and the end follows: seconds at most; 15 s only
  // ends a stream that never ends.
  EXPECT_TRUE(c->read_to_end(15s)) << "no end after the deadline: " << c->raw().size() << " bytes, "
                                   << c->events().size() << " events";
  EXPECT_TRUE(c->body().ends_with("\n\n"));
  EXPECT_TRUE(c->protocol_error().empty()) << c->protocol_error();
  EXPECT_LT(c->events().size(), 6000u) << "the stream did not end at its deadline";
}

}  // namespace
}  // namespace eventstreams::test

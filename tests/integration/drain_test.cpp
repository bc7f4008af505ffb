// The drain after SIGTERM (docs/api.md §5.5): 200 open streams end in waves spread over
// server.shutdown_timeout, each after a complete event and with one `retry:` inside the window;
// /readyz and new stream requests answer 503 meanwhile; the process exits within the window. In
// both delivery modes (the shared mode ends its streams through the same session end).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "background_producer.hpp"
#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sanitized.hpp"
#include "sse_client.hpp"
#include "sse_client_pool.hpp"
#include "stream_checks.hpp"
#include "tcp_diag.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

class Drain : public ::testing::TestWithParam<std::string> {};

TEST_P(Drain, OpenStreamsEndInWavesOverTheWindowWithARetryInsideItAndTheProcessExitsInTime) {
  // Sanitized daemons run many times slower (and a consumer per connection brings a few
  // librdkafka threads each): those builds open 40 streams (4 waves) over a 6 s window, the
  // same checks at a load they serve.
  constexpr int streams = sanitized_build ? 40 : 200;
  constexpr std::int64_t window_ms = sanitized_build ? 6000 : 3000;
  constexpr auto window = std::chrono::milliseconds(window_ms);  // server.shutdown_timeout
  // The cluster outlives the daemon: the producer writes through the drain and after the exit.
  mock_cluster cluster(1);
  cluster.create_topic("drain.events", 1);
  daemon_config cfg;
  cfg.bootstrap_servers = cluster.bootstrap();
  cfg.fanout_mode = GetParam();
  cfg.shutdown_timeout = std::to_string(window_ms) + "ms";
  cfg.kafka_settings = {{"readiness_interval", "1s"}};
  cfg.streams = {{"drain", {"drain.events"}, {}, false}};
  daemon_process d(cfg);
  // /readyz is 200 before the signal (once the first metadata fetch is in: milliseconds; 20 s
  // only ends a broken start).
  ASSERT_TRUE(wait_for([&] { return http_get(d.port(), "/readyz").head.status == 200; }, 20s, 50ms))
      << d.stderr_text();

  sse_client_pool pool({.port = d.port(), .path = "/v2/stream/drain"});
  pool.start(streams);
  // NDJSON streams end in the waves too, without a retry field.
  std::vector<std::unique_ptr<sse_client>> ndjson;
  for (int i = 0; i < 3; ++i) {
    ndjson.push_back(std::make_unique<sse_client>(d.port()));
    ndjson.back()->send_request("GET", "/v2/stream/drain", {{"Accept", "application/json"}});
    ASSERT_TRUE(ndjson.back()->read_head()) << d.stderr_text();
    ASSERT_EQ(ndjson.back()->head().status, 200);
  }
  // Every stream set up and receiving (each set-up takes milliseconds; 60 s ends a broken run).
  ASSERT_TRUE(wait_for([&] { return pool.ok_count() == streams; }, 60s, 20ms))
      << pool.ok_count() << " of " << streams << " streams opened\n"
      << d.stderr_text();
  // Events flow during the whole drain (one every 10 ms; 50 ms in sanitized builds), so that an end
  // in the middle of an event would show. They start once every stream is open: each gets all of
  // them, from offset 0.
  background_producer producer(cluster.bootstrap(), {{"drain.events", 0}}, 15,
                               sanitized_build ? 50ms : 10ms);
  ASSERT_TRUE(wait_for([&] { return pool.total_events() >= 10u * streams; }, 30s, 20ms))
      << pool.total_events() << " events\n"
      << d.stderr_text();

  const auto signalled = std::chrono::steady_clock::now();
  const std::int64_t signalled_ns = steady_ns();
  d.signal(SIGTERM);

  // From the signal on /readyz answers 503 (the signal is handled in milliseconds; the drain
  // lasts most of the window, and the streams still open below prove it was not over).
  http_result ready;
  ASSERT_TRUE(wait_for([&] { return (ready = http_get(d.port(), "/readyz")).head.status == 503; },
                       window, 10ms))
      << ready.head.status << " " << ready.body << "\n"
      << d.stderr_text();
  EXPECT_EQ(parse_json(ready.body).value("type", ""), "unavailable") << ready.body;
  // A new stream request gets a problem 503 with Retry-After, not a stream.
  sse_client late(d.port());
  late.send_request("GET", "/v2/stream/drain");
  ASSERT_TRUE(late.read_to_end()) << describe(late);
  EXPECT_EQ(late.head().status, 503);
  EXPECT_TRUE(late.head().get("Retry-After").has_value());
  EXPECT_EQ(late.head().get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(parse_json(late.body()).value("type", ""), "unavailable") << late.body();
  // A HEAD gets the same status and headers, no body.
  auto head = http_get(d.port(), "/v2/stream/drain", {}, "HEAD");
  EXPECT_EQ(head.head.status, 503);
  EXPECT_TRUE(head.head.get("Retry-After").has_value());
  EXPECT_TRUE(head.body.empty());
  const int ended_after_503s = pool.ended_count();
  EXPECT_LT(ended_after_503s, streams) << "the drain was over before /readyz answered 503";

  // The daemon's own bound is the window: its watchdog exits at the deadline whatever happens.
  // How long after the signal this test sees the exit depends on the machine's load, so it is
  // printed, not asserted; 10 s more only ends a broken run.
  auto status = d.wait_exit(window + 10s);
  const auto exited = std::chrono::steady_clock::now();
  ASSERT_TRUE(status.has_value()) << d.stderr_text();
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
  expect_stopped_by_the_deadline(d.stderr_text());
  std::printf("exit seen %.0f ms after the signal (window %lld ms)\n",
              std::chrono::duration<double, std::milli>(exited - signalled).count(),
              static_cast<long long>(window_ms));
  ASSERT_TRUE(producer.stop());

  // Everything the daemon wrote is in the sockets once it exited; 10 s bounds a broken test.
  ASSERT_TRUE(wait_for([&] { return pool.ended_count() == streams; }, 10s, 10ms));
  pool.stop();
  std::int64_t first = INT64_MAX, last = 0;
  for (std::size_t i = 0; i < pool.stats().size(); ++i) {
    const auto& st = pool.stats()[i];
    SCOPED_TRACE("stream " + std::to_string(i));
    EXPECT_EQ(st.error, "") << "not ended by the server with a complete body";
    EXPECT_FALSE(st.ended_inside_block) << "ended in the middle of an event";
    EXPECT_EQ(st.gaps, 0u);
    EXPECT_EQ(st.bad_events, 0u);
    EXPECT_EQ(st.retries, 1u);
    EXPECT_GT(st.retry_ms, 0);
    EXPECT_LE(st.retry_ms, window_ms);
    first = std::min(first, st.ended_ns - signalled_ns);
    last = std::max(last, st.ended_ns - signalled_ns);
  }
  const double spread = static_cast<double>(last - first) / 1e6;
  std::printf("%d streams closed from %.0f ms to %.0f ms after the signal (%.0f%% of the window)\n",
              streams, static_cast<double>(first) / 1e6, static_cast<double>(last) / 1e6,
              100.0 * spread / static_cast<double>(window_ms));
  // The spread the clients see shrinks when a busy machine runs the first wave late, so what is
  // asserted holds on any machine: the daemon's plan spans at least 80 % of the window, and the
  // last stream closed no sooner than that after the signal (lateness only makes it later).
  std::smatch plan;
  const std::string log = d.stderr_text();
  ASSERT_TRUE(std::regex_search(log, plan,
                                std::regex(R"(ending (\d+) streams in (\d+) waves over (\d+)ms)")))
      << log;
  EXPECT_EQ(std::stoi(plan[1]), streams + static_cast<int>(ndjson.size()));
  EXPECT_GE(std::stoi(plan[2]), 2);
  EXPECT_GE(std::stod(plan[3]), 0.8 * static_cast<double>(window_ms));
  EXPECT_GE(static_cast<double>(last) / 1e6, 0.8 * static_cast<double>(window_ms));
  // The retries are random: equal values would be no spread at all.
  std::vector<std::int64_t> retries;
  for (const auto& st : pool.stats())
    retries.push_back(st.retry_ms);
  std::sort(retries.begin(), retries.end());
  EXPECT_GT(std::unique(retries.begin(), retries.end()) - retries.begin(), streams / 2);

  for (auto& c : ndjson) {
    ASSERT_TRUE(c->read_to_eof(5s)) << describe(*c);
    EXPECT_TRUE(c->terminator_received()) << describe(*c);
    EXPECT_EQ(c->body().find("retry"), std::string::npos);
    EXPECT_TRUE(c->body().empty() || c->body().back() == '\n') << "a cut NDJSON line";
  }
}

// /proc/sys/net/ipv4/tcp_wmem's maximum: how far the kernel grows a socket's send buffer.
std::size_t max_send_buffer() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  std::size_t min = 0, def = 0, max = 4u << 20;
  in >> min >> def >> max;
  return max;
}

// A stream whose socket is full when the drain comes (the client stopped reading) still ends
// after a complete event, with its retry, once the client reads again; one whose client never
// reads again is closed at the cutoff and does not hold the exit past the window.
// (The default delivery mode only: the shared mode ends its streams through the same session end
// and writer, which the test above checks.)
TEST(DrainStalled, AStreamWithAFullSocketEndsCompleteOnceReadAndANeverReadOneDoesNotHoldTheExit) {
  constexpr int partitions = 4;
  constexpr std::size_t record_bytes = 1024;
  // A wider window than above: the client that reads again takes a few MB meanwhile.
  constexpr auto window = 4s;
  mock_cluster cluster(1);
  cluster.create_topic("drain.slow", partitions);
  daemon_config cfg;
  cfg.bootstrap_servers = cluster.bootstrap();
  cfg.shutdown_timeout = "4s";
  cfg.kafka_settings = {{"readiness_interval", "1s"}};
  // Two names for one topic: the events each stream encoded are counted apart.
  cfg.streams = {{"later", {"drain.slow"}, {}, false}, {"never", {"drain.slow"}, {}, false}};
  // Nothing but the drain ends the stalled streams: no stall timeout within the test.
  cfg.server_settings = {{"stall_timeout", "1h"}, {"max_buffered_bytes", "65536"}};
  cfg.kafka_properties = {{"queued.max.messages.kbytes", "256"}};
  daemon_process d(cfg);

  pool_options o;
  o.port = d.port();
  o.partitions = partitions;
  o.rcvbuf = 4096;  // fills after a few KB
  o.read = false;   // reads nothing until resume_reading()
  o.path = "/v2/stream/later";
  sse_client_pool later(o);
  o.path = "/v2/stream/never";
  sse_client_pool never(o);
  later.start(1);
  never.start(1);
  // Both streaming (their start positions fixed at offset 0) before the first record: set-ups
  // take milliseconds; 30 s ends a broken run.
  double connected = -1;
  ASSERT_TRUE(wait_for(
      [&] { return (connected = metric_sum(d.port(), "eventstreams_connected_clients")) == 2; },
      30s, 50ms))
      << connected << " streaming";

  // More than a socket holds (its send buffer grows to tcp_wmem's maximum, the client's receive
  // buffer holds a few KB), within what the mock broker keeps (about 5 MB per partition).
  producer_options po;
  po.keep_records = false;
  po.linger_ms = 5;
  po.properties = {{"batch.num.messages", "16"}};
  test_producer p(cluster.bootstrap(), po);
  const auto records = std::min<std::size_t>(partitions * (4u << 20) / record_bytes,
                                             (max_send_buffer() + (2u << 20)) / record_bytes);
  for (std::size_t i = 0; i < records; ++i) {
    std::string v = R"({"i":)" + std::to_string(i) + R"(,"pad":")";
    v.append(record_bytes - v.size() - 2, 'x') += "\"}";
    p.produce("drain.slow", static_cast<std::int32_t>(i % partitions), v);
  }
  ASSERT_TRUE(p.flush(60s));
  // Each session has a write in flight that waits for its client: its socket is full, and it
  // stopped encoding (a session encodes while its own buffer has room, and has bytes left only
  // while a write is pending) with records still to read: its count of encoded events stays the
  // same for 10 samples 50 ms apart below the records produced (a session that is not held
  // back reads on until it has them all, a fetch every 20 ms). Milliseconds of reading from the
  // cluster first; 60 s ends a broken run.
  auto encoded = [&](const std::string& stream) {
    return metric_sum(d.port(), "eventstreams_events_sent_total", "stream=\"" + stream + "\"");
  };
  auto full = [&](const sse_client_pool& pool) {
    auto mem = tcp_socket_memory(d.port(), pool.local_port(0));
    return mem && mem->send_full();
  };
  std::pair<double, double> last{-1, -1};
  int same = 0;
  ASSERT_TRUE(wait_for(
      [&] {
        std::pair<double, double> now{encoded("later"), encoded("never")};
        same = now == last ? same + 1 : 0;
        last = now;
        return same >= 10 && full(later) && full(never) &&
               now.first < static_cast<double>(records) &&
               now.second < static_cast<double>(records);
      },
      60s, 50ms))
      << last.first << " and " << last.second << " of " << records << " events encoded";

  const auto signalled = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  ASSERT_TRUE(
      wait_for([&] { return http_get(d.port(), "/readyz").head.status == 503; }, window, 10ms));
  later.resume_reading();
  auto status = d.wait_exit(window + 10s);
  const auto exited = std::chrono::steady_clock::now();
  ASSERT_TRUE(status.has_value()) << d.stderr_text();
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
  // As above: the daemon's own bound is the window (its watchdog); the figure is printed.
  expect_stopped_by_the_deadline(d.stderr_text());
  std::printf("exit seen %.0f ms after the signal (window 4000 ms)\n",
              std::chrono::duration<double, std::milli>(exited - signalled).count());
  EXPECT_NE(d.stderr_text().find("drain cutoff passed with 1 streams open"), std::string::npos)
      << d.stderr_text();

  // Everything the daemon wrote is in the socket; 10 s bounds a broken test.
  ASSERT_TRUE(wait_for([&] { return later.ended_count() == 1; }, 10s, 10ms));
  later.stop();
  never.stop();
  const auto& st = later.stats()[0];
  EXPECT_EQ(st.error, "") << "not ended by the server with a complete body";
  EXPECT_FALSE(st.ended_inside_block);
  EXPECT_EQ(st.gaps + st.bad_events, 0u);
  EXPECT_EQ(st.retries, 1u);
  EXPECT_GT(st.retry_ms, 0);
  EXPECT_LE(st.retry_ms, 4000);
}

INSTANTIATE_TEST_SUITE_P(Modes, Drain, ::testing::Values("per_connection", "shared"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace eventstreams::test

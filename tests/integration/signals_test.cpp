// Signals: SIGHUP reloads the streams map (good and broken files), SIGTERM ends the daemon within
// server.shutdown_timeout even while Kafka lookups hang, and a second SIGTERM ends it at once.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// Replaces the file in one step: the daemon never reads a half-written config.
void write_config(const std::filesystem::path& path, const std::string& yaml) {
  auto tmp = path.string() + ".new";
  std::ofstream(tmp, std::ios::binary) << yaml;
  std::filesystem::rename(tmp, path);
}

// A daemon whose Kafka is unreachable (nothing listens on port 1), debug-logged, with one
// client whose stream is stuck in its start-up lookup (kafka_timeout 60 s), and the readiness
// refresh stuck as well: what a Kafka outage looks like.
struct stuck_stream {
  daemon_process d;
  std::unique_ptr<sse_client> c;
  static daemon_config config(const std::string& shutdown_timeout) {
    daemon_config cfg;
    cfg.bootstrap_servers = "127.0.0.1:1";
    cfg.kafka_timeout = "60s";
    cfg.shutdown_timeout = shutdown_timeout;
    cfg.log_level = "debug";
    cfg.kafka_settings = {{"readiness_interval", "1s"}};
    cfg.streams = {{"s1", {"ops.unreachable"}, {}, false}};
    return cfg;
  }
  explicit stuck_stream(const std::string& shutdown_timeout)
      : d(config(shutdown_timeout)), c(std::make_unique<sse_client>(d.port())) {
    c->send_request("GET", "/v2/stream/s1");
    // The request reaches its lookup in milliseconds; 10 s only ends a broken set-up.
    if (!wait_for([&] { return d.stderr_text().find("open client=") != std::string::npos; }, 10s))
      throw std::runtime_error("the stream never opened: " + d.stderr_text());
  }
};

daemon_config reload_config(bool with_fresh) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.shutdown_timeout = "8s";
  cfg.streams = {{"old", {"reload.old"}, {}, false}};
  if (with_fresh)
    cfg.streams.push_back({"fresh", {"reload.fresh"}, {"fr"}, false});
  return cfg;
}

// The status of GET `target` (a stream's response never ends: only its header is read).
int status_of(std::uint16_t port, const std::string& target) {
  sse_client c(port);
  c.send_request("GET", target);
  return c.read_head() ? c.head().status : 0;
}

// Waits of these tests for something the daemon does in milliseconds (log a reload, write an
// event): 10 s only ends a test that already failed.
constexpr auto step = std::chrono::seconds(10);

TEST(Signals, SighupAddsAStreamWhileOpenStreamsKeepStreaming) {
  daemon_process d(reload_config(false));
  auto old_client = open_stream(d.port(), "/v2/stream/old");
  auto p = std::make_unique<test_producer>(d.bootstrap());
  p->produce("reload.old", 0, R"({"n":1})");
  ASSERT_TRUE(p->flush());
  ASSERT_TRUE(old_client->read_events(1)) << describe(*old_client);
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);

  write_config(d.config_path(), reload_config(true).to_yaml());
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return d.stderr_text().find("reloaded") != std::string::npos; }, step))
      << d.stderr_text();

  auto list = parse_json(http_get(d.port(), "/v2/streams").body);
  ASSERT_TRUE(list.contains("fresh")) << list.dump();
  EXPECT_EQ(list["fresh"]["topics"], nlohmann::json::array({"reload.fresh"}));
  EXPECT_EQ(list["fresh"]["aliases"], nlohmann::json::array({"fr"}));
  EXPECT_NE(http_get(d.port(), "/?spec").body.find("/v2/stream/fresh"), std::string::npos);

  // The embedded cluster created the new topic: the new stream opens and delivers.
  auto fresh_client = open_stream(d.port(), "/v2/stream/fr");
  auto fresh_rec = p->produce("reload.fresh", 0, R"({"n":2})");
  auto old_rec = p->produce("reload.old", 0, R"({"n":3})");
  ASSERT_TRUE(p->flush());
  ASSERT_TRUE(fresh_client->read_events(1)) << describe(*fresh_client);
  EXPECT_EQ(parse_json(fresh_client->events()[0].data), expected_data(p->record(fresh_rec)));
  // The connection opened before the reload kept its map and kept streaming.
  ASSERT_TRUE(old_client->read_events(2)) << describe(*old_client);
  EXPECT_EQ(parse_json(old_client->events()[1].data), expected_data(p->record(old_rec)));
  p.reset();

  // SIGTERM with both clients connected: both end cleanly and the daemon exits 0 within its
  // shutdown_timeout (8 s; ending two streams takes milliseconds).
  auto signalled = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  for (auto* c : {old_client.get(), fresh_client.get()}) {
    ASSERT_TRUE(c->read_to_eof(step)) << describe(*c);
    EXPECT_TRUE(c->terminator_received()) << describe(*c);
  }
  auto status = d.wait_exit(15s);
  ASSERT_TRUE(status.has_value()) << "still running 15 s after SIGTERM";
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 8s);
}

// A reload that changes streams' delivery modes (docs/api.md §11): a stream made per connection
// is served per connection from then on; one made shared is too, until a restart (the shared
// consumer learns its topics at start); the streams opened before the reload go on in their
// modes and lose nothing.
TEST(Signals, SighupChangingStreamsFanoutKeepsOpenStreamsAndServesNewOnes) {
  auto config = [](const char* a_mode, const char* b_mode) {
    daemon_config cfg = reload_config(false);
    cfg.fanout_mode = "per_connection";
    cfg.streams = {{"a", {"mode.a"}, {}, false, a_mode}, {"b", {"mode.b"}, {}, false, b_mode}};
    return cfg;
  };
  daemon_process d(config("shared", "per_connection"));
  std::vector<std::unique_ptr<sse_client>> clients;
  clients.push_back(open_stream(d.port(), "/v2/stream/a"));
  clients.push_back(open_stream(d.port(), "/v2/stream/b"));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_open", R"(mode="shared")"), 1);

  write_config(d.config_path(), config("per_connection", "shared").to_yaml());
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return d.stderr_text().find("reloaded") != std::string::npos; }, step))
      << d.stderr_text();
  clients.push_back(open_stream(d.port(), "/v2/stream/a"));
  clients.push_back(open_stream(d.port(), "/v2/stream/b"));
  auto p = std::make_unique<test_producer>(d.bootstrap());
  std::vector<std::size_t> a_records, b_records;
  for (int n = 0; n < 3; ++n) {
    a_records.push_back(p->produce("mode.a", 0, R"({"a":)" + std::to_string(n) + "}"));
    b_records.push_back(p->produce("mode.b", 0, R"({"b":)" + std::to_string(n) + "}"));
  }
  ASSERT_TRUE(p->flush());
  for (std::size_t i = 0; i < clients.size(); ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    auto& c = *clients[i];
    ASSERT_TRUE(c.read_events(3, step)) << describe(c);
    const auto& records = i % 2 == 0 ? a_records : b_records;
    for (std::size_t k = 0; k < 3; ++k)
      EXPECT_EQ(parse_json(c.events()[k].data), expected_data(p->record(records[k])));
  }
  // Only the first stream of `a` went through the shared consumer.
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_opened_total", R"(mode="shared")"), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_opened_total", R"(mode="per_connection")"),
            3);
}

TEST(Signals, BrokenReloadIsLoggedAndKeepsThePreviousStreams) {
  daemon_process d(reload_config(false));
  auto old_client = open_stream(d.port(), "/v2/stream/old");
  const auto config = d.config_path();
  auto reload_and_wait = [&](const std::string& yaml, const std::string& logged, std::size_t n) {
    write_config(config, yaml);
    d.signal(SIGHUP);
    return wait_for([&] { return occurrences(d.stderr_text(), logged) >= n; }, step);
  };

  // Invalid YAML, then a valid one with an unknown key: both name the new stream "fresh".
  ASSERT_TRUE(reload_and_wait("streams:\n  fresh:\n    topics: [\"reload.fresh\"\n  old: {\n",
                              "reload failed", 1))
      << d.stderr_text();
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);
  EXPECT_EQ(status_of(d.port(), "/v2/stream/old"), 200);

  auto with_bogus = reload_config(true);
  with_bogus.server_settings = {{"bogus_key", "1"}};
  ASSERT_TRUE(reload_and_wait(with_bogus.to_yaml(), "reload failed", 2)) << d.stderr_text();
  auto failures = d.stderr_text();
  EXPECT_NE(failures.find("bogus_key"), std::string::npos) << failures;
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);
  EXPECT_FALSE(parse_json(http_get(d.port(), "/v2/streams").body).contains("fresh"));
  EXPECT_EQ(status_of(d.port(), "/v2/stream/old"), 200);
  EXPECT_EQ(occurrences(failures, "reloaded"), 0u);

  // The failures changed nothing: a good file still reloads, and the old stream still streams.
  ASSERT_TRUE(reload_and_wait(reload_config(true).to_yaml(), "reloaded", 1)) << d.stderr_text();
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 200);
  test_producer p(d.bootstrap());
  auto rec = p.produce("reload.old", 0, R"({"after":"reloads"})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(old_client->read_events(1)) << describe(*old_client);
  EXPECT_EQ(parse_json(old_client->events()[0].data), expected_data(p.record(rec)));
}

TEST(Signals, SigtermExitsWithinShutdownTimeoutWhileKafkaLookupsHang) {
  stuck_stream s("1s");
  auto signalled = std::chrono::steady_clock::now();
  s.d.signal(SIGTERM);
  // README: "exit 0 within server.shutdown_timeout" (1 s here). What this catches is a daemon
  // that waits for its hung lookups (60 s): 15 s sits far from both (a loaded machine adds
  // tenths of a second to the exit, not seconds).
  auto status = s.d.wait_exit(30s);
  ASSERT_TRUE(status.has_value()) << "still running 30 s after SIGTERM:\n" << s.d.stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 15s);
  EXPECT_TRUE(status->exited && status->code == 0) << s.d.stderr_text();
}

TEST(Signals, SecondSigtermWhileDrainingExitsAtOnce) {
  stuck_stream s("60s");  // the stuck stream keeps the drain waiting
  s.d.signal(SIGTERM);
  ASSERT_TRUE(wait_for(
      [&] {
        return s.d.stderr_text().find("shutting down: ending 1 streams") != std::string::npos;
      },
      step))
      << s.d.stderr_text();
  // Still draining (the point of the test, not a synchronisation): no exit within 500 ms. A
  // slow machine only makes an early exit less likely.
  ASSERT_FALSE(s.d.wait_exit(500ms).has_value()) << s.d.stderr_text();

  auto second = std::chrono::steady_clock::now();
  s.d.signal(SIGTERM);
  // "At once" against the 60 s drain it would otherwise wait for: 15 s is far from both.
  auto status = s.d.wait_exit(30s);
  ASSERT_TRUE(status.has_value()) << "still running 30 s after the second SIGTERM";
  EXPECT_LT(std::chrono::steady_clock::now() - second, 15s);
  EXPECT_TRUE(!status->exited || status->code != 0) << "a forced exit must not report success";
  EXPECT_NE(s.d.stderr_text().find("second signal"), std::string::npos) << s.d.stderr_text();
}

}  // namespace
}  // namespace eventstreams::test

// Readiness: /readyz is 200 once Kafka answers, and 503 with a reason (and streams 503 too) while
// it does not, when /healthz still says the process is alive.
#include <gtest/gtest.h>

#include <csignal>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

TEST(Readiness, ReadyzIsReadyWithTheEmbeddedCluster) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"s1", {"ops.ready"}, {}, false}};
  daemon_process d(cfg);
  http_result res;
  // The first readiness refresh runs at start-up and takes milliseconds on the embedded
  // cluster; 20 s only ends a test that already failed.
  EXPECT_TRUE(
      wait_for([&] { return (res = http_get(d.port(), "/readyz")).head.status == 200; }, 20s, 50ms))
      << res.body;
  EXPECT_EQ(parse_json(res.body), nlohmann::json({{"status", "ready"}}));
}

TEST(Readiness, ReadyzIs503WithAReasonWhenKafkaIsUnreachable) {
  daemon_config cfg;
  cfg.bootstrap_servers = "127.0.0.1:1";  // nothing listens there
  cfg.kafka_timeout = "500ms";
  cfg.log_level = "debug";
  cfg.kafka_settings = {{"readiness_interval", "1s"}};
  cfg.streams = {{"s1", {"ops.unreachable"}, {}, false}};
  daemon_process d(cfg);
  // Two failed refreshes (every third of readiness_interval, each up to 500 ms) take ~1.5 s;
  // 15 s only ends a test that already failed.
  ASSERT_TRUE(wait_for([&] { return occurrences(d.stderr_text(), "readiness:") >= 2; }, 15s))
      << d.stderr_text();
  auto res = http_get(d.port(), "/readyz");
  EXPECT_EQ(res.head.status, 503);
  EXPECT_TRUE(res.head.get("Retry-After").has_value());
  auto body = parse_json(res.body);
  EXPECT_EQ(body.value("type", ""), "kafka_unavailable") << res.body;
  EXPECT_FALSE(body.value("detail", "").empty()) << res.body;
  EXPECT_EQ(http_get(d.port(), "/healthz").head.status, 200);  // alive, just not ready
  sse_client c(d.port());
  c.send_request("GET", "/v2/stream/s1");
  ASSERT_TRUE(c.read_head()) << describe(c);
  EXPECT_EQ(c.head().status, 503);  // streams cannot start either
}

}  // namespace
}  // namespace eventstreams::test

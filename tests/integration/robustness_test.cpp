// Nothing escapes an I/O thread, and drop-in details of the original service: text that is not
// UTF-8 in the config, running out of descriptors, the security headers, NDJSON's end on a
// fatal error, the inline stream enum of /?spec.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "daemon_process.hpp"
#include "kafka/consumer.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

extern char** environ;

namespace eventstreams::test {
namespace {

TEST(Robustness, DescriptionThatIsNotUtf8IsRefusedByTheConfigCheck) {
  // It used to pass --check-config; then the first GET /v2/streams ended the process.
  auto dir =
      std::filesystem::temp_directory_path() / ("eventstreams-utf8-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "bad.yaml";
  std::ofstream(file) << "kafka: {bootstrap_servers: embedded}\n"
                         "streams:\n  rc:\n    topics: [a]\n    description: \"caf\xc3 au lait\"\n";
  // --check-config reads one file and exits: 10 s is far above the milliseconds it takes.
  auto r = run_daemon_binary({"--check-config", file.string()}, dir / "out.txt", 10s);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(file.string() + ": streams.rc.description: is not valid UTF-8"),
            std::string::npos)
      << r.output;
  std::filesystem::remove_all(dir);
}

TEST(Robustness, EveryResponseCarriesTheSecurityHeaders) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"rc", {"sec.rc"}, {}, false}};
  daemon_process d(cfg);
  for (const char* target : {"/v2/streams", "/?spec", "/_info", "/healthz", "/metrics",
                             "/robots.txt", "/nowhere", "/v2/stream/unknown", "/"}) {
    SCOPED_TRACE(target);
    auto r = http_get(d.port(), target);
    ASSERT_NE(r.head.status, 0);
    EXPECT_EQ(r.head.get("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.head.get("X-Frame-Options"), "SAMEORIGIN");
    EXPECT_EQ(r.head.get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
  }
  // The stream itself, and its preflight.
  auto c = open_stream(d.port(), "/v2/stream/rc");
  EXPECT_EQ(c->head().get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(c->head().get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
  auto pre = http_get(d.port(), "/v2/stream/rc", {{"Origin", "https://a.org"}}, "OPTIONS");
  EXPECT_EQ(pre.head.get("X-Frame-Options"), "SAMEORIGIN");
  // The page keeps its own policy, which lets its inline script run; only one policy is sent.
  auto ui = http_get(d.port(), "/v2/ui");
  EXPECT_EQ(ui.head.count("Content-Security-Policy"), 1u);
  EXPECT_TRUE(
      ui.head.get("Content-Security-Policy").value_or("").starts_with("default-src 'self'"));
  EXPECT_EQ(ui.head.get("X-Content-Type-Options"), "nosniff");
}

TEST(Robustness, SpecEnumeratesTheStreamsInlineAndSorted) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"zeta", {"spec.z"}, {"b-alias"}, false}, {"alpha", {"spec.a"}, {}, false}};
  daemon_process d(cfg);
  auto doc = parse_json(http_get(d.port(), "/?spec").body);
  ASSERT_TRUE(doc.is_object());
  // Where the original's UI reads it.
  auto names =
      doc["paths"]["/v2/stream/{streams}"]["get"]["parameters"][0]["schema"]["items"]["enum"];
  EXPECT_EQ(names, nlohmann::json({"alpha", "b-alias", "zeta"})) << names.dump();
}

TEST(Robustness, NdjsonEndsWithoutAnErrorFrameOnAFatalKafkaError) {
  mock_cluster cluster(1);
  cluster.create_topic("ndfatal.t", 1);
  daemon_config cfg;
  cfg.bootstrap_servers = cluster.bootstrap();
  cfg.streams = {{"nd", {"ndfatal.t"}, {}, false}};
  daemon_process d(cfg);
  auto c = open_stream(d.port(), "/v2/stream/nd", {{"Accept", "application/json"}}, 11, false);
  test_producer p(cluster.bootstrap());
  p.produce("ndfatal.t", 0, R"({"n":0})", 0);
  ASSERT_TRUE(p.flush());
  // A produced record reaches an open stream in milliseconds (one fetch round trip on loopback);
  // 10 s only ends a test that is already failing.
  ASSERT_TRUE(c->read_until([](const sse_client& s) { return s.lines().size() >= 1; }, 10s))
      << describe(*c);
  cluster.push_request_errors(api_fetch, {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                          RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                          RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
  // The fetch error reaches the session within librdkafka's fetch backoff; 20 s is its bound
  // in the SSE twin of this test (faults_test.cpp) with a wide margin.
  ASSERT_TRUE(c->read_to_end(20s)) << describe(*c);
  EXPECT_TRUE(c->terminator_received());
  // Only the one event, as a JSON line: no "event: error", no id, nothing else.
  ASSERT_EQ(c->lines().size(), 1u) << c->body();
  EXPECT_EQ(parse_json(c->lines()[0])["n"], 0) << c->body();
  EXPECT_EQ(c->body().find("event:"), std::string::npos) << c->body();
  EXPECT_EQ(c->body().find("id:"), std::string::npos) << c->body();
}

// Raises and restores this process's descriptor limit.
class fd_limit {
 public:
  explicit fd_limit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
  }
  ~fd_limit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  fd_limit(const fd_limit&) = delete;
  fd_limit& operator=(const fd_limit&) = delete;

 private:
  rlimit saved_{};
};

TEST(Robustness, WakeFdDuplicationReportsEmfileInsteadOfThrowing) {
  // The session duplicates the consumer's wake-up descriptor on its strand; at the limit that
  // used to throw there (ending the process) and now reports -1/EMFILE, answered with 503.
  mock_cluster cluster(1);
  cluster.create_topic("emfile.t", 1);
  kafka_config kcfg;
  kafka::consumer consumer(kcfg, cluster.bootstrap(), {{"emfile.t", 0, 0, std::nullopt}});
  {
    // Every descriptor below the limit in use. librdkafka's threads in this process (the mock
    // cluster's, the consumer's) open and close sockets at any time: a limit at the lowest free
    // descriptor, probed once, left a hole whenever one of them closed a socket below it before
    // the call (seen once under ctest -j2). So this test fills every free descriptor below the
    // limit itself, and fills again if a close made a hole between the filling and the call.
    int probe = ::dup(0);
    ASSERT_GE(probe, 0);
    ::close(probe);
    fd_limit limit(static_cast<rlim_t>(probe + 16));
    std::vector<int> fillers;
    const auto fill = [&] {
      for (int f = ::dup(0); f >= 0; f = ::dup(0))
        fillers.push_back(f);
    };
    bool refused = false;
    // A hole needs a close in a window of microseconds: 20 tries only bound a broken run.
    for (int attempt = 0; attempt < 20 && !refused; ++attempt) {
      fill();
      int fd = -1;
      EXPECT_NO_THROW(fd = consumer.dup_wake_fd());
      const int err = errno;
      if (fd >= 0) {
        fillers.push_back(fd);  // a descriptor closed meanwhile freed a slot: fill and retry
        continue;
      }
      EXPECT_EQ(err, EMFILE);
      refused = true;
    }
    EXPECT_TRUE(refused) << "dup_wake_fd never met the limit";
    for (int f : fillers)
      ::close(f);
  }
  int fd = consumer.dup_wake_fd();
  EXPECT_GE(fd, 0);
  if (fd >= 0)
    ::close(fd);
}

TEST(Robustness, RunningOutOfDescriptorsAnswers503WithRetryAfterAndRecovers) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"rc", {"fds.rc"}, {}, false}};
  daemon_process d(cfg);
  // One "rdk:main" thread per librdkafka handle: the lookup client's and the embedded cluster's
  // exist before any stream.
  const int handles_before = count_threads_named(d.pid(), "rdk:main");
  ASSERT_GT(handles_before, 0);
  // A first stream: every descriptor that stays for the process's life is open after it.
  { open_stream(d.port(), "/v2/stream/rc"); }
  // Its consumer is destroyed on the blocking pool, after waiting up to 1 s for its metadata:
  // `base` must not count its descriptors, or every limit below leaves room for a whole stream
  // and nothing is refused (seen once under TSan, where the old check, two equal counts 200 ms
  // apart, passed while the consumer still waited). Its handle is gone when its rdk:main
  // thread is; 10 s only bounds a daemon that leaks consumers.
  ASSERT_TRUE(
      wait_for([&] { return count_threads_named(d.pid(), "rdk:main") <= handles_before; }, 10s))
      << count_threads_named(d.pid(), "rdk:main") << " librdkafka handles, " << handles_before
      << " before the first stream";
  // rd_kafka_destroy closes its last descriptors just after joining that thread: wait until the
  // count settles (milliseconds; 5 s only bounds a daemon that leaks them).
  int base = count_fds(d.pid());
  wait_for(
      [&] {
        int now = count_fds(d.pid());
        bool settled = now == base;
        base = now;
        return settled;
      },
      5s, 200ms);
  ASSERT_GT(base, 0);

  // With the limit at `base + extra` the request fails somewhere between accept, the consumer
  // (librdkafka's descriptors), its wake-up descriptor and the Kafka connections, depending on
  // `extra`. Whatever fails, the answer is a 200 stream or a 503 with Retry-After: never a 500,
  // never a crash. `extra` from 1: accept needs one descriptor, and with none a connect would
  // wait in the backlog until one frees.
  std::vector<std::unique_ptr<sse_client>> open;
  std::map<int, int> statuses;
  for (int extra = 1; extra <= 24; ++extra) {
    SCOPED_TRACE("limit base+" + std::to_string(extra));
    rlimit limit{static_cast<rlim_t>(base + extra), 20000};
    ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &limit, nullptr), 0) << std::strerror(errno);
    auto c = std::make_unique<sse_client>(d.port());
    c->send_request("GET", "/v2/stream/rc");
    // Set-up is bounded by server.kafka_timeout (10 s by default) when Kafka cannot be reached.
    ASSERT_TRUE(c->read_head(15s)) << describe(*c);
    int status = c->head().status;
    ++statuses[status];
    if (status == 503) {
      EXPECT_TRUE(c->head().get("Retry-After").has_value());
      c->read_to_end(5s);  // the problem body follows its header in the same write
      auto j = parse_json(c->body());
      EXPECT_TRUE(j["type"] == "unavailable" || j["type"] == "kafka_unavailable") << c->body();
    } else {
      EXPECT_EQ(status, 200) << describe(*c);
    }
    c->close();
    ASSERT_TRUE(d.running()) << d.stderr_text();
  }
  EXPECT_GT(statuses[503], 0) << "the limit never refused a stream";
  EXPECT_EQ(d.stderr_text().find("terminate"), std::string::npos);

  // Limits back: streams work again and nothing was counted as an unexpected error.
  rlimit restored{20000, 20000};
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &restored, nullptr), 0);
  auto c = open_stream(d.port(), "/v2/stream/rc");
  test_producer p(d.bootstrap());
  p.produce("fds.rc", 0, R"({"after":1})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1, 10s)) << describe(*c);  // milliseconds; as above
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_internal_errors_total"), 0);
}

}  // namespace
}  // namespace eventstreams::test

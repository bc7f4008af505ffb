// Shutdown never hangs: many start/stop cycles, each ending with exit code 0 within
// server.shutdown_timeout, whatever was running (demo producer, open streams).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon_process.hpp"
#include "sanitized.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

TEST(Shutdown, TwoHundredStartsAndStopsEachExitZeroWithinTheShutdownTimeout) {
  // 200 cycles take ~50 s in the default build; sanitized daemons start 2-4x slower, so those
  // builds run 30 (the same mix of demo producer and open streams: 35-42 s with 60, under the
  // heavy lock), which look for memory errors and races in start and stop.
  const int cycles = sanitized_build ? 30 : 200;
  constexpr auto shutdown_timeout = 2s;
  int by_deadline = 0;
  for (int i = 0; i < cycles; ++i) {
    const bool demo = i % 2 == 1;     // demo producer on every other cycle
    const int streams = (i / 2) % 3;  // 0, 1 or 2 open streams
    SCOPED_TRACE("cycle " + std::to_string(i) + (demo ? ", demo producer" : "") + ", " +
                 std::to_string(streams) + " open streams");
    daemon_config cfg;
    cfg.brokers = 1;
    cfg.shutdown_timeout = "2s";
    cfg.streams = {{"rc", {"stop.rc"}, {}, false}};
    std::string yaml = cfg.to_yaml();
    if (demo)
      yaml.replace(yaml.find("demo_rate: 0"), 12, "demo_rate: 200");
    daemon_process d(yaml);
    std::vector<std::unique_ptr<sse_client>> open;
    for (int s = 0; s < streams; ++s)
      open.push_back(open_stream(d.port(), "/v2/stream/rc"));
    if (demo && streams > 0) {
      // Events are flowing when the signal comes (the demo producer writes one every 5 ms;
      // 10 s only ends a cycle that is already failing).
      ASSERT_TRUE(open[0]->read_events(1, 10s)) << describe(*open[0]);
    }
    d.signal(SIGTERM);
    // The daemon's own bound is shutdown_timeout (a watchdog exits at the deadline); the margin
    // covers only the scheduling of the exit and of this wait on a busy machine.
    auto status = d.wait_exit(shutdown_timeout + 3s);
    ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGTERM\n" << d.stderr_text();
    ASSERT_TRUE(status->exited) << "killed by signal " << status->signal << "\n" << d.stderr_text();
    ASSERT_EQ(status->code, 0) << d.stderr_text();
    auto log = d.stderr_text();
    const bool deadline = log.find("shutdown deadline passed") != std::string::npos;
    by_deadline += deadline;
    // Either an orderly stop, or one that names what it waited for at the deadline.
    expect_stopped_by_the_deadline(log);
    if (::testing::Test::HasFailure())
      return;
    for (auto& c : open) {
      // Every open stream was ended with a complete chunked body before the exit; the daemon
      // has exited, so the bytes are already in the socket: 5 s only bounds a broken test.
      EXPECT_TRUE(c->read_to_eof(5s)) << describe(*c);
      EXPECT_TRUE(c->terminator_received()) << describe(*c);
    }
  }
  RecordProperty("stops_at_the_deadline", by_deadline);
  std::printf("%d stops, %d of them ended by the deadline watchdog\n", cycles, by_deadline);
}

// The stop signals must reach only threads that expect them: librdkafka's own threads block
// every signal, and a thread that took SIGTERM in a poll() would end with EINTR. The embedded
// cluster's mock thread once did (librdkafka 2.0 does not mask it), and freed the cluster before
// the shutdown destroyed it: 1 stop in ~3,000 hit a destroyed mutex (TSan) or crashed.
TEST(Shutdown, NoLibrdkafkaThreadCanTakeTheStopSignals) {
  daemon_config cfg;
  cfg.brokers = 3;
  cfg.streams = {{"rc", {"sig.rc"}, {}, false}};
  std::string yaml = cfg.to_yaml();
  yaml.replace(yaml.find("demo_rate: 0"), 12, "demo_rate: 200");
  daemon_process d(yaml);
  auto open = open_stream(d.port(), "/v2/stream/rc");         // a consumer and its threads exist
  ASSERT_TRUE(open->read_events(1, 10s)) << describe(*open);  // 10 s: one event at 200/s

  int librdkafka_threads = 0;
  bool mock_thread_seen = false;
  const auto task_dir = "/proc/" + std::to_string(d.pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm.rfind("rdk:", 0) != 0)
      continue;
    ++librdkafka_threads;
    mock_thread_seen |= comm == "rdk:mock";
    std::ifstream status(task.path() / "status");
    unsigned long long blocked = 0;
    bool found = false;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) {
        std::istringstream(line.substr(7)) >> std::hex >> blocked;
        found = true;
      }
    }
    ASSERT_TRUE(found) << task.path();
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
      EXPECT_TRUE(blocked & (1ULL << (sig - 1)))
          << comm << " (" << task.path().filename() << ") can take signal " << sig;
    }
  }
  EXPECT_TRUE(mock_thread_seen) << "no rdk:mock thread among " << librdkafka_threads;
  d.signal(SIGTERM);
  auto status = d.wait_exit(10s);  // the default shutdown_timeout, 5 s, plus scheduling
  ASSERT_TRUE(status.has_value()) << d.stderr_text();
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
}

}  // namespace
}  // namespace eventstreams::test

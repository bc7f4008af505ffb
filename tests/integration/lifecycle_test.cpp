// Resource hygiene over many connections, and the orderly shutdown on SIGTERM.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

daemon_config churn_config() {
  daemon_config cfg;
  cfg.streams = {{"rc", {"eqiad.life.rc", "codfw.life.rc"}, {}, false},
                 {"quiet", {"quiet.life"}, {}, false}};
  return cfg;
}

TEST(Lifecycle, ConnectDisconnectCyclesLeaveNoThreadsOrFdsBehind) {
  daemon_process d(churn_config());
  test_producer p(d.bootstrap());
  int events_seen = 0;
  auto cycle = [&](int i) {
    switch (i % 3) {
      case 0: {  // leaves right after the response header
        sse_client c(d.port());
        c.send_request("GET", "/v2/stream/rc");
        ASSERT_TRUE(c.read_head()) << describe(c);
        ASSERT_EQ(c.head().status, 200);
        c.close();
        break;
      }
      case 1: {  // leaves after one event
        auto c = open_stream(d.port(), "/v2/stream/rc");
        p.produce(i % 2 ? "eqiad.life.rc" : "codfw.life.rc", 0,
                  R"({"cycle":)" + std::to_string(i) + "}");
        ASSERT_TRUE(p.flush());
        ASSERT_TRUE(c->read_events(1)) << describe(*c);
        ASSERT_EQ(parse_json(c->events()[0].data)["cycle"], i);
        ++events_seen;
        c->close();
        break;
      }
      default: {  // leaves before the answer, while the daemon sets up its consumer
        sse_client c(d.port());
        c.send_request("GET", "/v2/stream/rc");
        c.close();
        break;
      }
    }
  };

  for (int i = 0; i < 6; ++i) {
    cycle(i);
    if (HasFatalFailure())
      return;
  }
  // Consumers close in tens of milliseconds: the counts settle within a second; 20 s (and 30 s
  // below, after 200 cycles) only end a test whose counts never come back.
  auto baseline = settled_counts(d.pid(), 20s);
  ASSERT_TRUE(baseline.has_value()) << "fd/thread counts never settled after the warm-up";
  ASSERT_GT(baseline->fds, 0);
  ASSERT_GT(baseline->threads, 0);

  auto start = std::chrono::steady_clock::now();
  constexpr int cycles = 200;
  proc_counts peak = *baseline;
  for (int i = 0; i < cycles; ++i) {
    cycle(i);
    if (HasFatalFailure())
      return;
    auto now = sample_counts(d.pid());
    peak.fds = std::max(peak.fds, now.fds);
    peak.threads = std::max(peak.threads, now.threads);
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(events_seen, 2 + cycles / 3 + (cycles % 3 > 1 ? 1 : 0));

  // Consumers are destroyed asynchronously: wait (bounded) for the counts to come back.
  proc_counts last;
  bool back = wait_for(
      [&] {
        last = sample_counts(d.pid());
        return last.fds <= baseline->fds && last.threads <= baseline->threads;
      },
      30s, 50ms);
  EXPECT_TRUE(back) << "after " << cycles << " cycles: fds " << last.fds << " (baseline "
                    << baseline->fds << ", peak " << peak.fds << "), threads " << last.threads
                    << " (baseline " << baseline->threads << ", peak " << peak.threads << ")";
  if (std::getenv("EVENTSTREAMS_IT_TRACE")) {
    std::fprintf(stderr,
                 "[trace] %d cycles: %lld ms; fds %d/%d/%d, threads %d/%d/%d (base/peak/end)\n",
                 cycles,
                 static_cast<long long>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
                 baseline->fds, peak.fds, last.fds, baseline->threads, peak.threads, last.threads);
  }

  // Still serving.
  auto c = open_stream(d.port(), "/v2/stream/rc");
  auto rec = p.produce("eqiad.life.rc", 0, R"({"after":true})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1)) << describe(*c);
  EXPECT_EQ(parse_json(c->events()[0].data), expected_data(p.record(rec)));
}

TEST(Lifecycle, SigtermEndsEveryStreamCleanlyAndExitsZero) {
  auto cfg = churn_config();
  cfg.shutdown_timeout = "8s";
  daemon_process d(cfg);
  auto busy = open_stream(d.port(), "/v2/stream/rc");
  auto idle = open_stream(d.port(), "/v2/stream/quiet");
  auto nd = open_stream(d.port(), "/v2/stream/rc", {{"Accept", "application/json"}}, 11, false);
  auto old = open_stream(d.port(), "/v2/stream/rc", {}, 10);

  auto p = std::make_unique<test_producer>(d.bootstrap());
  auto rec = p->produce("codfw.life.rc", 0, R"({"before":"shutdown"})");
  ASSERT_TRUE(p->flush());
  const auto want_line = expected_data(p->record(rec));
  p.reset();  // not connected to the cluster while it shuts down
  ASSERT_TRUE(busy->read_events(1)) << describe(*busy);
  ASSERT_TRUE(nd->read_until([](const sse_client& c) { return !c.lines().empty(); }))
      << describe(*nd);
  ASSERT_TRUE(old->read_events(1)) << describe(*old);

  auto signalled = std::chrono::steady_clock::now();
  d.signal(SIGTERM);

  for (auto* c : {busy.get(), idle.get(), nd.get()}) {
    SCOPED_TRACE(describe(*c));
    ASSERT_TRUE(c->read_to_eof(10s));  // the streams end at once on SIGTERM
    EXPECT_TRUE(c->terminator_received());
    EXPECT_TRUE(c->raw().ends_with("\r\n0\r\n\r\n"));
    EXPECT_TRUE(c->protocol_error().empty());
    EXPECT_TRUE(c->socket_error().empty());
  }
  EXPECT_EQ(busy->events().size(), 1u);
  EXPECT_TRUE(busy->body().ends_with("\n\n"));
  // Nothing moved on the idle stream since its start id block: no second one before the end,
  // only the drain's retry (docs/api.md §5.5), inside the 8 s window.
  ASSERT_EQ(idle->retries().size(), 1u) << idle->body();
  EXPECT_GT(idle->retries()[0], 0);
  EXPECT_LE(idle->retries()[0], 8000);
  EXPECT_EQ(idle->body(),
            ":ok\n\nid: [{\"topic\":\"quiet.life\",\"partition\":0,\"offset\":0}]\n\nretry: " +
                std::to_string(idle->retries()[0]) + "\n\n");
  EXPECT_EQ(nd->lines().size(), 1u) << nd->body();
  EXPECT_EQ(parse_json(nd->body()), want_line) << nd->body();

  // HTTP/1.0: the end of the stream is the end of the connection.
  ASSERT_TRUE(old->read_to_eof(10s)) << describe(*old);
  EXPECT_TRUE(old->socket_error().empty()) << old->socket_error();
  EXPECT_EQ(old->events().size(), 1u);
  EXPECT_TRUE(old->body().ends_with("\n\n"));

  auto status = d.wait_exit(15s);  // the shutdown_timeout (8 s) and a margin: only a hang fails
  ASSERT_TRUE(status.has_value()) << "still running 15 s after SIGTERM";
  auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_TRUE(status->exited) << "killed by signal " << status->signal;
  EXPECT_EQ(status->code, 0) << d.stderr_text();
  // The streams ended at once (milliseconds), not when the 8 s drain deadline expired: 5 s is
  // far from both.
  EXPECT_LT(took, 5s);
  EXPECT_EQ(d.stderr_text().find("deadline passed"), std::string::npos) << d.stderr_text();
}

}  // namespace
}  // namespace eventstreams::test

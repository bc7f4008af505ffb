// Soak: 10,000 connection open/close cycles from several client threads, with random early
// disconnects and random Last-Event-IDs, against a stream with a low-rate producer; afterwards
// the daemon's fds, threads and memory are back where they were after a warm-up.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "sanitized.hpp"
#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using clock_type = std::chrono::steady_clock;

// 10,000 as the issue asks. Sanitized builds run 3,000: they skip the RSS bounds the long run
// exists for, and their leak and race detectors need far fewer cycles to see a bad teardown.
constexpr int total_cycles = sanitized_build ? 3000 : 10000;
constexpr int warmup_cycles = 1000;
constexpr int client_threads = 4;

std::size_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:"))
      return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

double metric_sum(std::uint16_t port, const std::string& name) {
  std::istringstream in(http_get(port, "/metrics").body);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + "{") || line.starts_with(name + " "))
      sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Ids seen on earlier connections, shared by the client threads (a bounded ring).
class id_pool {
 public:
  void add(const std::string& id) {
    std::lock_guard lock(mutex_);
    if (ids_.size() < 256)
      ids_.push_back(id);
    else
      ids_[next_++ % ids_.size()] = id;
  }
  std::optional<std::string> pick(std::mt19937& rng) {
    std::lock_guard lock(mutex_);
    if (ids_.empty())
      return std::nullopt;
    return ids_[std::uniform_int_distribution<std::size_t>(0, ids_.size() - 1)(rng)];
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::size_t next_ = 0;
};

const std::vector<std::string> malformed_ids = {
    "garbage",
    "[",
    R"([{"topic":)",
    R"([{"topic":"soak.a","partition":"0","offset":1}])",
    R"({"topic":"soak.a"})",
    R"([{"topic":"soak.a","partition":0,"offset":"x"}])",
    R"([{"topic":"soak.a","partition":0,"offset":1},7])"};
// Topics outside /v2/stream/soak; only the last one is outside /v2/stream/soak,other too.
const std::vector<std::string> foreign_ids = {
    R"([{"topic":"other.topic","partition":0,"offset":0}])", R"(["other.topic"])",
    R"([{"topic":"soak.a","partition":0,"offset":0},{"topic":"nowhere","partition":0}])"};

struct soak_state {
  explicit soak_state(std::uint16_t p) : port(p) {}
  std::uint16_t port;
  id_pool ids;
  std::atomic<int> failures{0};
  std::mutex error_mutex;
  std::string first_error;
  void fail(const std::string& what) {
    std::lock_guard lock(error_mutex);
    if (failures++ == 0)
      first_error = what;
  }
};

// One connection: a random Last-Event-ID, then a random way of leaving.
void cycle(soak_state& st, std::mt19937& rng) {
  const bool wide = rng() % 4 == 0;
  const std::string target = wide ? "/v2/stream/soak,other" : "/v2/stream/soak";
  header_list headers;
  int expect = 200;
  switch (std::uniform_int_distribution<int>(0, 9)(rng)) {
    case 0:
    case 1:
    case 2:
      if (auto id = st.ids.pick(rng))
        headers.emplace_back("Last-Event-ID", *id);
      break;
    case 3:
      headers.emplace_back("Last-Event-ID", malformed_ids[rng() % malformed_ids.size()]);
      expect = 400;
      break;
    case 4:
      headers.emplace_back("Last-Event-ID",
                           wide ? foreign_ids.back() : foreign_ids[rng() % foreign_ids.size()]);
      expect = 404;
      break;
    case 5:
      headers.emplace_back("Last-Event-ID", "");  // counts as absent
      break;
    default:
      break;
  }
  const int mode = std::uniform_int_distribution<int>(0, 6)(rng);
  if (mode == 6)
    headers.emplace_back("Accept", "application/json");
  const unsigned version = rng() % 8 == 0 ? 10 : 11;
  sse_client c(st.port);
  if (mode == 0) {  // leaves in the middle of its request
    c.send_raw("GET /v2/stream/soak HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Ev");
    return;
  }
  c.send_request("GET", target, headers, version);
  if (mode == 1)  // leaves before the response, while the daemon resolves positions
    return;
  if (!c.read_head(20s) || c.head().status != expect) {
    return st.fail("expected " + std::to_string(expect) + " for " + target + " with " +
                   (headers.empty() ? "no id" : headers[0].second.substr(0, 80)) + ": " +
                   describe(c));
  }
  if (expect != 200 || mode == 2)  // leaves right after the response header
    return;
  if (mode == 3) {  // leaves inside the first event's bytes (events hold a 64 KB field)
    c.read_until([](const sse_client& s) { return s.body().size() > 200; }, 10s);
    return;
  }
  // Leaves after 1-3 events.
  const std::size_t want = 1 + rng() % 3;
  bool ok = mode == 6
                ? c.read_until([&](const sse_client& s) { return s.lines().size() >= want; }, 20s)
                : c.read_events(want, 20s);
  if (!ok)
    return st.fail("no events on " + target + ": " + describe(c));
  if (mode != 6 && !wide)  // valid for both targets
    st.ids.add(c.events().back().id);
}

void run_cycles(soak_state& st, int count, unsigned seed) {
  std::vector<std::jthread> threads;
  for (int t = 0; t < client_threads; ++t) {
    threads.emplace_back([&st, count, seed, t] {
      std::mt19937 rng(seed + static_cast<unsigned>(t));
      for (int i = t; i < count && st.failures < 5; i += client_threads) {
        try {
          cycle(st, rng);
        } catch (const std::exception& e) {
          st.fail(std::string("cycle threw: ") + e.what());
        }
      }
    });
  }
}

struct counts {
  int fds = -1, threads = -1;
};

// fds and threads once unchanged for 10 samples (consumers are destroyed asynchronously).
std::optional<counts> settled(pid_t pid, std::chrono::milliseconds timeout) {
  counts last{count_fds(pid), count_threads(pid)};
  int same = 0;
  if (!wait_for(
          [&] {
            counts now{count_fds(pid), count_threads(pid)};
            same = now.fds == last.fds && now.threads == last.threads ? same + 1 : 0;
            last = now;
            return same >= 10;
          },
          timeout, 50ms)) {
    return std::nullopt;
  }
  return last;
}

// The daemon against a cluster in the test process (so that its RSS measures the daemon, not
// the log the embedded broker would keep), with a low-rate producer: ~40 events/s, every 16th
// with a 64 KB field so that a client can leave in the middle of an event's bytes.
struct soak_env {
  mock_cluster cluster{3};
  std::unique_ptr<daemon_process> daemon;
  std::jthread producer;

  soak_env() {
    for (const char* t : {"soak.a", "soak.b", "other.topic"})
      cluster.create_topic(t, 1);
    daemon_config cfg;
    cfg.bootstrap_servers = cluster.bootstrap();
    cfg.streams = {{"soak", {"soak.a", "soak.b"}, {}, false},
                   {"other", {"other.topic"}, {}, false}};
    daemon = std::make_unique<daemon_process>(cfg);
    producer = std::jthread([this](std::stop_token stop) {
      test_producer p(cluster.bootstrap());
      const std::string big(64 * 1024, 'b');
      for (int i = 0; !stop.stop_requested(); ++i) {
        p.produce(
            i % 2 ? "soak.a" : "soak.b", 0,
            R"({"n":)" + std::to_string(i) + R"(,"pad":")" + (i % 16 == 0 ? big : "") + "\"}");
        std::this_thread::sleep_for(25ms);  // pacing
      }
      p.flush();
    });
  }
  ~soak_env() {
    producer.request_stop();
    producer.join();
    daemon.reset();  // before the cluster it reads from
  }
};

TEST(Soak, TenThousandChurningConnectionsLeaveNoResidue) {
  // ~50 s on 2 cores: 4 client threads, most cycles last a few ms.
  soak_env env;
  auto& d = *env.daemon;
  soak_state st(d.port());
  const unsigned seed =
      std::getenv("EVENTSTREAMS_SOAK_SEED")
          ? static_cast<unsigned>(std::atoi(std::getenv("EVENTSTREAMS_SOAK_SEED")))
          : 20240601u;
  SCOPED_TRACE("seed " + std::to_string(seed) + " (EVENTSTREAMS_SOAK_SEED)");

  const auto t0 = clock_type::now();
  run_cycles(st, warmup_cycles, seed);
  ASSERT_EQ(st.failures, 0) << st.first_error;
  auto base = settled(d.pid(), 30s);
  ASSERT_TRUE(base) << "fd/thread counts never settled after the warm-up";
  const std::size_t rss_warm = rss_bytes(d.pid());
  trace("soak warm-up", t0);

  // RSS once the connections of a batch are gone (fds and threads back to the warm-up's).
  counts now;
  auto rss_when_idle = [&] {
    EXPECT_TRUE(wait_for(
        [&] {
          now = {count_fds(d.pid()), count_threads(d.pid())};
          return now.fds <= base->fds && now.threads <= base->threads;
        },
        30s, 50ms))
        << "fds " << now.fds << " (after warm-up " << base->fds << "), threads " << now.threads
        << " (after warm-up " << base->threads << ")";
    return rss_bytes(d.pid());
  };
  const auto t1 = clock_type::now();
  constexpr int half = (total_cycles - warmup_cycles) / 2;
  run_cycles(st, half, seed + 1);
  const std::size_t rss_mid = rss_when_idle();
  run_cycles(st, total_cycles - warmup_cycles - half, seed + 2);
  EXPECT_EQ(st.failures, 0) << st.first_error;
  trace("soak cycles", t1);
  const std::size_t rss_end = rss_when_idle();

  EXPECT_TRUE(wait_for([&] { return metric_sum(d.port(), "eventstreams_connected_clients") == 0; },
                       30s, 100ms));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_client_connections_total"),
            metric_sum(d.port(), "eventstreams_clients_disconnected_total"));

  // Memory. "Within 10% of the post-warm-up value" alone is too tight: in leak-free runs
  // (only clients that stay for events) RSS still climbed by up to 3.3 MiB (25%) after the
  // 1,000-cycle warm-up, in steps of up to 2 MiB, as malloc arenas reached their working size,
  // then moved by at most +-1.1 MiB. So: (1) the second half may add at most 10% of the
  // warm-up value or 2 MiB, whichever is more (a leak grows linearly, arena growth does not);
  // (2) overall at most 10% + 4 MiB. Together they catch leaks from ~500 bytes per connection.
  const std::size_t tenth = rss_warm / 10;
  if (!sanitized_build) {
    EXPECT_LE(rss_end, rss_mid + std::max<std::size_t>(tenth, 2u << 20))
        << "RSS grew from " << (rss_mid >> 10) << " to " << (rss_end >> 10) << " KiB over the last "
        << half << " cycles (" << (rss_warm >> 10) << " after warm-up)";
    EXPECT_LE(rss_end, rss_warm + tenth + (4u << 20))
        << "RSS " << (rss_end >> 10) << " KiB after the soak, " << (rss_warm >> 10)
        << " KiB after the warm-up";
  }
  if (std::getenv("EVENTSTREAMS_IT_TRACE")) {
    std::fprintf(stderr, "[trace] soak: rss %zu / %zu / %zu KiB, fds %d -> %d, threads %d -> %d\n",
                 rss_warm >> 10, rss_mid >> 10, rss_end >> 10, base->fds, now.fds, base->threads,
                 now.threads);
  }

  // Still serving.
  auto c = open_stream(d.port(), "/v2/stream/soak");
  EXPECT_TRUE(c->read_events(1, 20s)) << describe(*c);
}

TEST(Soak, RequestsAbandonedBeforeTheResponseDoNotPileUp) {
  // A client that sends a stream request and leaves at once costs nothing to send; the
  // daemon must not build up per-request state (a consumer: ~5 threads, MBs) faster than it
  // tears it down. Bound: the blocking pool (4 threads) sets up at most 4 at a time; allow
  // 16 consumers' threads at once and 16 MiB of lasting growth.
  soak_env env;
  auto& d = *env.daemon;
  auto base = settled(d.pid(), 30s);
  ASSERT_TRUE(base);
  const std::size_t rss_before = rss_bytes(d.pid());
  std::atomic<int> peak_threads{base->threads};
  std::jthread sampler([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      peak_threads = std::max(peak_threads.load(), count_threads(d.pid()));
      std::this_thread::sleep_for(20ms);  // sampling period
    }
  });
  std::vector<std::jthread> clients;
  for (int t = 0; t < client_threads; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        sse_client c(d.port());
        c.send_request("GET", "/v2/stream/soak");
      }
    });
  }
  clients.clear();
  auto after = settled(d.pid(), 60s);
  sampler.request_stop();
  ASSERT_TRUE(after) << "fd/thread counts never settled";
  EXPECT_LE(after->threads, base->threads);
  EXPECT_LE(peak_threads.load(), base->threads + 16 * 5)
      << "consumers for requests whose client had left piled up";
  if (!sanitized_build) {
    EXPECT_LE(rss_bytes(d.pid()), rss_before + (16u << 20))
        << "RSS before " << (rss_before >> 10) << " KiB";
  }
}

}  // namespace
}  // namespace eventstreams::test

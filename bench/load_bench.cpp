// Load benchmark of the eventstreams daemon against its embedded Kafka cluster.
//
// One run of up to three scenarios, each against a fresh daemon (see bench/README.md):
//   throughput  (a) one SSE client, a burst of events into a many-partition topic
//   load        (b)+(c) many SSE clients, a paced producer: CPU, RSS, keeping up, latency
//   idle        (d) many idle SSE connections: memory, threads, fds and CPU per connection
// Results are printed as "RESULT key value" lines (bench/run takes medians over runs);
// lines starting with '#' are commentary. Every wait is bounded and a watchdog kills the
// daemon and exits if the whole run overstays.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_runner.hpp"
#include "event_producer.hpp"
#include "load_options.hpp"
#include "sse_client.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bench::options;
using bench::property_list;

constexpr const char* topic = "bench.recentchange";
constexpr const char* stream_path = "/v2/stream/bench";

void result(const char* key, double value) {
  std::printf("RESULT %s %.3f\n", key, value);
}
void note(const std::string& text) {
  std::printf("# %s\n", text.c_str());
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!done()) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Waits until `target` events arrived, giving up after `stall` without progress or `limit`.
bool wait_events(const bench::sse_client_pool& pool, std::uint64_t target,
                 std::chrono::milliseconds stall, std::chrono::milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  std::uint64_t seen = pool.total_events();
  auto progress_at = clock_type::now();
  while (pool.total_events() < target) {
    auto now = clock_type::now();
    if (now >= deadline || now - progress_at >= stall)
      return false;
    std::this_thread::sleep_for(10ms);
    if (pool.total_events() != seen) {
      seen = pool.total_events();
      progress_at = clock_type::now();
    }
  }
  return true;
}

// `bootstrap`: "embedded" (the daemon hosts the cluster) or the address of a separate one.
std::string make_config(const options& o, const std::string& bootstrap, int brokers, int partitions,
                        const property_list& properties) {
  std::string y;
  y += "server:\n  listen: \"127.0.0.1:0\"\n";
  y += "  threads: " + std::to_string(o.server_threads) + "\n";
  y += "  max_connections: 10000\n  shutdown_timeout: 3s\n";
  y += "kafka:\n  bootstrap_servers: \"" + bootstrap + "\"\n";
  if (properties.empty()) {
    y += "  properties: {}\n";
  } else {
    y += "  properties:\n";
    for (const auto& [k, v] : properties)
      y += "    " + k + ": \"" + v + "\"\n";
  }
  y += "  embedded:\n    brokers: " + std::to_string(brokers) +
       "\n    partitions: " + std::to_string(partitions) + "\n    demo_rate: 0\n";
  y += "logging:\n  level: " + o.log_level + "\n";
  y += "streams:\n  bench:\n    topics: [" + std::string(topic) + "]\n";
  y += "    description: \"load benchmark\"\n";
  return y;
}

property_list consumer_properties(const options& o, int fetch_wait_ms) {
  property_list p;
  if (fetch_wait_ms >= 0)
    p.emplace_back("fetch.wait.max.ms", std::to_string(fetch_wait_ms));
  for (const auto& kv : o.daemon_properties)
    p.push_back(kv);
  return p;
}

// The daemon under test and, with `--cluster separate` (the default), a second eventstreams
// process that only hosts the embedded Kafka cluster, so that the daemon's figures are its own
// as they would be against a real cluster. With `--cluster embedded` the daemon hosts it.
struct system_under_test {
  struct sample {
    bench::proc_sample daemon, cluster;
  };

  std::unique_ptr<bench::daemon_runner> cluster;
  std::unique_ptr<bench::daemon_runner> daemon;
  std::string bootstrap;

  bool start(const options& o, const std::string& name, int brokers, int partitions,
             const property_list& properties) {
    std::string where = "embedded";
    if (o.separate_cluster) {
      cluster = std::make_unique<bench::daemon_runner>(o.daemon, o.work_dir, name + "-cluster");
      if (!cluster->start(make_config(o, "embedded", brokers, partitions, {}), 30s) ||
          cluster->bootstrap().empty()) {
        note("cluster: " + cluster->error());
        return false;
      }
      where = bootstrap = cluster->bootstrap();
    }
    daemon = std::make_unique<bench::daemon_runner>(o.daemon, o.work_dir, name);
    if (!daemon->start(make_config(o, where, brokers, partitions, properties), 30s)) {
      note("daemon: " + daemon->error());
      return false;
    }
    if (!cluster)
      bootstrap = daemon->bootstrap();
    return true;
  }
  sample take() const {
    return {bench::sample_process(daemon->pid()),
            cluster ? bench::sample_process(cluster->pid()) : bench::proc_sample{}};
  }
  // CPU of the Kafka cluster: its process, or the daemon's rdk:mock thread.
  double cluster_cpu(const sample& a, const sample& b) const {
    return cluster ? bench::cpu_percent(a.cluster, b.cluster)
                   : bench::mock_cpu_percent(a.daemon, b.daemon);
  }
  void stop() {
    if (daemon)
      daemon->stop();
    if (cluster)
      cluster->stop();
  }
};

// Opens `n` clients and waits until each got the ":ok" preamble.
bool open_clients(bench::sse_client_pool& pool, int n, std::chrono::milliseconds timeout) {
  pool.start(n);
  bool ok = wait_for([&] { return pool.ok_count() == n || pool.ended_count() > 0; }, timeout);
  if (!ok || pool.ok_count() != n) {
    note("only " + std::to_string(pool.ok_count()) + " of " + std::to_string(n) +
         " clients got the stream preamble (" + std::to_string(pool.ended_count()) + " closed)");
    return false;
  }
  return true;
}

void report_client_failures(const std::vector<bench::connection_stats>& stats) {
  int shown = 0;
  for (std::size_t i = 0; i < stats.size() && shown < 3; ++i) {
    if (!stats[i].error.empty()) {
      note("client " + std::to_string(i) + ": " + stats[i].error);
      ++shown;
    }
  }
}

bool scenario_throughput(const options& o) {
  note("(a) throughput: 1 client, " + std::to_string(o.events) + " events into " +
       std::to_string(o.partitions) + " partitions, " + std::to_string(o.brokers) + " brokers");
  system_under_test sut;
  if (!sut.start(o, "throughput", o.brokers, o.partitions, consumer_properties(o, o.fetch_wait_ms)))
    return false;
  bench::sse_client_pool pool({sut.daemon->port(), stream_path, o.partitions, 0, false});
  if (!open_clients(pool, 1, 30s))
    return false;
  auto producer = std::make_unique<bench::event_producer>(sut.bootstrap, topic, o.partitions,
                                                          o.producer_properties);
  const auto s0 = sut.take();
  const auto prod = producer->burst(o.events, clock_type::now() + 120s);
  const bool all = wait_events(pool, prod.produced, 15s, 120s);
  const auto s1 = sut.take();
  pool.stop();
  producer.reset();
  sut.stop();
  const auto& st = pool.stats()[0];
  const double span = static_cast<double>(st.last_event_ns - st.first_event_ns) / 1e9;
  const double rate = span > 0 ? static_cast<double>(st.events - 1) / span : 0;
  if (!all)
    note("the client stopped receiving before the last event");
  report_client_failures(pool.stats());
  result("a_client_events_per_s", rate);
  result("a_producer_events_per_s", prod.events_per_second());
  result("a_events_produced", static_cast<double>(prod.delivered));
  result("a_events_received", static_cast<double>(st.events));
  result("a_offset_gaps", static_cast<double>(st.gaps));
  result("a_bad_events", static_cast<double>(st.bad_events + st.id_mismatch));
  result("a_seconds", span);
  result("a_event_bytes", static_cast<double>(prod.avg_bytes));
  result("a_wire_bytes_per_event",
         st.events ? static_cast<double>(st.bytes) / static_cast<double>(st.events) : 0);
  result("a_daemon_cpu_pct", bench::cpu_percent(s0.daemon, s1.daemon));
  result("a_mock_cpu_pct", sut.cluster_cpu(s0, s1));
  result("a_complete", all && st.events == prod.delivered && st.gaps == 0 && prod.complete());
  return true;
}

double percentile_ms(std::vector<std::int64_t>& v, double p) {
  if (v.empty())
    return -1;
  auto k = static_cast<std::size_t>(std::min<double>(
      static_cast<double>(v.size()) - 1, std::floor(p * static_cast<double>(v.size()))));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

bool scenario_load(const options& o) {
  const int partitions = o.load_partitions > 0 ? o.load_partitions : o.partitions;
  note("(b,c) load: " + std::to_string(o.clients) + " clients, " + std::to_string(o.rate) +
       " events/s for " + std::to_string(o.duration_s) + " s, " + std::to_string(partitions) +
       " partitions, " + std::to_string(o.brokers) +
       " brokers, fetch.wait.max.ms=" + std::to_string(o.fetch_wait_ms));
  system_under_test sut;
  if (!sut.start(o, "load", o.brokers, partitions, consumer_properties(o, o.fetch_wait_ms)))
    return false;
  bench::sse_client_pool pool({sut.daemon->port(), stream_path, partitions, 0, true});
  if (!open_clients(pool, o.clients, 60s))
    return false;
  std::this_thread::sleep_for(2s);  // consumers connect to every broker and start fetching
  auto producer = std::make_unique<bench::event_producer>(sut.bootstrap, topic, partitions,
                                                          o.producer_properties);
  const auto s0 = sut.take();
  auto prod = producer->paced(o.rate, std::chrono::seconds(o.duration_s),
                              clock_type::now() + std::chrono::seconds(o.duration_s) + 30s);
  const auto s1 = sut.take();
  const auto clients = static_cast<std::uint64_t>(o.clients);
  const std::uint64_t handed = prod.produced * clients;
  const std::uint64_t backlog = handed - std::min(handed, pool.total_events());
  producer->await_acks(prod, clock_type::now() + 30s);
  const std::uint64_t expected = prod.delivered * clients;
  wait_events(pool, expected, 10s, 30s);
  pool.stop();
  producer.reset();
  sut.stop();
  int complete = 0;
  std::uint64_t gaps = 0, bad = 0;
  for (const auto& st : pool.stats()) {
    gaps += st.gaps;
    bad += st.bad_events + st.id_mismatch;
    if (st.events == prod.delivered && st.gaps == 0 && !st.ended)
      ++complete;
  }
  report_client_failures(pool.stats());
  auto& lat = pool.latencies_ns();
  result("b_clients", o.clients);
  result("b_events_produced", static_cast<double>(prod.delivered));
  result("b_producer_events_per_s",
         static_cast<double>(prod.produced) /
             std::chrono::duration<double>(s1.daemon.at - s0.daemon.at).count());
  result("b_daemon_cpu_pct", bench::cpu_percent(s0.daemon, s1.daemon));
  result("b_mock_cpu_pct", sut.cluster_cpu(s0, s1));
  result("b_rss_mb", static_cast<double>(s1.daemon.rss_kb) / 1024.0);
  result("b_peak_rss_mb", static_cast<double>(s1.daemon.hwm_kb) / 1024.0);
  result("b_threads", s1.daemon.threads);
  result("b_backlog_at_end", static_cast<double>(backlog));
  result("b_clients_complete", complete);
  result("b_offset_gaps", static_cast<double>(gaps));
  result("b_bad_events", static_cast<double>(bad));
  // Kept up: every client got every event in order, and when producing stopped no more than
  // one second of events was still on its way to the clients.
  const bool kept_up = complete == o.clients && prod.complete() &&
                       static_cast<double>(backlog) <= o.rate * o.clients;
  result("b_kept_up", kept_up);
  result("c_fetch_wait_ms", o.fetch_wait_ms);
  result("c_samples", static_cast<double>(lat.size()));
  result("c_p50_ms", percentile_ms(lat, 0.50));
  result("c_p99_ms", percentile_ms(lat, 0.99));
  result("c_max_ms", percentile_ms(lat, 1.0));
  return true;
}

bool scenario_idle(const options& o) {
  const int n = o.idle_connections;
  note("(d) idle: " + std::to_string(n) + " connections, 1 broker, 1 partition, " +
       (o.idle_fetch_wait_ms >= 0 ? "fetch.wait.max.ms=" + std::to_string(o.idle_fetch_wait_ms)
                                  : std::string("librdkafka's default fetch.wait.max.ms")));
  system_under_test sut;
  if (!sut.start(o, "idle", 1, 1, consumer_properties(o, o.idle_fetch_wait_ms)))
    return false;
  std::this_thread::sleep_for(2s);
  const auto s0 = sut.take();
  bench::sse_client_pool pool({sut.daemon->port(), stream_path, 1, 0, false});
  if (!open_clients(pool, n, 60s))
    return false;
  std::this_thread::sleep_for(3s);  // consumers settle: connected, first fetches held
  const auto s1 = sut.take();
  std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
  const auto s2 = sut.take();
  const int open = n - pool.ended_count();
  pool.stop();
  sut.stop();
  report_client_failures(pool.stats());
  const double per = 1.0 / n;
  result("d_connections", n);
  result("d_connections_open", open);
  result("d_rss_before_kb", static_cast<double>(s0.daemon.rss_kb));
  result("d_rss_after_kb", static_cast<double>(s2.daemon.rss_kb));
  result("d_rss_per_conn_kb", static_cast<double>(s2.daemon.rss_kb - s0.daemon.rss_kb) * per);
  result("d_threads_before", s0.daemon.threads);
  result("d_threads_after", s2.daemon.threads);
  result("d_threads_per_conn", (s2.daemon.threads - s0.daemon.threads) * per);
  result("d_fds_before", s0.daemon.fds);
  result("d_fds_after", s2.daemon.fds);
  result("d_fds_per_conn", (s2.daemon.fds - s0.daemon.fds) * per);
  result("d_idle_cpu_pct", bench::cpu_percent(s1.daemon, s2.daemon));
  result("d_idle_mock_cpu_pct", sut.cluster_cpu(s1, s2));
  result("d_idle_fetch_wait_ms", o.idle_fetch_wait_ms);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = bench::parse_args(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  bench::install_watchdog(o.watchdog_s);
  // Many connections: the daemon (which inherits this) and the clients need descriptors.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  ::mkdir(o.work_dir.c_str(), 0755);
  bool ok = true;
  try {
    if (o.scenarios.count("throughput"))
      ok = scenario_throughput(o) && ok;
    if (o.scenarios.count("load"))
      ok = scenario_load(o) && ok;
    if (o.scenarios.count("idle"))
      ok = scenario_idle(o) && ok;
  } catch (const std::exception& e) {
    note(std::string("error: ") + e.what());
    bench::kill_all_daemons();
    return 1;
  }
  return ok ? 0 : 1;
}

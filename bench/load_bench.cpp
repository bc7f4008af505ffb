// Load benchmark of the eventstreams daemon against its embedded Kafka cluster.
//
// One run of up to five scenarios, each against a fresh daemon (see bench/README.md):
//   throughput  (a) one SSE client, a burst of events into a many-partition topic
//   load        (b)+(c) many SSE clients, a paced producer: CPU, RSS, keeping up, latency
//   idle        (d) many idle SSE connections: memory, threads, fds and CPU per connection
//   stalled     (e) readers' latency and the daemon's memory with and without clients that
//               stopped reading
//   churn       (f) RSS after many short connections
// `--mode per_connection|shared|both` picks the daemon's delivery mode (fanout.mode); with both,
// each selected scenario runs once per mode, per_connection first, then shared.
// Results are printed as "RESULT key value mode" lines (bench/run takes medians over runs, one
// column per mode); lines starting with '#' are commentary, "# [mode] ...". Every wait is
// bounded and a watchdog kills the daemons and exits if the whole run overstays. The daemon
// launcher, the producer, the SSE clients and the churn are the integration tests' helpers
// (tests/support).
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "churn.hpp"
#include "daemon_process.hpp"
#include "load_options.hpp"
#include "proc_stats.hpp"
#include "sse_client_pool.hpp"
#include "stream_checks.hpp"  // metric_sum
#include "test_producer.hpp"
#include "workload.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bench::options;
using bench::property_list;
namespace es = eventstreams::test;

constexpr const char* topic = "bench.recentchange";
constexpr const char* stream_path = "/v2/stream/bench";

// The delivery mode being measured (options::mode), on every result and note.
std::string measured_mode = "per_connection";

void result(const char* key, double value) {
  std::printf("RESULT %s %.3f %s\n", key, value, measured_mode.c_str());
}
void note(const std::string& text) {
  std::printf("# [%s] %s\n", measured_mode.c_str(), text.c_str());
}

using es::wait_for;

void on_fatal_signal(int sig) {
  es::kill_all_daemons();
  const char* msg = sig == SIGALRM ? "load_bench: watchdog expired, daemons killed\n"
                                   : "load_bench: interrupted, daemons killed\n";
  [[maybe_unused]] auto n = ::write(2, msg, std::strlen(msg));
  ::_exit(sig == SIGALRM ? 3 : 130);
}

// SIGALRM after `seconds`, SIGINT and SIGTERM kill the daemons and end the driver, so that a
// hung benchmark always ends.
void install_watchdog(unsigned seconds) {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGALRM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::alarm(seconds);
}

// Waits until `target` events arrived, giving up after `stall` without progress or `limit`.
bool wait_events(const es::sse_client_pool& pool, std::uint64_t target,
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

// The topics the cluster holds and the daemon's streams: one stream "bench" of one topic, or
// (churn) the soak tests' streams.
struct layout {
  int brokers = 1;
  int partitions = 1;
  std::vector<es::stream_def> streams{{"bench", {topic}, {}, false}};
  std::vector<std::string> server_settings;  // more "name: value" lines under server:
};

// `bootstrap`: "embedded" (the daemon hosts the cluster) or the address of a separate one.
// `fanout_mode`: the daemon's fanout.mode, "" for none (the separate cluster's process, which
// has no clients and must not run the shared mode's consumer).
std::string make_config(const options& o, const std::string& bootstrap, const layout& l,
                        const property_list& properties, const std::string& fanout_mode) {
  std::string y;
  y += "server:\n  listen: \"127.0.0.1:0\"\n";
  y += "  threads: " + std::to_string(o.server_threads) + "\n";
  y += "  max_connections: 200000\n  shutdown_timeout: 3s\n";
  for (const auto& line : l.server_settings)
    y += "  " + line + "\n";
  y += "kafka:\n  bootstrap_servers: \"" + bootstrap + "\"\n";
  if (properties.empty()) {
    y += "  properties: {}\n";
  } else {
    y += "  properties:\n";
    for (const auto& [k, v] : properties)
      y += "    " + k + ": \"" + v + "\"\n";
  }
  y += "  embedded:\n    brokers: " + std::to_string(l.brokers) +
       "\n    partitions: " + std::to_string(l.partitions) + "\n    demo_rate: 0\n";
  if (!fanout_mode.empty()) {
    y += "fanout:\n  mode: " + fanout_mode + "\n";
    for (const auto& [k, v] : o.fanout_settings)
      y += "  " + k + ": " + v + "\n";
  }
  y += "logging:\n  level: " + o.log_level + "\n";
  y += "streams:\n";
  for (const auto& s : l.streams) {
    y += "  " + s.name + ":\n    topics: [";
    for (std::size_t i = 0; i < s.topics.size(); ++i)
      y += (i ? ", " : "") + s.topics[i];
    y += "]\n    description: \"load benchmark\"\n";
  }
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
    es::proc_sample daemon, cluster;
  };

  std::unique_ptr<es::daemon_process> cluster;
  std::unique_ptr<es::daemon_process> daemon;
  std::string bootstrap;

  static es::daemon_options run_options(const options& o, const std::string& name) {
    es::daemon_options d;
    d.binary = o.daemon;
    d.dir = o.work_dir + "/" + name;  // config.yaml, stdout.txt, stderr.txt; kept
    d.ready_timeout = 30s;            // start-up takes well under a second
    d.expect_clean_exit = false;      // stop() reports
    return d;
  }

  // The daemon runs in o.mode; its directory is `name-mode` (both modes in one run).
  bool start(const options& o, const std::string& name, const layout& l,
             const property_list& properties) {
    try {
      const std::string dir = name + "-" + o.mode;
      std::string where = "embedded";
      if (o.separate_cluster) {
        cluster = std::make_unique<es::daemon_process>(make_config(o, "embedded", l, {}, ""),
                                                       run_options(o, dir + "-cluster"));
        where = bootstrap = cluster->bootstrap();
      }
      daemon = std::make_unique<es::daemon_process>(make_config(o, where, l, properties, o.mode),
                                                    run_options(o, dir));
      if (!cluster)
        bootstrap = daemon->bootstrap();
    } catch (const std::exception& e) {
      note(name + ": " + e.what());
      return false;
    }
    return true;
  }
  sample take() const {
    return {es::sample_process(daemon->pid()),
            cluster ? es::sample_process(cluster->pid()) : es::proc_sample{}};
  }
  // CPU of the Kafka cluster: its process, or the daemon's rdk:mock thread.
  double cluster_cpu(const sample& a, const sample& b) const {
    return cluster ? es::cpu_percent(a.cluster, b.cluster)
                   : es::mock_cpu_percent(a.daemon, b.daemon);
  }
  // SIGTERM, SIGKILL after 5 s (the daemons' shutdown_timeout is 3 s).
  void stop() {
    for (auto* d : {daemon.get(), cluster.get()}) {
      if (d && d->stop(5s).killed_by_us)
        note(d->dir().string() + ": no exit 5 s after SIGTERM: SIGKILL");
    }
  }
};

// Opens `n` clients and waits until each got the ":ok" preamble.
// The Slab line of /proc/meminfo (kB): the kernel's objects, sockets among them.
long slab_kb() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Slab:", 0) == 0)
      return std::strtol(line.c_str() + 5, nullptr, 10);
  }
  return 0;
}

bool open_clients(es::sse_client_pool& pool, int n, std::chrono::milliseconds timeout) {
  pool.start(n);
  bool ok = wait_for([&] { return pool.ok_count() == n || pool.ended_count() > 0; }, timeout);
  if (!ok || pool.ok_count() != n) {
    note("only " + std::to_string(pool.ok_count()) + " of " + std::to_string(n) +
         " clients got the stream preamble (" + std::to_string(pool.ended_count()) + " closed)");
    return false;
  }
  return true;
}

void report_client_failures(const std::vector<es::connection_stats>& stats) {
  int shown = 0;
  for (std::size_t i = 0; i < stats.size() && shown < 3; ++i) {
    if (!stats[i].error.empty()) {
      note("client " + std::to_string(i) + ": " + stats[i].error);
      ++shown;
    }
  }
}

// eventstreams_clients_disconnected_total{reason=...} of the daemon under test.
double disconnects(const system_under_test& sut, const char* reason) {
  return es::metric_sum(sut.daemon->port(), "eventstreams_clients_disconnected_total",
                        std::string("reason=\"") + reason + "\"");
}
double overrun_disconnects(const system_under_test& sut) {
  return disconnects(sut, "overrun");
}

es::pool_options clients_of(const system_under_test& sut, int partitions, bool latency) {
  es::pool_options p;
  p.port = sut.daemon->port();
  p.path = stream_path;
  p.partitions = partitions;
  p.record_latency = latency;
  return p;
}

layout bench_layout(int brokers, int partitions) {
  layout l;
  l.brokers = brokers;
  l.partitions = partitions;
  return l;
}

std::unique_ptr<es::test_producer> make_producer(const options& o, const std::string& bootstrap,
                                                 int linger_ms = 5) {
  es::producer_options p;
  p.client_id = "eventstreams-load-bench";
  p.linger_ms = linger_ms;
  p.keep_records = false;
  p.quiet = true;  // the cluster goes away at the end of a scenario
  // librdkafka's defaults, not the tests' (which keep one request in flight for exact order
  // across retries, and fail a record after 15 s): throughput first, every event delivered.
  p.properties = {{"max.in.flight.requests.per.connection", "1000000"},
                  {"message.timeout.ms", "300000"}};
  p.properties.insert(p.properties.end(), o.producer_properties.begin(),
                      o.producer_properties.end());
  return std::make_unique<es::test_producer>(bootstrap, p);
}

// Before any client connects: one event into each partition, acknowledged. A producer's first
// records wait for its metadata and its connections to the leaders (on this machine, up to a
// second with 100 idle clients beside it): without this the first second of every latency
// scenario measured the producer's start, not the daemon. The clients then start at offset 1.
bool warm_producer(bench::event_writer& writer, int partitions) {
  auto warm = writer.burst(static_cast<std::uint64_t>(partitions), clock_type::now() + 30s);
  if (!warm.complete()) {
    note("the producer's warm-up events were not all acknowledged");
    return false;
  }
  return true;
}

bool scenario_throughput(const options& o) {
  note("(a) throughput: 1 client, " + std::to_string(o.events) + " events into " +
       std::to_string(o.partitions) + " partitions, " + std::to_string(o.brokers) + " brokers");
  system_under_test sut;
  if (!sut.start(o, "throughput", bench_layout(o.brokers, o.partitions),
                 consumer_properties(o, o.fetch_wait_ms)))
    return false;
  es::sse_client_pool pool(clients_of(sut, o.partitions, false));
  if (!open_clients(pool, 1, 30s))
    return false;
  auto producer = make_producer(o, sut.bootstrap);
  bench::event_writer writer(*producer, topic, o.partitions);
  const auto s0 = sut.take();
  const auto prod = writer.burst(o.events, clock_type::now() + 120s);
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
  result("a_daemon_cpu_pct", es::cpu_percent(s0.daemon, s1.daemon));
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

// One note line: the p99 of the events produced in each second of the load, to tell a tail of
// the start (a backlog of the first second, still draining) from one spread over the whole run.
// The p99 of the events produced after the first two seconds.
double latency_by_second(const std::vector<std::int64_t>& lat,
                         const std::vector<std::int64_t>& sent) {
  if (lat.empty() || lat.size() != sent.size())
    return -1;
  const std::int64_t first = *std::min_element(sent.begin(), sent.end());
  std::vector<std::vector<std::int64_t>> by_second;
  for (std::size_t i = 0; i < lat.size(); ++i) {
    auto s = static_cast<std::size_t>((sent[i] - first) / 1'000'000'000);
    if (s >= by_second.size())
      by_second.resize(s + 1);
    by_second[s].push_back(lat[i]);
  }
  std::string line = "(c) p99 ms by second of producing:";
  for (auto& v : by_second) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f", percentile_ms(v, 0.99));
    line += buf;
  }
  note(line);
  std::vector<std::int64_t> after;
  for (std::size_t k = 2; k < by_second.size(); ++k)
    after.insert(after.end(), by_second[k].begin(), by_second[k].end());
  return percentile_ms(after, 0.99);
}

bool scenario_load(const options& o) {
  const int partitions = o.load_partitions > 0 ? o.load_partitions : o.partitions;
  note("(b,c) load: " + std::to_string(o.clients) + " clients, " + std::to_string(o.rate) +
       " events/s for " + std::to_string(o.duration_s) + " s, " + std::to_string(partitions) +
       " partitions, " + std::to_string(o.brokers) +
       " brokers, fetch.wait.max.ms=" + std::to_string(o.fetch_wait_ms));
  system_under_test sut;
  if (!sut.start(o, "load", bench_layout(o.brokers, partitions),
                 consumer_properties(o, o.fetch_wait_ms)))
    return false;
  auto producer = make_producer(o, sut.bootstrap);
  bench::event_writer writer(*producer, topic, partitions);
  if (!warm_producer(writer, partitions))
    return false;
  es::pool_options po = clients_of(sut, partitions, true);
  po.first_offset = 1;  // after the warm-up event
  es::sse_client_pool pool(po);
  if (!open_clients(pool, o.clients, 60s))
    return false;
  std::this_thread::sleep_for(2s);  // consumers connect to every broker and start fetching
  const auto s0 = sut.take();
  auto prod = writer.paced(o.rate, std::chrono::seconds(o.duration_s),
                           clock_type::now() + std::chrono::seconds(o.duration_s) + 30s);
  const auto s1 = sut.take();
  const auto clients = static_cast<std::uint64_t>(o.clients);
  const std::uint64_t handed = prod.produced * clients;
  const std::uint64_t backlog = handed - std::min(handed, pool.total_events());
  writer.await_acks(prod, clock_type::now() + 30s);
  const std::uint64_t expected = prod.delivered * clients;
  wait_events(pool, expected, 10s, 30s);
  // Shared mode: clients ended for falling more than fanout.cohort_window behind their group
  // (0 per connection, where a slow client only slows itself).
  const double overruns = overrun_disconnects(sut);
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
  const double p99_after_start = latency_by_second(lat, pool.sent_ns());
  result("b_clients", o.clients);
  result("b_events_produced", static_cast<double>(prod.delivered));
  result("b_producer_events_per_s",
         static_cast<double>(prod.produced) /
             std::chrono::duration<double>(s1.daemon.at - s0.daemon.at).count());
  result("b_daemon_cpu_pct", es::cpu_percent(s0.daemon, s1.daemon));
  result("b_mock_cpu_pct", sut.cluster_cpu(s0, s1));
  result("b_rss_mb", static_cast<double>(s1.daemon.rss_kb) / 1024.0);
  result("b_peak_rss_mb", static_cast<double>(s1.daemon.hwm_kb) / 1024.0);
  result("b_threads", s1.daemon.threads);
  result("b_backlog_at_end", static_cast<double>(backlog));
  result("b_clients_complete", complete);
  result("b_offset_gaps", static_cast<double>(gaps));
  result("b_bad_events", static_cast<double>(bad));
  result("b_overrun_disconnects", overruns);
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
  result("c_p99_after_2s_ms", p99_after_start);
  return true;
}

bool scenario_idle(const options& o) {
  const int n = o.idle_connections;
  note("(d) idle: " + std::to_string(n) + " connections, 1 broker, 1 partition, " +
       (o.idle_fetch_wait_ms >= 0 ? "fetch.wait.max.ms=" + std::to_string(o.idle_fetch_wait_ms)
                                  : std::string("librdkafka's default fetch.wait.max.ms")));
  system_under_test sut;
  if (!sut.start(o, "idle", bench_layout(1, 1), consumer_properties(o, o.idle_fetch_wait_ms)))
    return false;
  std::this_thread::sleep_for(2s);
  const auto s0 = sut.take();
  const long slab0 = slab_kb();
  es::sse_client_pool pool(clients_of(sut, 1, false));
  if (!open_clients(pool, n, 60s)) {
    // The point where the mode refuses (per connection: the descriptors or threads a host
    // allows, ~11 and 4 per connection), reported rather than left blank.
    const int streaming = pool.ok_count();
    pool.stop();
    report_client_failures(pool.stats());
    result("d_connections", n);
    result("d_connections_open", streaming);
    return true;
  }
  std::this_thread::sleep_for(3s);  // consumers settle: connected, first fetches held
  const auto s1 = sut.take();
  std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
  const auto s2 = sut.take();
  const long slab2 = slab_kb();
  const int open = n - pool.ended_count();
  pool.stop();
  sut.stop();
  report_client_failures(pool.stats());
  const double per = 1.0 / n;
  const double rss_per = static_cast<double>(s2.daemon.rss_kb - s0.daemon.rss_kb) * per;
  // Kernel memory of both ends of each loopback connection (the client's socket too), so an
  // upper bound of the daemon's share; other activity on the host moves it as well.
  const double slab_per = static_cast<double>(slab2 - slab0) * per;
  result("d_connections", n);
  result("d_connections_open", open);
  result("d_rss_before_kb", static_cast<double>(s0.daemon.rss_kb));
  result("d_rss_after_kb", static_cast<double>(s2.daemon.rss_kb));
  result("d_rss_per_conn_kb", rss_per);
  result("d_slab_per_conn_kb", slab_per);
  result("d_total_per_conn_kb", rss_per + slab_per);
  result("d_threads_before", s0.daemon.threads);
  result("d_threads_after", s2.daemon.threads);
  result("d_threads_per_conn", (s2.daemon.threads - s0.daemon.threads) * per);
  result("d_fds_before", s0.daemon.fds);
  result("d_fds_after", s2.daemon.fds);
  result("d_fds_per_conn", (s2.daemon.fds - s0.daemon.fds) * per);
  result("d_idle_cpu_pct", es::cpu_percent(s1.daemon, s2.daemon));
  result("d_idle_mock_cpu_pct", sut.cluster_cpu(s1, s2));
  result("d_idle_fetch_wait_ms", o.idle_fetch_wait_ms);
  return true;
}

// One phase of (e) on a fresh daemon (so that both phases start from an empty log): readers
// that must get every event, and `stalled` clients that never read and must be disconnected.
struct stalled_phase {
  std::vector<std::int64_t> latencies_ns;
  long rss_idle_kb = 0, rss_peak_kb = 0;
  int readers_complete = 0;
  double stalled_disconnected = 0;  // reason stalled or overrun
  double overrun_disconnected = 0;  // reason overrun (shared mode): stalled clients or readers
  std::uint64_t events = 0;
  bool ok = false;
};

stalled_phase run_stalled_phase(const options& o, int stalled) {
  constexpr int partitions = 4;  // the mock keeps ~5 MB each: 4 hold 10 s at 2 MB/s
  stalled_phase out;
  const std::string name = stalled ? "stalled" : "stalled-base";
  layout l = bench_layout(1, partitions);
  l.server_settings = {"stall_timeout: 3s", "max_buffered_bytes: 65536"};
  system_under_test sut;
  if (!sut.start(o, name, l, consumer_properties(o, 10)))
    return out;
  out.rss_idle_kb = sut.take().daemon.rss_kb;
  // 20 ms batches: the mock broker scans a partition's message sets linearly on each fetch, and
  // one set per event would make every reader lag by seconds.
  auto producer = make_producer(o, sut.bootstrap, 20);
  bench::event_writer writer(*producer, topic, partitions);
  if (!warm_producer(writer, partitions))
    return out;
  es::pool_options sp = clients_of(sut, partitions, false);
  sp.first_offset = 1;  // after the warm-up event
  sp.rcvbuf = 4096;     // a client that does not read fills its window after a few KB
  sp.read = false;
  es::sse_client_pool stalled_pool(sp);
  if (stalled > 0)
    stalled_pool.start(stalled);
  es::pool_options rp = clients_of(sut, partitions, true);
  rp.first_offset = 1;
  es::sse_client_pool readers(rp);
  if (!open_clients(readers, o.stalled_readers, 60s))
    return out;
  // Every client streams (their start positions are fixed) before the first event.
  const double connected = stalled + o.stalled_readers;
  if (!wait_for(
          [&] {
            return es::metric_sum(sut.daemon->port(), "eventstreams_connected_clients") ==
                   connected;
          },
          30s)) {
    note(name + ": not every client streams");
    return out;
  }
  const auto duration = std::chrono::seconds(o.stalled_duration_s);
  auto prod = writer.paced(o.stalled_rate, duration, clock_type::now() + duration + 30s);
  writer.await_acks(prod, clock_type::now() + 30s);
  const auto readers_n = static_cast<std::uint64_t>(o.stalled_readers);
  wait_events(readers, prod.delivered * readers_n, 10s, 60s);
  if (stalled > 0) {
    // Per connection: stall_timeout (3 s) after their sockets filled (reason "stalled"). Shared
    // mode: as soon as their group is fanout.cohort_window ahead (reason "overrun"), or
    // stall_timeout if that comes first.
    auto ended = [&] { return disconnects(sut, "stalled") + overrun_disconnects(sut); };
    wait_for([&] { return ended() >= stalled; }, 15s);
    out.stalled_disconnected = ended();
  }
  out.overrun_disconnected = overrun_disconnects(sut);
  out.rss_peak_kb = sut.take().daemon.hwm_kb;
  readers.stop();
  stalled_pool.stop();
  producer.reset();
  sut.stop();
  for (const auto& st : readers.stats()) {
    if (st.events == prod.delivered && st.gaps == 0 && !st.ended)
      ++out.readers_complete;
  }
  report_client_failures(readers.stats());
  out.latencies_ns = std::move(readers.latencies_ns());
  out.events = prod.delivered;
  out.ok = prod.complete();
  return out;
}

bool scenario_stalled(const options& o) {
  note("(e) stalled: " + std::to_string(o.stalled_readers) + " readers alone, then beside " +
       std::to_string(o.stalled_clients) + " clients that never read; " +
       std::to_string(o.stalled_rate) + " events/s for " + std::to_string(o.stalled_duration_s) +
       " s, 4 partitions, stall_timeout 3 s, max_buffered_bytes 64 KiB");
  auto base = run_stalled_phase(o, 0);
  auto loaded = run_stalled_phase(o, o.stalled_clients);
  result("e_readers", o.stalled_readers);
  result("e_stalled_clients", o.stalled_clients);
  result("e_events", static_cast<double>(loaded.events));
  result("e_p50_base_ms", percentile_ms(base.latencies_ns, 0.50));
  result("e_p99_base_ms", percentile_ms(base.latencies_ns, 0.99));
  result("e_p50_stalled_ms", percentile_ms(loaded.latencies_ns, 0.50));
  result("e_p99_stalled_ms", percentile_ms(loaded.latencies_ns, 0.99));
  result("e_max_stalled_ms", percentile_ms(loaded.latencies_ns, 1.0));
  result("e_rss_idle_mb", static_cast<double>(base.rss_idle_kb) / 1024.0);
  result("e_rss_peak_base_mb", static_cast<double>(base.rss_peak_kb) / 1024.0);
  result("e_rss_peak_stalled_mb", static_cast<double>(loaded.rss_peak_kb) / 1024.0);
  result("e_readers_complete", std::min(base.readers_complete, loaded.readers_complete));
  result("e_stalled_disconnected", loaded.stalled_disconnected);
  result("e_overrun_disconnected", loaded.overrun_disconnected);
  result("e_overrun_disconnected_base", base.overrun_disconnected);
  return base.ok && loaded.ok;
}

bool scenario_churn(const options& o) {
  constexpr int warmup = 1000;
  note("(f) churn: " + std::to_string(o.churn_checkpoints.back()) + " connections from " +
       std::to_string(o.churn_threads) + " threads (the soak tests' churn), RSS after " +
       std::to_string(warmup) + " and at each checkpoint once their connections are gone");
  layout l;
  l.brokers = 3;
  l.partitions = 1;
  l.streams = es::churn_streams();
  system_under_test sut;
  if (!sut.start(o, "churn", l, consumer_properties(o, 20)))
    return false;
  auto feed = std::make_unique<es::churn_feed>(sut.bootstrap);
  es::churn_driver churn(sut.daemon->port(), o.churn_threads);
  const pid_t pid = sut.daemon->pid();
  // fds and threads once unchanged for 10 samples 50 ms apart (consumers close asynchronously).
  auto settled = [&](int max_fds, int max_threads) {
    int same = 0, fds = -1, threads = -1;
    wait_for(
        [&] {
          int f = es::count_fds(pid), t = es::count_threads(pid);
          same = f == fds && t == threads && f <= max_fds && t <= max_threads ? same + 1 : 0;
          fds = f;
          threads = t;
          return same >= 10;
        },
        60s);
    return std::make_pair(fds, threads);
  };
  const auto t0 = clock_type::now();
  churn.run(warmup, 20240601u);
  const auto [fds0, threads0] = settled(1 << 30, 1 << 30);
  const long rss_warm = es::sample_process(pid).rss_kb;
  result("f_rss_warm_kb", static_cast<double>(rss_warm));
  int done = warmup;
  long rss_first = -1, rss_last = rss_warm;
  int fds = fds0, threads = threads0;
  for (int checkpoint : o.churn_checkpoints) {
    churn.run(checkpoint - done, 20240601u + static_cast<unsigned>(checkpoint));
    done = checkpoint;
    std::tie(fds, threads) = settled(fds0, threads0);
    rss_last = es::sample_process(pid).rss_kb;
    if (rss_first < 0)
      rss_first = rss_last;
    result(("f_rss_kb_" + std::to_string(checkpoint)).c_str(), static_cast<double>(rss_last));
    if (churn.failures() > 0)
      break;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  feed.reset();
  sut.stop();
  if (churn.failures() > 0)
    note("churn failed: " + churn.first_error());
  result("f_connections", static_cast<double>(churn.cycles()));
  result("f_connections_per_s", static_cast<double>(churn.cycles()) / seconds);
  result("f_failures", churn.failures());
  result("f_growth_after_first_checkpoint_kb", static_cast<double>(rss_last - rss_first));
  result("f_fds_left", fds - fds0);
  result("f_threads_left", threads - threads0);
  return churn.failures() == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = bench::parse_args(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  install_watchdog(o.watchdog_s);
  // Many connections: the daemon (which inherits this) and the clients need descriptors.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  ::mkdir(o.work_dir.c_str(), 0755);
  bool ok = true;
  try {
    // Each scenario once per mode, one right after the other, so that both see the same
    // machine conditions.
    const std::pair<const char*, bool (*)(const options&)> scenarios[] = {
        {"throughput", scenario_throughput},
        {"load", scenario_load},
        {"idle", scenario_idle},
        {"stalled", scenario_stalled},
        {"churn", scenario_churn}};
    for (const auto& [name, run] : scenarios) {
      if (!o.scenarios.count(name))
        continue;
      for (const auto& mode : o.modes) {
        options measured = o;
        measured.mode = mode;
        measured_mode = mode;
        ok = run(measured) && ok;
      }
    }
  } catch (const std::exception& e) {
    note(std::string("error: ") + e.what());
    es::kill_all_daemons();
    return 1;
  }
  return ok ? 0 : 1;
}

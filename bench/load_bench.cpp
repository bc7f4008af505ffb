// Load benchmark of the eventstreams daemon against its embedded Kafka cluster.
//
// One run of up to seven scenarios, each against a fresh daemon (see bench/README.md):
//   throughput  (a) one SSE client, a burst of events into a many-partition topic
//   load        (b)+(c) many SSE clients, a paced producer: CPU, RSS, keeping up, latency
//   idle        (d) many idle SSE connections: memory, threads, fds and CPU per connection
//   stalled     (e) readers' latency and the daemon's memory with and without clients that
//               stopped reading
//   churn       (f) RSS after many short connections
//   filters     (g) shared mode: CPU per record with 10 and 10,000 clients, a distinct filter each
//   catchup     (h) one client reading 150,000 events already in Kafka, without and with a 1 %
//               filter
//   storm       (i) shared mode: clients reconnecting at once with one Last-Event-ID
//   sets        (j) shared mode: CPU per delivered event, 10 stream sets over 4 topics against
//               one stream
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
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "churn.hpp"
#include "client_fleet.hpp"
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
void result(const std::string& key, double value) {
  result(key.c_str(), value);
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
template <typename Pool>
bool wait_events(const Pool& pool, std::uint64_t target, std::chrono::milliseconds stall,
                 std::chrono::milliseconds limit) {
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
// `listen`: server.listen; "" = 127.0.0.1:0. `reuse_port`: several daemons on that port, each
// with an admin address of its own.
std::string make_config(const options& o, const std::string& bootstrap, const layout& l,
                        const property_list& properties, const std::string& fanout_mode,
                        const std::string& listen = "", bool reuse_port = false) {
  std::string y;
  y += "server:\n  listen: \"" + (listen.empty() ? std::string("127.0.0.1:0") : listen) + "\"\n";
  if (reuse_port)
    y += "  reuse_port: true\n  admin_listen: \"127.0.0.1:0\"\n";
  y += "  threads: " + std::to_string(o.server_threads) + "\n";
  y += "  max_connections: 200000\n  shutdown_timeout: 3s\n";
  for (const auto& line : l.server_settings)
    y += "  " + line + "\n";
  for (const auto& [k, v] : o.server_settings)
    y += "  " + k + ": " + v + "\n";
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
  // With --daemon-processes N: the N - 1 more daemons on daemon's port (server.reuse_port).
  std::vector<std::unique_ptr<es::daemon_process>> more;
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
      const bool several = o.daemon_processes > 1;
      daemon = std::make_unique<es::daemon_process>(
          make_config(o, where, l, properties, o.mode, "", several), run_options(o, dir));
      if (!cluster)
        bootstrap = daemon->bootstrap();
      const std::string shared_port = "127.0.0.1:" + std::to_string(daemon->port());
      for (int i = 1; i < o.daemon_processes; ++i) {
        // An embedded cluster is the first daemon's: the others read it.
        more.push_back(std::make_unique<es::daemon_process>(
            make_config(o, bootstrap, l, properties, o.mode, shared_port, true),
            run_options(o, dir + "-" + std::to_string(i))));
      }
    } catch (const std::exception& e) {
      note(name + ": " + e.what());
      return false;
    }
    return true;
  }
  // The daemons' figures, summed over the processes (CPU, RSS, threads, descriptors).
  sample take() const {
    es::proc_sample all = es::sample_process(daemon->pid());
    for (const auto& d : more) {
      const es::proc_sample one = es::sample_process(d->pid());
      all.cpu_seconds += one.cpu_seconds;
      all.system_seconds += one.system_seconds;
      all.mock_cpu_seconds += one.mock_cpu_seconds;
      all.rss_kb += one.rss_kb;
      all.hwm_kb += one.hwm_kb;
      all.threads += one.threads;
      all.fds += one.fds;
    }
    return {all, cluster ? es::sample_process(cluster->pid()) : es::proc_sample{}};
  }
  // Each daemon process's own sample.
  std::vector<es::proc_sample> take_each() const {
    std::vector<es::proc_sample> out{es::sample_process(daemon->pid())};
    for (const auto& d : more)
      out.push_back(es::sample_process(d->pid()));
    return out;
  }
  // A metric summed over the daemons: each one's own, from its admin address when there are
  // several (their common port reaches one of them at random).
  double metric(const std::string& name, const std::string& filter = "") const {
    if (more.empty())
      return es::metric_sum(daemon->port(), name, filter);
    double sum = es::metric_sum(daemon->admin_port(), name, filter);
    for (const auto& d : more)
      sum += es::metric_sum(d->admin_port(), name, filter);
    return sum;
  }
  // CPU of the Kafka cluster: its process, or the daemon's rdk:mock thread.
  double cluster_cpu(const sample& a, const sample& b) const {
    return cluster ? es::cpu_percent(a.cluster, b.cluster)
                   : es::mock_cpu_percent(a.daemon, b.daemon);
  }
  // SIGTERM, SIGKILL after 5 s (the daemons' shutdown_timeout is 3 s).
  void stop() {
    for (auto& d : more) {
      if (d->stop(5s).killed_by_us)
        note(d->dir().string() + ": no exit 5 s after SIGTERM: SIGKILL");
    }
    for (auto* d : {daemon.get(), cluster.get()}) {
      if (d && d->stop(5s).killed_by_us)
        note(d->dir().string() + ": no exit 5 s after SIGTERM: SIGKILL");
    }
  }
};

// Shared mode: whether the daemons' shared consumers read `records` in all (each process reads
// every record: pass records x processes) within `timeout`, so that the rings hold them.
bool wait_hub_read(const system_under_test& sut, double records,
                   std::chrono::milliseconds timeout) {
  return wait_for([&] { return sut.metric("eventstreams_fanout_records_total") >= records; },
                  timeout);
}

// The kernel frees the dentries and inodes that nothing holds (/proc/sys/vm/drop_caches = 2;
// root only): counting a daemon's descriptors lists /proc/PID/fd, which leaves a /proc inode and
// a dentry per descriptor in those caches, about 1 KB a connection that is the measurement's,
// not the connections' (bench/README.md (d)). Whether it could.
bool drop_unused_kernel_caches() {
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "2\n";
  out.flush();
  return static_cast<bool>(out);
}

// The Slab line of /proc/meminfo (kB): the kernel's objects, sockets among them, after the
// caches that nothing holds were dropped where the benchmark may (`dropped`).
long slab_kb(bool* dropped = nullptr) {
  const bool d = drop_unused_kernel_caches();
  if (dropped)
    *dropped = d;
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Slab:", 0) == 0)
      return std::strtol(line.c_str() + 5, nullptr, 10);
  }
  return 0;
}

// Opens `n` clients and waits until each got the ":ok" preamble.
template <typename Pool>
bool open_clients(Pool& pool, int n, std::chrono::milliseconds timeout) {
  pool.start(n);
  bool ok = wait_for([&] { return pool.ok_count() == n || pool.ended_count() > 0; }, timeout);
  if (!ok || pool.ok_count() != n) {
    note("only " + std::to_string(pool.ok_count()) + " of " + std::to_string(n) +
         " clients got the stream preamble (" + std::to_string(pool.ended_count()) + " closed)");
    return false;
  }
  return true;
}

// Why the daemons refused streams (eventstreams_streams_refused_total by reason), if they did.
void report_refusals(const system_under_test& sut) {
  std::string line;
  for (const char* reason : {"connection_limit", "client_limit", "starting_limit",
                             "out_of_resources", "catchup_limit", "kafka_unavailable"}) {
    const double n =
        sut.metric("eventstreams_streams_refused_total", std::string("reason=\"") + reason + "\"");
    if (n > 0)
      line += " " + std::string(reason) + "=" + std::to_string(static_cast<long>(n));
  }
  if (!line.empty())
    note("streams refused by the daemons:" + line);
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

// Clients that decoded their events (offsets, ids, latency): the others only counted them.
double sampled_clients(const std::vector<es::connection_stats>& stats) {
  return static_cast<double>(
      std::count_if(stats.begin(), stats.end(), [](const auto& st) { return st.sampled; }));
}

// eventstreams_clients_disconnected_total{reason=...} of the daemon under test.
double disconnects(const system_under_test& sut, const char* reason) {
  return sut.metric("eventstreams_clients_disconnected_total",
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

// The scenario's SSE clients: in this process or over --client-processes, --sample-every.
bench::client_fleet clients(const options& o, es::pool_options po) {
  po.sample_every = o.sample_every;
  po.gather_us = o.client_gather_us;
  return bench::client_fleet(std::move(po), {o.client_processes, o.work_dir});
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
  auto pool = clients(o, po);
  if (!open_clients(pool, o.clients, es::sse_client_pool::start_bound(o.clients))) {
    report_refusals(sut);
    pool.stop();
    report_client_failures(pool.stats());
    return false;
  }
  std::this_thread::sleep_for(2s);  // consumers connect to every broker and start fetching
  const double wakes0 = sut.metric("eventstreams_fanout_wakes_total");
  const double sent0 = sut.metric("eventstreams_events_sent_total");
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
  // Shared mode: events per write (fanout.flush_delay batches the events of several batches).
  const double wakes = sut.metric("eventstreams_fanout_wakes_total") - wakes0;
  const double sent = sut.metric("eventstreams_events_sent_total") - sent0;
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
  if (wakes > 0)
    result("b_events_per_write", sent / wakes);
  result("c_fetch_wait_ms", o.fetch_wait_ms);
  result("c_samples", static_cast<double>(lat.size()));
  result("c_sampled_clients", sampled_clients(pool.stats()));
  result("c_client_processes", o.client_processes);
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
  auto pool = clients(o, clients_of(sut, 1, false));
  if (!open_clients(pool, n, es::sse_client_pool::start_bound(n))) {
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
  bool dropped = false;
  const long slab2 = slab_kb(&dropped);
  const int open = n - pool.ended_count();
  if (!sut.more.empty()) {
    // Several daemons on one port: each one's share, as the kernel spread the connections.
    std::string each = "(d) per daemon process: RSS MB / fds / threads:";
    for (const auto& one : sut.take_each()) {
      each += " " + std::to_string(one.rss_kb / 1024) + "/" + std::to_string(one.fds) + "/" +
              std::to_string(one.threads);
    }
    note(each);
  }
  pool.stop();
  sut.stop();
  report_client_failures(pool.stats());
  const double per = 1.0 / n;
  const double rss_per = static_cast<double>(s2.daemon.rss_kb - s0.daemon.rss_kb) * per;
  // Kernel memory of both ends of each loopback connection (the client's socket too), so an
  // upper bound of the daemon's share; other activity on the host moves it as well.
  const double slab_per = static_cast<double>(slab2 - slab0) * per;
  result("d_connections", n);
  result("d_daemon_processes", o.daemon_processes);
  result("d_client_processes", o.client_processes);
  result("d_connections_open", open);
  result("d_rss_before_kb", static_cast<double>(s0.daemon.rss_kb));
  result("d_rss_after_kb", static_cast<double>(s2.daemon.rss_kb));
  result("d_rss_per_conn_kb", rss_per);
  result("d_slab_per_conn_kb", slab_per);
  result("d_slab_caches_dropped", dropped);
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
  auto stalled_pool = clients(o, sp);
  if (stalled > 0)
    stalled_pool.start(stalled);
  es::pool_options rp = clients_of(sut, partitions, true);
  rp.first_offset = 1;
  auto readers = clients(o, rp);
  if (!open_clients(readers, o.stalled_readers, 60s))
    return out;
  // Every client streams (their start positions are fixed) before the first event.
  const double connected = stalled + o.stalled_readers;
  if (!wait_for([&] { return sut.metric("eventstreams_connected_clients") == connected; }, 30s)) {
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

// (g) filters: `n` clients of the shared mode, client i with `?filter=title=Bench_<i>`, while the
// producer writes titles Bench_0 .. Bench_<n-1> in turn (each record matches exactly one client).
struct filters_pass {
  int clients = 0;
  double idle_cpu_pct = -1, cpu_pct = 0, cpu_seconds = 0, window_s = 0;
  double records = 0, hub_records = 0, evaluations = 0;
  double delivered = 0, expected = 0, clients_complete = 0, bad = 0, unexpected = 0;
  double shared_streams = 0, cohorts = 0, overruns = 0, rss_mb = 0;
  bool ok = false;
  double cpu_per_record_us() const { return records > 0 ? cpu_seconds / records * 1e6 : 0; }
  // Without what the n connections cost while idle (heartbeats, position ticks).
  double net_cpu_per_record_us() const {
    if (records <= 0 || idle_cpu_pct < 0)
      return 0;
    return (cpu_seconds - idle_cpu_pct / 100 * window_s) / records * 1e6;
  }
};

filters_pass run_filters_pass(const options& o, int n) {
  const int partitions = o.load_partitions > 0 ? o.load_partitions : o.partitions;
  filters_pass out;
  out.clients = n;
  system_under_test sut;
  if (!sut.start(o, "filters-" + std::to_string(n), bench_layout(o.brokers, partitions),
                 consumer_properties(o, o.fetch_wait_ms)))
    return out;
  auto producer = make_producer(o, sut.bootstrap);
  bench::event_writer writer(*producer, topic, partitions);
  if (!warm_producer(writer, partitions))
    return out;
  writer.set_titles(static_cast<std::uint64_t>(n));
  es::pool_options po = clients_of(sut, partitions, false);
  po.first_offset = 1;  // after the warm-up event (offsets then jump: gaps by design)
  for (int i = 0; i < n; ++i) {
    const std::string title = "Bench_" + std::to_string(i);
    po.paths.push_back(std::string(stream_path) + "?filter=title=" + title);
    po.expect_data.push_back(R"("title":")" + title + "\"");
  }
  auto pool = clients(o, po);
  if (!open_clients(pool, n, 120s))
    return out;
  // Every stream has joined the hub before the first event.
  if (!wait_for(
          [&] { return sut.metric("eventstreams_connected_clients") == static_cast<double>(n); },
          30s)) {
    note("filters: not every client streams");
    return out;
  }
  out.shared_streams = sut.metric("eventstreams_streams_opened_total", "mode=\"shared\"");
  std::this_thread::sleep_for(2s);  // settle
  const auto i0 = sut.take();
  std::this_thread::sleep_for(5s);  // the n connections, idle
  const auto i1 = sut.take();
  out.idle_cpu_pct = es::cpu_percent(i0.daemon, i1.daemon);
  const double evals0 = sut.metric("eventstreams_fanout_filter_evaluations_total");
  const double records0 = sut.metric("eventstreams_fanout_records_total");
  const auto duration = std::chrono::seconds(o.filter_duration_s);
  const auto s0 = sut.take();
  auto prod = writer.paced(o.filter_rate, duration, clock_type::now() + duration + 30s);
  const auto s1 = sut.take();
  writer.await_acks(prod, clock_type::now() + 30s);
  wait_events(pool, prod.delivered, 10s, 30s);
  out.evaluations = sut.metric("eventstreams_fanout_filter_evaluations_total") - evals0;
  out.hub_records = sut.metric("eventstreams_fanout_records_total") - records0;
  // The gauge is set when the hub merges or drops cohorts (on records), not when one joins.
  out.cohorts = sut.metric("eventstreams_fanout_cohorts");
  out.overruns = overrun_disconnects(sut);
  out.rss_mb = static_cast<double>(sut.take().daemon.rss_kb) / 1024.0;
  pool.stop();
  producer.reset();
  sut.stop();
  out.cpu_pct = es::cpu_percent(s0.daemon, s1.daemon);
  out.cpu_seconds = s1.daemon.cpu_seconds - s0.daemon.cpu_seconds;
  out.window_s = std::chrono::duration<double>(s1.daemon.at - s0.daemon.at).count();
  out.records = static_cast<double>(prod.produced);
  // Client i's title is carried by the records whose seq % n == i (seq 0 .. produced - 1).
  const auto per = prod.produced / static_cast<std::uint64_t>(n);
  const auto rest = prod.produced % static_cast<std::uint64_t>(n);
  const auto& stats = pool.stats();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const auto expected = per + (i < rest ? 1 : 0);
    const auto& st = stats[i];
    out.expected += static_cast<double>(expected);
    out.delivered += static_cast<double>(st.events);
    out.bad += static_cast<double>(st.bad_events + st.id_mismatch);
    out.unexpected += static_cast<double>(st.unexpected_data);
    if (st.events == expected && st.unexpected_data == 0 && !st.ended)
      ++out.clients_complete;
  }
  report_client_failures(stats);
  out.ok = prod.complete();
  return out;
}

bool scenario_filters(const options& o) {
  const int partitions = o.load_partitions > 0 ? o.load_partitions : o.partitions;
  note(
      "(g) filters: shared mode; N clients, client i with ?filter=title=Bench_<i> (a distinct "
      "filter each; the bench events have only 6 wikis, so `title`, a top-level string field "
      "like `wiki`, stands in for the wiki); " +
      std::to_string(o.filter_rate) + " events/s for " + std::to_string(o.filter_duration_s) +
      " s whose titles cycle through Bench_0 .. Bench_<N-1> (each record matches one client); " +
      std::to_string(partitions) + " partitions, " + std::to_string(o.brokers) + " brokers");
  std::vector<filters_pass> passes;
  bool ok = true;
  for (int n : o.filter_clients) {
    passes.push_back(run_filters_pass(o, n));
    const auto& p = passes.back();
    ok = ok && p.ok;
    const std::string k = "f_" + std::to_string(n) + "_";
    auto put = [&](const char* name, double v) { result((k + name).c_str(), v); };
    put("clients", n);
    put("shared_streams", p.shared_streams);
    put("cohorts", p.cohorts);
    put("idle_cpu_pct", p.idle_cpu_pct);
    put("cpu_pct", p.cpu_pct);
    put("records", p.records);
    put("hub_records", p.hub_records);
    put("cpu_per_record_us", p.cpu_per_record_us());
    put("net_cpu_per_record_us", p.net_cpu_per_record_us());
    put("evaluations_per_record", p.hub_records > 0 ? p.evaluations / p.hub_records : 0);
    put("delivered", p.delivered);
    put("expected", p.expected);
    put("clients_complete", p.clients_complete);
    put("bad_events", p.bad);
    put("unexpected_events", p.unexpected);
    put("overrun_disconnects", p.overruns);
    put("rss_mb", p.rss_mb);
  }
  // The last count against the first (10,000 against 10 by default), in this run.
  if (passes.size() >= 2 && passes.front().cpu_per_record_us() > 0) {
    const auto& a = passes.front();
    const auto& b = passes.back();
    result("f_cpu_ratio", b.cpu_per_record_us() / a.cpu_per_record_us());
    if (a.net_cpu_per_record_us() > 0)
      result("f_net_cpu_ratio", b.net_cpu_per_record_us() / a.net_cpu_per_record_us());
  }
  return ok;
}

// Low and high watermarks of every partition of `topic`, asked of the cluster (-1 where the
// query failed; each query bounded at 5 s, and the first failure ends them).
std::vector<std::pair<std::int64_t, std::int64_t>> watermarks(const std::string& bootstrap,
                                                              int partitions) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out(static_cast<std::size_t>(partitions),
                                                         {-1, -1});
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return out;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return out;
  }
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = -1, high = -1;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
      break;
    out[static_cast<std::size_t>(p)] = {low, high};
  }
  rd_kafka_destroy(rk);
  return out;
}

// A Last-Event-ID naming `offset` in each of the bench topic's `partitions` partitions.
std::string id_at(int partitions, std::int64_t offset) {
  std::string id = "[";
  for (int p = 0; p < partitions; ++p) {
    id += std::string(p ? "," : "") + R"({"topic":")" + topic + R"(","partition":)" +
          std::to_string(p) + R"(,"offset":)" + std::to_string(offset) + "}";
  }
  return id + "]";
}

// (h) one client reading the whole topic from offset 0 of every partition.
struct catchup_pass {
  double seconds = 0;         // request sent .. the daemon had taken every record
  double client_seconds = 0;  // request sent .. the client's last event
  double received = 0, gaps = 0, bad = 0, wire_bytes = 0;
  double daemon_cpu_pct = 0, cluster_cpu_pct = 0, daemon_cpu_seconds = 0;
  double daemon_system_seconds = 0;  // of daemon_cpu_seconds, the kernel's (stime)
  bool complete = false;
};

catchup_pass run_catchup_pass(const system_under_test& sut, int partitions, const std::string& path,
                              std::uint64_t records, std::uint64_t expected) {
  catchup_pass out;
  const auto port = sut.daemon->port();
  // What the daemon took from Kafka for its one stream: sent, or skipped by the filter (the
  // events are never canaries, always JSON). Deltas: each pass uses the same daemon.
  auto taken = [&] {
    return sut.metric("eventstreams_events_sent_total") +
           sut.metric("eventstreams_events_skipped_total", "reason=\"filter\"");
  };
  const double base = taken();
  const std::string id = id_at(partitions, 0);
  es::pool_options po;
  po.port = port;
  po.path = path;
  po.partitions = partitions;
  po.headers = "Last-Event-ID: " + id + "\r\n";
  es::sse_client_pool pool(po);
  const auto s0 = sut.take();
  const std::int64_t t0 = es::steady_ns();
  pool.start(1);
  // Bounded: 300 s in all, 15 s without progress.
  const auto deadline = clock_type::now() + 300s;
  double seen = 0;
  auto progress_at = clock_type::now();
  std::int64_t t_end = 0;
  while (clock_type::now() < deadline && clock_type::now() - progress_at < 15s &&
         pool.ended_count() == 0) {
    const double now_taken = taken() - base;
    if (now_taken >= static_cast<double>(records)) {
      t_end = es::steady_ns();
      break;
    }
    if (now_taken != seen) {
      seen = now_taken;
      progress_at = clock_type::now();
    }
    std::this_thread::sleep_for(20ms);
  }
  const auto s1 = sut.take();
  // The daemon has taken every record; its last events are on their way to the client.
  wait_events(pool, expected, 5s, 15s);
  pool.stop();
  const auto& st = pool.stats()[0];
  report_client_failures(pool.stats());
  out.seconds = t_end ? static_cast<double>(t_end - t0) / 1e9 : 0;
  out.client_seconds = st.events ? static_cast<double>(st.last_event_ns - t0) / 1e9 : 0;
  out.received = static_cast<double>(st.events);
  out.gaps = static_cast<double>(st.gaps);
  out.bad = static_cast<double>(st.bad_events + st.id_mismatch);
  out.wire_bytes = static_cast<double>(st.bytes);
  out.daemon_cpu_pct = es::cpu_percent(s0.daemon, s1.daemon);
  out.daemon_cpu_seconds = s1.daemon.cpu_seconds - s0.daemon.cpu_seconds;
  out.daemon_system_seconds = s1.daemon.system_seconds - s0.daemon.system_seconds;
  out.cluster_cpu_pct = sut.cluster_cpu(s0, s1);
  out.complete = t_end != 0 && st.events == expected;
  if (!t_end)
    note("catchup: the daemon did not take all " + std::to_string(records) + " records in time (" +
         std::to_string(static_cast<std::uint64_t>(seen)) + ")");
  return out;
}

bool scenario_catchup(const options& o) {
  const int partitions = o.catchup_partitions;
  const std::uint64_t events = o.catchup_events;
  // 1 %: the users BenchUser987 .. BenchUser996 (user = seq % 997, so 10 of 997 values; with
  // 150,000 events each has 150 of them: exactly 1,500). Counted exactly below.
  std::string users;
  for (int u = 987; u <= 996; ++u)
    users += (users.empty() ? "" : ",") + std::string("BenchUser") + std::to_string(u);
  std::uint64_t matching = 0;
  for (std::uint64_t seq = 0; seq < events; ++seq)
    matching += seq % 997 >= 987 ? 1 : 0;
  note("(h) catchup: " + std::to_string(events) + " events of ~1 KB already in " +
       std::to_string(partitions) + " partitions (" + std::to_string(o.brokers) +
       " brokers); one client from offset 0 of every partition (Last-Event-ID), without a "
       "filter, then with ?filter=user=" +
       users + " (" + std::to_string(matching) + " events)");
  system_under_test sut;
  if (!sut.start(o, "catchup", bench_layout(o.brokers, partitions),
                 consumer_properties(o, o.fetch_wait_ms)))
    return false;
  auto producer = make_producer(o, sut.bootstrap);
  bench::event_writer writer(*producer, topic, partitions);
  const auto prod = writer.burst(events, clock_type::now() + 120s);
  producer.reset();
  // The mock keeps about 5 MB per partition: are the first offsets still there?
  // -1: a query failed.
  std::int64_t low_max = 0, high_sum = 0;
  for (const auto& [low, high] : watermarks(sut.bootstrap, partitions)) {
    if (low < 0) {
      low_max = -1;
      break;
    }
    low_max = std::max(low_max, low);
    high_sum += high;
  }
  result("cu_events", static_cast<double>(prod.delivered));
  result("cu_partitions", partitions);
  result("cu_event_bytes", static_cast<double>(prod.avg_bytes));
  result("cu_low_watermark_max", static_cast<double>(low_max));
  result("cu_high_watermark_sum", static_cast<double>(high_sum));
  if (!prod.complete() || low_max != 0 || high_sum != static_cast<std::int64_t>(events)) {
    note("catchup: the topic does not hold every event from offset 0 (produced " +
         std::to_string(prod.delivered) + ", highest low watermark " + std::to_string(low_max) +
         ", high watermarks sum " + std::to_string(high_sum) + ")");
  }
  // Shared mode: (h) measures a catch-up inside the rings, so the hub must have read every record
  // before the client asks; otherwise the pass also pays for the hub's own reading of the topic
  // (its Kafka fetches and JSON splicing), and the client follows the hub live.
  if (o.mode == "shared" &&
      !wait_hub_read(sut, static_cast<double>(events) * o.daemon_processes, 60s)) {
    note("catchup: the hub read only " +
         std::to_string(
             static_cast<std::uint64_t>(sut.metric("eventstreams_fanout_records_total"))) +
         " of the " + std::to_string(events) + " records within 60 s");
  }
  const auto all = run_catchup_pass(sut, partitions, stream_path, events, events);
  const auto filtered = run_catchup_pass(
      sut, partitions, std::string(stream_path) + "?filter=user=" + users, events, matching);
  sut.stop();
  const double ev = static_cast<double>(events);
  result("cu_all_seconds", all.client_seconds);
  result("cu_all_events_per_s", all.client_seconds > 0 ? ev / all.client_seconds : 0);
  result("cu_all_taken_seconds", all.seconds);
  result("cu_all_received", all.received);
  result("cu_all_gaps", all.gaps);
  result("cu_all_bad_events", all.bad);
  result("cu_all_wire_bytes_per_event", all.received > 0 ? all.wire_bytes / all.received : 0);
  result("cu_all_daemon_cpu_pct", all.daemon_cpu_pct);
  result("cu_all_daemon_cpu_us_per_event", all.daemon_cpu_seconds / ev * 1e6);
  result("cu_all_daemon_system_us_per_event", all.daemon_system_seconds / ev * 1e6);
  result("cu_all_mock_cpu_pct", all.cluster_cpu_pct);
  result("cu_filter_expected", static_cast<double>(matching));
  result("cu_filter_received", filtered.received);
  result("cu_filter_bad_events", filtered.bad);
  result("cu_filter_seconds", filtered.seconds);
  result("cu_filter_events_per_s", filtered.seconds > 0 ? ev / filtered.seconds : 0);
  result("cu_filter_daemon_cpu_pct", filtered.daemon_cpu_pct);
  result("cu_filter_daemon_cpu_us_per_event", filtered.daemon_cpu_seconds / ev * 1e6);
  result("cu_filter_daemon_system_us_per_event", filtered.daemon_system_seconds / ev * 1e6);
  result("cu_filter_mock_cpu_pct", filtered.cluster_cpu_pct);
  if (all.client_seconds > 0 && filtered.seconds > 0)
    result("cu_filter_speedup", all.client_seconds / filtered.seconds);
  return prod.complete() && all.complete && filtered.complete && all.gaps == 0;
}

// (i) a reconnect storm, shared mode: `storm_clients` clients reconnect at once, all with the
// Last-Event-ID of one position `storm_history` events behind the end (what clients of one group
// hold after a node restart or a load balancer's shuffle). Measured: when every client had every
// event after its id, how many Kafka consumers the resumes took (none: the rings hold them), the
// groups left, and the daemon's CPU.
// (j) stream sets: 10 streams over 4 topics (each topic alone, and each pair), clients spread
// over them, against every client on one single-topic stream; each pass a fresh daemon, both
// at the same deliveries per second (the ten streams' clients get 0.4 of the events on
// average, so the single stream's producer runs at 0.4 of the rate).
struct sets_pass {
  double cpu_seconds = 0;
  double cpu_pct = 0;
  std::uint64_t delivered = 0;  // events received, all clients
  std::uint64_t expected = 0;
  int complete = 0;  // clients with exactly their events, in order
  std::uint64_t gaps = 0, bad = 0;
  double overruns = 0;
  double p50_ms = 0, p99_ms = 0;
  double cohorts = 0;
  bool ok = false;
};

constexpr int sets_topic_count = 4;
std::string sets_topic(int k) {
  return "bench.sets" + std::to_string(k);
}
// Stream i's topics: 0-3 one topic each, 4-9 the six pairs.
std::vector<int> sets_stream_topics(int i) {
  static const std::vector<std::vector<int>> sets = {{0},    {1},    {2},    {3},    {0, 1},
                                                     {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  return sets[static_cast<std::size_t>(i)];
}

sets_pass run_sets_pass(const options& o, bool ten, int partitions) {
  sets_pass r;
  layout l = bench_layout(o.brokers, partitions);
  l.streams.clear();
  for (int i = 0; i < 10; ++i) {
    es::stream_def d{"s" + std::to_string(i), {}, {}, false};
    for (int k : sets_stream_topics(i))
      d.topics.push_back(sets_topic(k));
    l.streams.push_back(std::move(d));
  }
  system_under_test sut;
  if (!sut.start(o, ten ? "sets-ten" : "sets-one", l, consumer_properties(o, o.fetch_wait_ms)))
    return r;
  auto producer = make_producer(o, sut.bootstrap);
  std::vector<std::string> topics;
  for (int k = 0; k < (ten ? sets_topic_count : 1); ++k)
    topics.push_back(sets_topic(k));
  bench::event_writer writer(*producer, topics, partitions);
  if (!warm_producer(writer, partitions * static_cast<int>(topics.size())))
    return r;
  es::pool_options po = clients_of(sut, partitions, true);
  po.first_offset = 1;  // after the warm-up event of each partition
  if (ten) {
    for (int i = 0; i < 10; ++i)
      po.paths.push_back("/v2/stream/s" + std::to_string(i));
    for (int k = 0; k < sets_topic_count; ++k)
      po.topics.push_back(sets_topic(k));
  } else {
    po.path = "/v2/stream/s0";
  }
  auto pool = clients(o, po);
  if (!open_clients(pool, o.sets_clients, 60s))
    return r;
  std::this_thread::sleep_for(2s);  // the hub fetches from every broker
  const double rate = ten ? o.sets_rate : o.sets_rate * 0.4;
  const auto s0 = sut.take();
  auto prod = writer.paced(rate, std::chrono::seconds(o.duration_s),
                           clock_type::now() + std::chrono::seconds(o.duration_s) + 30s);
  writer.await_acks(prod, clock_type::now() + 30s);
  // Events per topic: seq % topics.
  std::vector<std::uint64_t> per_topic(topics.size(), 0);
  for (std::size_t k = 0; k < topics.size(); ++k)
    per_topic[k] = (prod.produced + topics.size() - 1 - k) / topics.size();
  auto expected_of = [&](std::size_t client) {
    if (!ten)
      return per_topic[0];
    std::uint64_t n = 0;
    for (int k : sets_stream_topics(static_cast<int>(client % 10)))
      n += per_topic[static_cast<std::size_t>(k)];
    return n;
  };
  for (std::size_t i = 0; i < static_cast<std::size_t>(o.sets_clients); ++i)
    r.expected += expected_of(i);
  wait_events(pool, r.expected, 10s, 30s);
  const auto s1 = sut.take();  // after the last delivery: the CPU of every event's fan-out
  r.overruns = overrun_disconnects(sut);
  r.cohorts = sut.metric("eventstreams_fanout_cohorts");
  pool.stop();
  producer.reset();
  sut.stop();
  const auto stats = pool.stats();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const auto& st = stats[i];
    r.delivered += st.events;
    r.gaps += st.gaps;
    r.bad += st.bad_events + st.id_mismatch;
    if (st.events == expected_of(i) && st.gaps == 0 && !st.ended)
      ++r.complete;
  }
  report_client_failures(stats);
  const double seconds = std::chrono::duration<double>(s1.daemon.at - s0.daemon.at).count();
  r.cpu_pct = es::cpu_percent(s0.daemon, s1.daemon);
  r.cpu_seconds = r.cpu_pct / 100.0 * seconds;
  auto& lat = pool.latencies_ns();
  r.p50_ms = percentile_ms(lat, 0.50);
  r.p99_ms = percentile_ms(lat, 0.99);
  r.ok = prod.complete() && r.complete == o.sets_clients;
  return r;
}

bool scenario_sets(const options& o) {
  const int partitions = o.load_partitions > 0 ? o.load_partitions : 8;
  note("(j) stream sets: " + std::to_string(o.sets_clients) + " clients on 1 stream of 1 topic, " +
       "then on 10 streams over 4 topics (" + std::to_string(partitions) +
       " partitions each), the same deliveries per second; " + std::to_string(o.sets_rate) +
       " events/s over the 4 topics");
  result("j_clients", o.sets_clients);
  bool ok = true;
  double per_event[2] = {0, 0};
  for (bool ten : {false, true}) {
    const auto r = run_sets_pass(o, ten, partitions);
    const std::string k = ten ? "j_ten_" : "j_one_";
    result(k + "delivered", static_cast<double>(r.delivered));
    result(k + "expected", static_cast<double>(r.expected));
    result(k + "clients_complete", r.complete);
    result(k + "gaps", static_cast<double>(r.gaps));
    result(k + "bad_events", static_cast<double>(r.bad));
    result(k + "overruns", r.overruns);
    result(k + "cohorts", r.cohorts);
    result(k + "cpu_pct", r.cpu_pct);
    result(k + "p50_ms", r.p50_ms);
    result(k + "p99_ms", r.p99_ms);
    if (r.delivered > 0) {
      per_event[ten] = r.cpu_seconds * 1e6 / static_cast<double>(r.delivered);
      result(k + "cpu_per_event_us", per_event[ten]);
    }
    ok = ok && r.ok;
  }
  if (per_event[0] > 0 && per_event[1] > 0)
    result("j_cpu_ratio", per_event[1] / per_event[0]);
  return ok;
}

bool scenario_storm(const options& o) {
  constexpr int partitions = 8;
  const int n = o.storm_clients;
  const std::uint64_t before = 100 * partitions;  // offsets 0..99 of each partition
  const std::uint64_t history = o.storm_history / partitions * partitions;
  note("(i) storm: " + std::to_string(n) + " clients reconnect at once with one id " +
       std::to_string(history) + " events (" + std::to_string(partitions) +
       " partitions) behind the end");
  system_under_test sut;
  if (!sut.start(o, "storm", bench_layout(o.brokers, partitions),
                 consumer_properties(o, o.fetch_wait_ms)))
    return false;
  auto producer = make_producer(o, sut.bootstrap);
  bench::event_writer writer(*producer, topic, partitions);
  const auto first = writer.burst(before, clock_type::now() + 60s);
  const auto then = writer.burst(history, clock_type::now() + 60s);
  producer.reset();
  const auto port = sut.daemon->port();
  // The shared consumer read them all (the rings hold them).
  const double records = static_cast<double>(before + history);
  if (!wait_hub_read(sut, records * o.daemon_processes, 30s)) {
    note("storm: the shared consumer did not read every record");
    sut.stop();
    return false;
  }
  const std::string id = id_at(partitions, 100);
  es::pool_options po;
  po.port = port;
  po.path = stream_path;
  po.partitions = partitions;
  po.first_offset = 100;
  po.headers = "Last-Event-ID: " + id + "\r\n";
  po.max_starting = o.storm_in_flight;
  auto pool = clients(o, po);
  const double lookups0 = sut.metric("eventstreams_start_lookups_total");
  const auto s0 = sut.take();
  const std::int64_t t0 = es::steady_ns();
  pool.start(n);
  // Every client back in a group: the hub answered its join (each resume from the rings is
  // counted then), polled every 20 ms, while the events flow.
  std::int64_t t_joined = 0;
  std::thread joins([&] {
    const auto deadline = clock_type::now() + 120s;
    while (clock_type::now() < deadline) {
      if (sut.metric("eventstreams_fanout_resumes_total") >= n) {
        t_joined = es::steady_ns();
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  const bool all = wait_events(pool, static_cast<std::uint64_t>(n) * history, 15s, 120s);
  joins.join();
  const std::int64_t t1 = es::steady_ns();
  const auto s1 = sut.take();
  const double ring = sut.metric("eventstreams_fanout_resumes_total", "from=\"ring\"");
  const double kafka = sut.metric("eventstreams_fanout_resumes_total", "from=\"kafka\"");
  const double replayed = sut.metric("eventstreams_fanout_replayed_records_total");
  const double cohorts = sut.metric("eventstreams_fanout_cohorts");
  const double demotions = sut.metric("eventstreams_fanout_demotions_total");
  const double lookups = sut.metric("eventstreams_start_lookups_total") - lookups0;
  // The statistics of every client, once they stopped (the client processes' arrive then).
  pool.stop();
  report_client_failures(pool.stats());
  sut.stop();
  std::int64_t last = 0;
  std::uint64_t gaps = 0, bad = 0, wire = 0;
  for (const auto& st : pool.stats()) {
    last = std::max(last, st.last_event_ns);
    wire += st.bytes;
    gaps += st.gaps;
    bad += st.bad_events + st.id_mismatch;
  }
  result("st_clients", n);
  result("st_sampled_clients", sampled_clients(pool.stats()));
  result("st_client_processes", o.client_processes);
  result("st_in_flight", o.storm_in_flight);
  result("st_start_lookups", lookups);
  result("st_history_events", static_cast<double>(history));
  result("st_produced", static_cast<double>(first.delivered + then.delivered));
  result("st_all_received", all ? 1 : 0);
  result("st_seconds_all_joined", t_joined > t0 ? static_cast<double>(t_joined - t0) / 1e9 : 0);
  result("st_seconds_to_last_event", last > t0 ? static_cast<double>(last - t0) / 1e9 : 0);
  result("st_seconds_measured", static_cast<double>(t1 - t0) / 1e9);
  result("st_events_received", static_cast<double>(pool.total_events()));
  result("st_gaps", static_cast<double>(gaps));
  result("st_wire_bytes_per_event",
         pool.total_events() ? static_cast<double>(wire) / static_cast<double>(pool.total_events())
                             : 0);
  result("st_bad_events", static_cast<double>(bad));
  result("st_resumes_from_ring", ring);
  result("st_resumes_from_kafka", kafka);
  result("st_replayed_records", replayed);
  result("st_cohorts_after", cohorts);
  result("st_demotions", demotions);
  result("st_daemon_cpu_seconds", s1.daemon.cpu_seconds - s0.daemon.cpu_seconds);
  result("st_rss_after_kb", static_cast<double>(s1.daemon.rss_kb));
  return all && gaps == 0 && bad == 0 && kafka == 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A client process of a fleet (bench/client_fleet.hpp), started by this program.
  if (argc == 3 && std::string_view(argv[1]) == "--client-process")
    return bench::run_client_process(argv[2]);
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
        {"churn", scenario_churn},
        {"filters", scenario_filters},
        {"catchup", scenario_catchup},
        {"storm", scenario_storm},
        {"sets", scenario_sets}};
    for (const auto& [name, run] : scenarios) {
      if (!o.scenarios.count(name))
        continue;
      // (g) measures the shared mode's filters: once, in the shared mode, whatever --mode says.
      const bool shared_only = std::string_view(name) == "filters" ||
                               std::string_view(name) == "storm" ||
                               std::string_view(name) == "sets";
      const std::vector<std::string> modes =
          shared_only ? std::vector<std::string>{"shared"} : o.modes;
      for (const auto& mode : modes) {
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

// Command-line options of bench/load_bench (see bench/README.md and `load_bench --help`).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bench {

using property_list = std::vector<std::pair<std::string, std::string>>;

struct options {
  std::string daemon;
  std::string work_dir = "/tmp/eventstreams-load-bench";
  std::set<std::string> scenarios{"throughput", "load", "idle", "stalled", "churn"};
  // The Kafka cluster (librdkafka's mock) in a process of its own, as a real one would be, or
  // inside the daemon (`--cluster embedded`, kafka.bootstrap_servers: embedded).
  bool separate_cluster = true;
  unsigned server_threads = 0;  // server.threads; 0 = the daemon's default (one per core)
  // Daemon processes under test on one port (server.reuse_port), each with its own admin
  // address for its metrics; their figures are summed (not with the churn scenario).
  int daemon_processes = 1;
  // Delivery modes to measure (fanout.mode of the daemon under test, docs/api.md "Delivery
  // modes"): `--mode per_connection|shared|both`; with both, every selected scenario runs once
  // per mode, per_connection first, then shared.
  std::vector<std::string> modes{"per_connection"};
  // The mode being measured: set by load_bench for each pass over `modes`.
  std::string mode = "per_connection";
  // (a)
  std::uint64_t events = 150000;
  int partitions = 32;
  int brokers = 3;
  // (b), (c): same cluster shape as (a) unless given
  int clients = 100;
  double rate = 1000;
  int duration_s = 20;
  int load_partitions = -1;
  // (d)
  int idle_connections = 200;
  int idle_seconds = 10;
  // (e) readers with and without stalled clients
  int stalled_readers = 20;
  int stalled_clients = 20;
  double stalled_rate = 2000;
  int stalled_duration_s = 15;
  // (f) connection churn: RSS once the connections made by each checkpoint are gone
  std::vector<int> churn_checkpoints{5500, 10000};
  int churn_threads = 4;
  // (g) filters, shared mode only: for each count, a fresh daemon and that many clients, each
  // with its own `?filter=title=Bench_<i>`, while `filter_rate` events/s are produced for
  // `filter_duration_s`.
  std::vector<int> filter_clients{10, 10000};
  double filter_rate = 1000;
  int filter_duration_s = 15;
  // (h) catch-up: one client reads `catchup_events` events already in a topic of
  // `catchup_partitions` partitions from offset 0, without a filter, then with a 1 % one.
  std::uint64_t catchup_events = 150000;
  int catchup_partitions = 64;
  // (i) reconnect storm, shared mode only: `storm_clients` clients reconnect at once with one
  // Last-Event-ID that is `storm_history` events (of 8 partitions) behind the end: 3 s of a
  // 100 events/s stream by default.
  int storm_clients = 10000;
  // (j) stream sets, shared mode only: `sets_clients` clients spread over 10 streams of 4
  // topics at `sets_rate` events/s in all, against the same clients on one stream.
  int sets_clients = 20000;
  double sets_rate = 10;
  std::uint64_t storm_history = 300;
  // How many of them may be connecting at once (between connect and the response's header):
  // within the listen backlog (net.core.somaxconn, 4096 here), beyond which the kernel drops
  // SYNs that the client resends only after a second.
  int storm_in_flight = 1000;
  // The SSE clients (bench/client_fleet.hpp): in this process on one epoll thread (1), or over
  // this many client processes, each bound to its own source address; and whether every
  // connection decodes its events (1) or every sample_every-th one does, the others counting
  // theirs (latency, offset and id checks then come from the sampled connections only).
  int client_processes = 1;
  int sample_every = 1;
  // Each client thread naps this long after a wait that found connections ready (0 = never):
  // fewer wake-ups of the clients, which the daemon pays for on loopback (bench/README.md).
  int client_gather_us = 0;
  // librdkafka properties of the daemon's consumers. fetch.wait.max.ms bounds the latency on
  // the mock cluster, which holds an empty Fetch that long. (d) uses the daemon's defaults
  // unless --idle-fetch-wait-ms is given.
  int fetch_wait_ms = 50;
  int idle_fetch_wait_ms = -1;
  property_list daemon_properties;
  property_list producer_properties;  // librdkafka properties of the benchmark's producer
  // More settings under the daemon's fanout: section (shared mode), e.g. flush_delay=5ms.
  property_list fanout_settings;
  // More settings under the daemon's server: section, e.g. heartbeat_interval=0.
  property_list server_settings;
  unsigned watchdog_s = 900;       // unless given: 900 s per mode measured
  std::string log_level = "warn";  // the daemon's logging.level (its log is in work_dir)
};

// Parses the command line; prints the usage and exits with status 2 on a mistake.
options parse_args(int argc, char** argv);

}  // namespace bench

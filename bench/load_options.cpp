// Command-line parsing of bench/load_bench.
#include "load_options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace bench {
namespace {

[[noreturn]] void usage(const char* error) {
  if (error)
    std::fprintf(stderr, "load_bench: %s\n", error);
  std::fputs(
      "usage: load_bench --daemon PATH\n"
      "  [--scenarios throughput,load,idle,stalled,churn,filters,catchup,storm,sets]\n"
      "  [--work-dir DIR]\n"
      "  [--cluster separate|embedded] [--mode per_connection|shared|both]\n"
      "  [--events N] [--partitions N] [--brokers N] [--server-threads N]\n"
      "  [--clients N] [--rate EV_PER_S] [--duration S] [--load-partitions N]\n"
      "  [--idle-connections N] [--idle-seconds S] [--fetch-wait-ms MS]\n"
      "  [--idle-fetch-wait-ms MS] [--property NAME=VALUE]... [--watchdog S]\n"
      "  [--stalled-readers N] [--stalled-clients N] [--stalled-rate EV_PER_S]\n"
      "  [--stalled-duration S] [--churn-checkpoints N,N,...] [--churn-threads N]\n"
      "  [--filter-clients N,N,...] [--filter-rate EV_PER_S] [--filter-duration S]\n"
      "  [--catchup-events N] [--catchup-partitions N] [--storm-clients N] [--storm-history N]\n"
      "  [--storm-in-flight N] [--client-processes N] [--sample-every N]\n"
      "  [--client-gather-us US]\n"
      "  [--sets-clients N] [--sets-rate R]\n"
      "  [--daemon-processes N]\n"
      "  [--producer-property NAME=VALUE]... [--fanout NAME=VALUE]... [--server NAME=VALUE]...\n"
      "  [--log-level LEVEL]\n",
      error ? stderr : stdout);
  std::exit(error ? 2 : 0);
}

}  // namespace

options parse_args(int argc, char** argv) {
  options o;
  bool watchdog_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h")
      usage(nullptr);
    if (i + 1 >= argc)
      usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    auto num = [&] {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < 0)
        usage(("bad number for " + a).c_str());
      return d;
    };
    if (a == "--daemon") {
      o.daemon = v;
    } else if (a == "--work-dir") {
      o.work_dir = v;
    } else if (a == "--scenarios") {
      o.scenarios.clear();
      for (std::size_t at = 0; at <= v.size();) {
        auto comma = std::min(v.find(',', at), v.size());
        o.scenarios.insert(v.substr(at, comma - at));
        at = comma + 1;
      }
    } else if (a == "--cluster") {
      if (v != "separate" && v != "embedded")
        usage("--cluster wants separate or embedded");
      o.separate_cluster = v == "separate";
    } else if (a == "--mode") {
      if (v == "both")
        o.modes = {"per_connection", "shared"};
      else if (v == "per_connection" || v == "shared")
        o.modes = {v};
      else
        usage("--mode wants per_connection, shared or both");
      o.mode = o.modes.front();
    } else if (a == "--events") {
      o.events = static_cast<std::uint64_t>(num());
    } else if (a == "--partitions") {
      o.partitions = static_cast<int>(num());
    } else if (a == "--brokers") {
      o.brokers = static_cast<int>(num());
    } else if (a == "--server-threads") {
      o.server_threads = static_cast<unsigned>(num());
    } else if (a == "--clients") {
      o.clients = static_cast<int>(num());
    } else if (a == "--rate") {
      o.rate = num();
    } else if (a == "--duration") {
      o.duration_s = static_cast<int>(num());
    } else if (a == "--load-partitions") {
      o.load_partitions = static_cast<int>(num());
    } else if (a == "--idle-connections") {
      o.idle_connections = static_cast<int>(num());
    } else if (a == "--idle-seconds") {
      o.idle_seconds = static_cast<int>(num());
    } else if (a == "--fetch-wait-ms") {
      o.fetch_wait_ms = static_cast<int>(num());
    } else if (a == "--idle-fetch-wait-ms") {
      o.idle_fetch_wait_ms = static_cast<int>(num());
    } else if (a == "--stalled-readers") {
      o.stalled_readers = static_cast<int>(num());
    } else if (a == "--stalled-clients") {
      o.stalled_clients = static_cast<int>(num());
    } else if (a == "--stalled-rate") {
      o.stalled_rate = num();
    } else if (a == "--stalled-duration") {
      o.stalled_duration_s = static_cast<int>(num());
    } else if (a == "--churn-checkpoints") {
      o.churn_checkpoints.clear();
      for (std::size_t at = 0; at <= v.size();) {
        auto comma = std::min(v.find(',', at), v.size());
        char* end = nullptr;
        const std::string item = v.substr(at, comma - at);
        long n = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || n <= 1000 ||
            (!o.churn_checkpoints.empty() && n <= o.churn_checkpoints.back()))
          usage("--churn-checkpoints wants increasing counts above the 1000 warm-up cycles");
        o.churn_checkpoints.push_back(static_cast<int>(n));
        at = comma + 1;
      }
    } else if (a == "--filter-clients") {
      o.filter_clients.clear();
      for (std::size_t at = 0; at <= v.size();) {
        auto comma = std::min(v.find(',', at), v.size());
        char* end = nullptr;
        const std::string item = v.substr(at, comma - at);
        long n = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || n < 1 || n > 100000)
          usage("--filter-clients wants client counts from 1 to 100000, comma-separated");
        o.filter_clients.push_back(static_cast<int>(n));
        at = comma + 1;
      }
    } else if (a == "--filter-rate") {
      o.filter_rate = num();
    } else if (a == "--filter-duration") {
      o.filter_duration_s = static_cast<int>(num());
    } else if (a == "--catchup-events") {
      o.catchup_events = static_cast<std::uint64_t>(num());
    } else if (a == "--catchup-partitions") {
      o.catchup_partitions = static_cast<int>(num());
    } else if (a == "--storm-clients") {
      o.storm_clients = static_cast<int>(num());
    } else if (a == "--sets-clients") {
      o.sets_clients = static_cast<int>(num());
    } else if (a == "--sets-rate") {
      o.sets_rate = num();
    } else if (a == "--storm-history") {
      o.storm_history = static_cast<std::uint64_t>(num());
    } else if (a == "--storm-in-flight") {
      o.storm_in_flight = static_cast<int>(num());
    } else if (a == "--client-processes") {
      o.client_processes = static_cast<int>(num());
    } else if (a == "--daemon-processes") {
      o.daemon_processes = static_cast<int>(num());
    } else if (a == "--sample-every") {
      o.sample_every = static_cast<int>(num());
    } else if (a == "--client-gather-us") {
      o.client_gather_us = static_cast<int>(num());
    } else if (a == "--churn-threads") {
      o.churn_threads = static_cast<int>(num());
    } else if (a == "--property") {
      auto eq = v.find('=');
      if (eq == std::string::npos)
        usage("--property wants NAME=VALUE");
      o.daemon_properties.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--producer-property") {
      auto eq = v.find('=');
      if (eq == std::string::npos)
        usage("--producer-property wants NAME=VALUE");
      o.producer_properties.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--fanout") {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        usage("--fanout wants NAME=VALUE (a key of the daemon's fanout: section)");
      o.fanout_settings.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--server") {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        usage("--server wants NAME=VALUE (a key of the daemon's server: section)");
      o.server_settings.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--log-level") {
      o.log_level = v;
    } else if (a == "--watchdog") {
      o.watchdog_s = static_cast<unsigned>(num());
      watchdog_given = true;
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.daemon.empty())
    usage("--daemon is required");
  for (const auto& s : o.scenarios) {
    if (s != "throughput" && s != "load" && s != "idle" && s != "stalled" && s != "churn" &&
        s != "filters" && s != "catchup" && s != "storm" && s != "sets")
      usage(("unknown scenario " + s).c_str());
  }
  if (o.partitions < 1 || o.brokers < 1 || o.clients < 1 || o.rate <= 0 || o.idle_connections < 1 ||
      o.events < 2 || o.stalled_readers < 1 || o.stalled_rate <= 0 || o.stalled_duration_s < 1 ||
      o.churn_threads < 1 || o.filter_rate <= 0 || o.filter_duration_s < 1 ||
      o.catchup_events < 100 || o.catchup_partitions < 1 || o.storm_clients < 1 ||
      o.sets_clients < 1 || o.sets_rate <= 0 || o.storm_history < 8 || o.storm_in_flight < 1 ||
      o.client_processes < 1 || o.sample_every < 1 || o.client_gather_us < 0 ||
      o.daemon_processes < 1) {
    usage("counts must be positive");
  }
  if (o.daemon_processes > 1 && o.scenarios.count("churn"))
    usage("--daemon-processes: the churn scenario measures one daemon process");
  // `--mode both` runs every scenario twice: twice the time.
  if (!watchdog_given)
    o.watchdog_s *= static_cast<unsigned>(o.modes.size());
  return o;
}

}  // namespace bench

// Configuration value types and the YAML loader that validates them (API.md §2).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"

namespace eventstreams {

enum class canary_policy { drop, pass };
enum class resume_policy { offset, timestamp };
// How a stream's connections are served (docs/api.md §11).
enum class delivery_mode { per_connection, shared };

struct stream_config {
  std::string name;
  std::vector<std::string> topics;  // composite topic list, order kept, no duplicates
  std::string description;
  std::vector<std::string> aliases;
  std::string schema_title;
  canary_policy canary_events = canary_policy::drop;
  // The stream's delivery mode: its own `fanout` key, else `fanout.mode` (resolved by the
  // loader, so the catalog never needs the global default).
  delivery_mode fanout = delivery_mode::per_connection;
};

struct server_config {
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 8092;
  // SO_REUSEPORT on the listening socket: several daemon processes on one address and port, the
  // kernel spreading new connections over them (docs/api.md "Several processes on one port").
  bool reuse_port = false;
  // A second address serving only /metrics, /healthz and /readyz ("" host = none): with
  // reuse_port, each process's own, so that Prometheus and the load balancer see every process.
  std::string admin_listen_host;
  std::uint16_t admin_listen_port = 0;
  unsigned threads = 0;  // 0 = number of cores (resolved by the app, not the loader)
  std::chrono::milliseconds heartbeat_interval{15000};  // 0 = off
  std::size_t max_connections = 10000;
  std::size_t client_ip_connection_limit = 0;            // 0 = off
  std::string client_ip_header;                          // "" = peer address
  std::chrono::milliseconds max_connection_duration{0};  // 0 = off
  // Origins allowed to read responses: "*" (any), or a list of exact origins
  // ("https://example.org"); a scalar in the file is a one-item list.
  std::vector<std::string> cors_allow_origin{"*"};
  std::size_t max_streams_per_request = 16;
  std::size_t max_buffered_bytes = 1 << 20;        // per connection, before draining pauses
  std::chrono::milliseconds kafka_timeout{10000};  // metadata/offset lookups at connect
  std::chrono::milliseconds shutdown_timeout{10000};
  // A client whose socket accepts nothing for this long is disconnected (it stopped reading).
  std::chrono::milliseconds stall_timeout{30000};
  std::size_t max_request_header_bytes = 8192;  // larger request headers get 431
  // Time to send a complete request header (also the idle limit between keep-alive requests).
  std::chrono::milliseconds request_header_timeout{10000};
  // Stream set-ups (Kafka lookups, consumer creation) queued or running at once; beyond it 503.
  std::size_t max_starting_streams = 64;
  // Threads for librdkafka calls that block (lookups at connect, consumer destruction).
  unsigned blocking_threads = 4;
  // The Retry-After of 503 and 429 answers.
  std::chrono::milliseconds retry_after{5000};
  // How often memory that malloc keeps after connections closed is returned to the system
  // (malloc_trim on the blocking pool); 0 = never.
  std::chrono::milliseconds memory_trim_interval{10000};
};

struct embedded_kafka_config {
  unsigned brokers = 3;
  unsigned partitions = 1;  // per topic
  double demo_rate = 20;    // synthetic events/s per stream; 0 = none
};

struct kafka_config {
  std::string bootstrap_servers = "localhost:9092";  // or "embedded"
  std::map<std::string, std::string> properties;     // passed through to librdkafka
  resume_policy resume_by = resume_policy::offset;
  // /readyz answers 200 while metadata was fetched successfully within this interval.
  std::chrono::milliseconds readiness_interval{30000};
  // Partition counts looked up at connect are reused for this long (0 = ask every time).
  std::chrono::milliseconds metadata_cache_ttl{5000};
  embedded_kafka_config embedded;

  bool is_embedded() const { return bootstrap_servers == "embedded"; }
};

// The shared delivery mode (docs/api.md §11).
struct fanout_config {
  delivery_mode mode = delivery_mode::per_connection;  // the default of every stream
  // Recent records kept per partition, in memory.
  std::size_t ring_max_bytes_per_partition = std::size_t{32} << 20;
  std::chrono::milliseconds ring_max_age{300000};
  std::size_t ring_max_bytes = std::size_t{512} << 20;  // whole process
  std::int64_t ring_warm_records = 10000;
  std::size_t catchup_readers_max = 64;
  // Bytes of framed events a group of clients with equal positions keeps for its slowest
  // member; a client further behind is ended after a complete event (reason "overrun").
  std::size_t cohort_window = std::size_t{1} << 20;
  // Hold a wake-up this long so that several events leave in one write (latency for CPU).
  std::chrono::milliseconds flush_delay{0};
  // librdkafka properties of the one shared consumer, over kafka.properties.
  std::map<std::string, std::string> hub_properties;
};

// Settings merged under every stream of a fetched EventStreamConfig document
// (`stream_config.defaults`, docs/api.md "Streams from EventStreamConfig"): a fetched stream's
// own value wins. The first four are EventStreamConfig fields; the last two are eventstreams'.
struct fetched_stream_defaults {
  std::optional<std::vector<std::string>> topic_prefixes;  // topics = each prefix + name
  std::optional<std::string> description;
  std::optional<std::string> schema_title;
  std::optional<bool> canary_events_enabled;
  std::optional<canary_policy> canary_events;  // overrides what canary_events_enabled implies
  std::optional<delivery_mode> fanout;         // else fanout.mode
};

// The `stream_config` section: the stream map fetched from an EventStreamConfig document
// (docs/api.md, "Streams from EventStreamConfig").
struct stream_source_config {
  std::string uri;                           // http://, https:// URL or a file path; "" = off
  std::string object_path = "streams";       // dotted path of the stream map; "" = the document
  std::chrono::milliseconds ttl{300000};     // refetch period; 0 = at start-up and SIGHUP only
  std::chrono::milliseconds timeout{10000};  // the whole fetch
  std::vector<std::string> allowed_streams;  // names or aliases; empty = every stream
  fetched_stream_defaults defaults;
  std::string ca_file;                            // extra CA bundle for https; "" = system's
  std::size_t max_bytes = std::size_t{16} << 20;  // largest document accepted

  bool enabled() const { return !uri.empty(); }
};

struct logging_config {
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
  std::string format = "text";  // text|json
};

struct config {
  server_config server;
  kafka_config kafka;
  logging_config logging;
  fanout_config fanout;
  stream_source_config stream_source;  // the `stream_config` section
  filter::limits filter;               // the `filter` section: bounds of ?filter=
  std::vector<stream_config> streams;  // the inline `streams`, in file order
};

// A configuration that cannot be used. what() is "FILE: KEY: REASON", ready to print.
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, std::string key, std::string reason);
  const std::string& file() const noexcept { return file_; }
  const std::string& key() const noexcept { return key_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string file_;
  std::string key_;
  std::string reason_;
};

// Parses and validates YAML text. `file_name` is only used in error messages.
// Throws config_error naming the dotted key (e.g. "server.heartbeat_interval",
// "streams.recentchange.topics[1]") and the reason. Unknown keys, wrong types,
// impossible values, duplicate stream names/aliases are all errors.
config parse_config(std::string_view yaml_text, const std::string& file_name);

// Reads the file and calls parse_config. A missing/unreadable file is a config_error too.
config load_config_file(const std::string& path);

// "500ms", "15s", "5m", "1h", or a bare "0". Returns nullopt for anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace eventstreams

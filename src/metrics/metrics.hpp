// The process's Prometheus metrics (prometheus-cpp core), rendered by our own /metrics route.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace eventstreams {

// Client lag samples of many streams (docs/api.md "Client lag"), added to the histograms with
// one call each (metrics::observe_client_lag(const lag_batch&)) rather than one per stream: the
// once-a-second sampler observes every stream of an I/O shard in one pass. Not thread-safe.
class lag_batch {
 public:
  // Bucket upper bounds (`le`) of eventstreams_client_lag_records and _seconds.
  static constexpr std::array<double, 9> records_bounds{0,     1,      10,      100,     1000,
                                                        10000, 100000, 1000000, 10000000};
  static constexpr std::array<double, 13> seconds_bounds{0,  0.5, 1,   2.5,  5,     10,   30,
                                                         60, 300, 900, 3600, 21600, 86400};
  void add(std::int64_t records, double seconds);
  // `n` streams caught up: n samples of 0 records, 0 s.
  void add_caught_up(std::size_t n);
  // Streams that began or stopped being counted in eventstreams_clients_lagging.
  void lagging(bool now) { lagging_change_ += now ? 1 : -1; }

 private:
  friend class metrics;
  std::vector<double> records_ = std::vector<double>(records_bounds.size() + 1);  // +Inf last
  std::vector<double> seconds_ = std::vector<double>(seconds_bounds.size() + 1);
  double records_sum_ = 0, seconds_sum_ = 0;
  std::size_t samples_ = 0;
  int lagging_change_ = 0;
};

// Thread-safe: prometheus-cpp metrics are atomics; families lock only when a label set is added,
// so sessions look their metrics up once and keep the references.
class metrics {
 public:
  metrics();

  prometheus::Gauge& connected_clients(const std::string& stream) {
    return connected_clients_.Add({{"stream", stream}});
  }
  prometheus::Counter& client_connections(const std::string& streams) {
    return client_connections_.Add({{"streams", streams}});
  }
  prometheus::Counter& events_sent(const std::string& stream) {
    return events_sent_.Add({{"stream", stream}});
  }
  prometheus::Counter& bytes_sent() { return bytes_sent_; }
  prometheus::Counter& events_skipped(const std::string& reason) {
    return events_skipped_.Add({{"reason", reason}});
  }
  // Stream requests answered with an error instead of their 200, by reason (docs/api.md
  // "Metrics"); each is also counted in http_requests{route="stream"} by its status.
  static constexpr const char* refusal_reasons[] = {
      "unknown_stream",    "too_many_streams", "invalid_timestamp", "invalid_last_event_id",
      "topic_not_allowed", "filter",           "shutting_down",     "connection_limit",
      "client_limit",      "starting_limit",   "out_of_resources",  "kafka_unavailable",
      "internal_error",    "catchup_limit"};
  prometheus::Counter& streams_refused(const std::string& reason) {
    return streams_refused_.Add({{"reason", reason}});
  }
  prometheus::Counter& http_requests(const std::string& route, unsigned code) {
    return http_requests_.Add({{"route", route}, {"code", std::to_string(code)}});
  }
  prometheus::Histogram& connection_duration() { return connection_duration_; }
  prometheus::Histogram& delivery_lag() { return delivery_lag_; }
  // Observes, in one call, the delivery lag of events with these Kafka timestamps sent at
  // `now_ms` (the shared mode accounts for a chunk of events at once).
  void observe_delivery_lags(std::span<const std::int64_t> timestamps, std::int64_t now_ms);
  // Client lag (docs/api.md "Metrics"), sampled once a second per stream: records behind the
  // ends of its partitions (summed) and the estimated age of the oldest of them (the largest
  // over its partitions), as histograms without per-client labels; and the streams more than
  // lagging_seconds behind.
  static constexpr double lagging_seconds = 10;
  void observe_client_lag(const lag_batch& batch);
  prometheus::Gauge& clients_lagging() { return clients_lagging_; }
  prometheus::Counter& kafka_errors(const std::string& kind) {
    return kafka_errors_.Add({{"kind", kind}});
  }
  prometheus::Counter& fetch_restarts() { return fetch_restarts_; }
  // The reasons a stream ends with, as labels (sse_session maps its close reasons to these).
  static constexpr const char* disconnect_reasons[] = {
      "client_closed", "server_shutdown", "max_connection_duration", "kafka_error", "write_failed",
      "client_error",  "stalled",         "internal_error",          "overrun",     "other"};
  // Gaps sent, per partition: a stream could not continue at the offset its Last-Event-ID named
  // or that it expected next (docs/api.md §5.4), by reason: retention, reset, unknown.
  prometheus::Counter& gaps(const std::string& reason) { return gaps_.Add({{"reason", reason}}); }
  prometheus::Counter& clients_disconnected(const std::string& reason) {
    return clients_disconnected_.Add({{"reason", reason}});
  }
  prometheus::Counter& internal_errors(const std::string& where) {
    return internal_errors_.Add({{"where", where}});
  }
  // Streams that got their 200, by the delivery mode that served them (docs/api.md §11).
  prometheus::Counter& streams_opened(const std::string& mode) {
    return streams_opened_.Add({{"mode", mode}});
  }
  // Shared mode: groups of clients with equal positions, and their merges.
  prometheus::Gauge& fanout_cohorts() { return fanout_cohorts_; }
  prometheus::Counter& fanout_merges() { return fanout_merges_; }
  prometheus::Counter& fanout_records() { return fanout_records_; }
  prometheus::Counter& fanout_filter_evaluations() { return fanout_filter_evaluations_; }
  prometheus::Gauge& fanout_ring_bytes() { return fanout_ring_bytes_; }
  // Shared mode, per partition of the shared streams: the bytes its ring keeps, and how long ago
  // its oldest kept record was read (the reach of resumes served from memory).
  prometheus::Gauge& fanout_ring_partition_bytes(const std::string& topic, std::int32_t partition) {
    return fanout_ring_partition_bytes_.Add(
        {{"topic", topic}, {"partition", std::to_string(partition)}});
  }
  prometheus::Gauge& fanout_ring_age(const std::string& topic, std::int32_t partition) {
    return fanout_ring_age_.Add({{"topic", topic}, {"partition", std::to_string(partition)}});
  }
  // Shared mode: resumed requests (Last-Event-ID, since) by where they were read from: "ring"
  // (the shared consumer's recent records, docs/api.md §11) or "kafka" (their own consumer).
  prometheus::Counter& fanout_resumes(const std::string& from) {
    return fanout_resumes_.Add({{"from", from}});
  }
  // Shared mode: records replayed from the rings to resumed requests (one per record per
  // catching-up group).
  prometheus::Counter& fanout_replayed_records() { return fanout_replayed_records_; }
  // Start positions looked up in Kafka by stream set-ups, in both modes.
  prometheus::Counter& start_lookups() { return start_lookups_; }
  // Shared mode: members more than fanout.cohort_window behind their group that continued from
  // the rings instead of being ended.
  prometheus::Counter& fanout_demotions() { return fanout_demotions_; }
  prometheus::Counter& fanout_handovers() { return fanout_handovers_; }
  // Shared mode: partitions of catch-up readers read from the rings ahead of their stream's
  // hand-over ("ring"), or from Kafka again because the rings no longer held them ("kafka").
  prometheus::Counter& fanout_partition_handovers(const std::string& to) {
    return fanout_partition_handovers_.Add({{"to", to}});
  }
  prometheus::Counter& fanout_demotions_to_kafka() { return fanout_demotions_to_kafka_; }
  // Shared mode: members woken to write what their group published, each with one write (less
  // what a full socket holds back): events sent / wakes is the events per write, which
  // fanout.flush_delay raises.
  prometheus::Counter& fanout_wakes() { return fanout_wakes_; }
  // Shared mode: partitions whose records did not follow on from what the shared consumer read
  // (it fell behind retention, or the log was reset): their groups ended, their rings restarted.
  prometheus::Counter& fanout_ring_breaks() { return fanout_ring_breaks_; }
  // Shared mode: the Kafka consumers of requests the rings cannot serve (fanout.catchup.*), by
  // state: active, or queued for a slot.
  prometheus::Gauge& fanout_catchup_readers(const std::string& state) {
    return fanout_catchup_readers_.Add({{"state", state}});
  }
  // Streams open now (200 sent, not closed), by the delivery mode serving them.
  prometheus::Gauge& streams_open(const std::string& mode) {
    return streams_open_.Add({{"mode", mode}});
  }

  // Fetches of the stream config (docs/api.md, "Streams from EventStreamConfig"), by result:
  // ok, unreachable, timeout, http_error, too_large, invalid.
  prometheus::Counter& stream_config_fetches(const std::string& result) {
    return stream_config_fetches_.Add({{"result", result}});
  }
  // Records when the fetched streams in use were fetched (milliseconds since the epoch); the
  // age gauge is computed at each scrape, and absent until the first successful fetch.
  void set_stream_config_fetched_at(std::int64_t epoch_ms) { stream_config_fetched_at_ = epoch_ms; }

  // Filters (docs/api.md "Server-side filters"): requests refused for their filter, by reason
  // (invalid_filter, filter_too_complex, unavailable); records filtered out count in
  // events_skipped("filter").
  prometheus::Counter& filters_rejected(const std::string& reason) {
    return filters_rejected_.Add({{"reason", reason}});
  }
  // How many distinct compiled filters are alive, read at each scrape. Set once at start-up,
  // before the I/O threads run.
  void set_filters_alive(std::function<std::size_t()> count) { filters_alive_ = std::move(count); }

  // The text exposition format, process metrics (fds, threads, RSS, CPU) included.
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& connected_clients_;
  prometheus::Family<prometheus::Counter>& client_connections_;
  prometheus::Family<prometheus::Counter>& events_sent_;
  prometheus::Counter& bytes_sent_;
  prometheus::Family<prometheus::Counter>& events_skipped_;
  prometheus::Family<prometheus::Counter>& streams_refused_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Histogram& connection_duration_;
  prometheus::Histogram& delivery_lag_;
  std::vector<double> delivery_lag_bounds_;
  prometheus::Histogram& client_lag_records_;
  prometheus::Histogram& client_lag_seconds_;
  prometheus::Gauge& clients_lagging_;
  prometheus::Family<prometheus::Counter>& kafka_errors_;
  prometheus::Counter& fetch_restarts_;
  prometheus::Family<prometheus::Counter>& gaps_;
  prometheus::Family<prometheus::Counter>& clients_disconnected_;
  prometheus::Family<prometheus::Counter>& internal_errors_;
  prometheus::Family<prometheus::Counter>& streams_opened_;
  prometheus::Gauge& fanout_cohorts_;
  prometheus::Counter& fanout_merges_;
  prometheus::Counter& fanout_records_;
  prometheus::Counter& fanout_filter_evaluations_;
  prometheus::Gauge& fanout_ring_bytes_;
  prometheus::Family<prometheus::Gauge>& fanout_ring_partition_bytes_;
  prometheus::Family<prometheus::Gauge>& fanout_ring_age_;
  prometheus::Family<prometheus::Counter>& fanout_resumes_;
  prometheus::Counter& fanout_replayed_records_;
  prometheus::Counter& start_lookups_;
  prometheus::Counter& fanout_demotions_;
  prometheus::Counter& fanout_handovers_;
  prometheus::Family<prometheus::Counter>& fanout_partition_handovers_;
  prometheus::Counter& fanout_demotions_to_kafka_;
  prometheus::Counter& fanout_wakes_;
  prometheus::Counter& fanout_ring_breaks_;
  prometheus::Family<prometheus::Gauge>& fanout_catchup_readers_;
  prometheus::Family<prometheus::Gauge>& streams_open_;
  prometheus::Family<prometheus::Counter>& stream_config_fetches_;
  prometheus::Family<prometheus::Gauge>& stream_config_age_;
  std::atomic<std::int64_t> stream_config_fetched_at_{0};  // 0 = never
  prometheus::Family<prometheus::Counter>& filters_rejected_;
  prometheus::Gauge& filters_compiled_;
  std::function<std::size_t()> filters_alive_;
};

}  // namespace eventstreams

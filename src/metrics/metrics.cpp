// Metric definitions and rendering, with process metrics read from /proc at scrape time.
#include "metrics/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

namespace eventstreams {
namespace {

prometheus::Histogram::BucketBoundaries delivery_lag_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600};
}

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (auto* e = readdir(d)) {
      if (e->d_name[0] != '.')
        ++n;
    }
    closedir(d);
  }
  return n;
}

void append_process_metrics(std::ostringstream& out) {
  long page = sysconf(_SC_PAGESIZE);
  long ticks = sysconf(_SC_CLK_TCK);
  std::size_t rss_pages = 0, size_pages = 0;
  {
    std::ifstream statm("/proc/self/statm");
    statm >> size_pages >> rss_pages;
  }
  double cpu_seconds = 0;
  {
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may contain spaces) start after the last ')'.
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14)
        utime = std::stoul(field);
      if (i == 15)
        stime = std::stoul(field);
    }
    cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  }
  out << "# HELP process_open_fds Number of open file descriptors.\n"
         "# TYPE process_open_fds gauge\n"
      << "process_open_fds " << count_entries("/proc/self/fd") << "\n"
      << "# HELP process_threads Number of OS threads.\n# TYPE process_threads gauge\n"
      << "process_threads " << count_entries("/proc/self/task") << "\n"
      << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
         "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << rss_pages * static_cast<std::size_t>(page) << "\n"
      << "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
         "# TYPE process_virtual_memory_bytes gauge\n"
      << "process_virtual_memory_bytes " << size_pages * static_cast<std::size_t>(page) << "\n"
      << "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
         "# TYPE process_cpu_seconds_total counter\n"
      << "process_cpu_seconds_total " << cpu_seconds << "\n";
}

}  // namespace

metrics::metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      connected_clients_(BuildGauge()
                             .Name("eventstreams_connected_clients")
                             .Help("Open SSE connections reading each stream")
                             .Register(*registry_)),
      client_connections_(BuildCounter()
                              .Name("eventstreams_client_connections_total")
                              .Help("SSE connections started, by requested streams")
                              .Register(*registry_)),
      events_sent_(BuildCounter()
                       .Name("eventstreams_events_sent_total")
                       .Help("Events sent to clients, by stream")
                       .Register(*registry_)),
      bytes_sent_(BuildCounter()
                      .Name("eventstreams_bytes_sent_total")
                      .Help("Bytes written to SSE clients")
                      .Register(*registry_)
                      .Add({})),
      events_skipped_(BuildCounter()
                          .Name("eventstreams_events_skipped_total")
                          .Help("Records read but not sent, by reason (canary, not_json, filter)")
                          .Register(*registry_)),
      streams_refused_(BuildCounter()
                           .Name("eventstreams_streams_refused_total")
                           .Help("Stream requests answered with an error instead of their 200, by "
                                 "reason")
                           .Register(*registry_)),
      http_requests_(BuildCounter()
                         .Name("eventstreams_http_requests_total")
                         .Help("HTTP requests answered, by route and status code")
                         .Register(*registry_)),
      connection_duration_(
          BuildHistogram()
              .Name("eventstreams_connection_duration_seconds")
              .Help("How long SSE connections lasted")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 60, 300, 900, 3600, 14400,
                                                               86400})),
      delivery_lag_(BuildHistogram()
                        .Name("eventstreams_delivery_lag_seconds")
                        .Help("Time from the record's Kafka timestamp to its send")
                        .Register(*registry_)
                        .Add({}, delivery_lag_buckets())),
      delivery_lag_bounds_(delivery_lag_buckets()),
      client_lag_records_(
          BuildHistogram()
              .Name("eventstreams_client_lag_records")
              .Help("Records each stream had not received yet, summed over its partitions (high "
                    "watermark - next offset), sampled once a second per stream")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries(lag_batch::records_bounds.begin(),
                                                               lag_batch::records_bounds.end()))),
      client_lag_seconds_(
          BuildHistogram()
              .Name("eventstreams_client_lag_seconds")
              .Help("Estimated age of the oldest record each stream had not received yet (0 when "
                    "caught up), sampled once a second per stream")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries(lag_batch::seconds_bounds.begin(),
                                                               lag_batch::seconds_bounds.end()))),
      clients_lagging_(BuildGauge()
                           .Name("eventstreams_clients_lagging")
                           .Help("Streams more than 10 seconds behind (eventstreams_client_lag_"
                                 "seconds) at their last sample")
                           .Register(*registry_)
                           .Add({})),
      kafka_errors_(BuildCounter()
                        .Name("eventstreams_kafka_errors_total")
                        .Help("Errors reported by Kafka clients, by kind")
                        .Register(*registry_)),
      fetch_restarts_(BuildCounter()
                          .Name("eventstreams_kafka_fetch_restarts_total")
                          .Help("Times a connection restarted Kafka fetchers parked at the "
                                "prefetch cap (queued.max.messages.kbytes) once it had read "
                                "their backlog")
                          .Register(*registry_)
                          .Add({})),
      gaps_(BuildCounter()
                .Name("eventstreams_gaps_total")
                .Help("Gaps, per partition: a stream skipped offsets it asked for (Last-Event-ID) "
                      "or expected next, as Kafka no longer kept them (retention) or the "
                      "partition's log was reset (reset); by reason: retention, reset, unknown")
                .Register(*registry_)),
      clients_disconnected_(BuildCounter()
                                .Name("eventstreams_clients_disconnected_total")
                                .Help("SSE connections ended, by reason")
                                .Register(*registry_)),
      internal_errors_(BuildCounter()
                           .Name("eventstreams_internal_errors_total")
                           .Help("Unexpected exceptions caught on the I/O path, by where: "
                                 "request (answered 500), stream (stream closed), setup (stream "
                                 "set-up, answered 500), loop (caught by the event loop), hub "
                                 "(the shared consumer)")
                           .Register(*registry_)),
      streams_opened_(BuildCounter()
                          .Name("eventstreams_streams_opened_total")
                          .Help("Streams that got their 200, by the delivery mode serving them: "
                                "per_connection or shared")
                          .Register(*registry_)),
      fanout_cohorts_(BuildGauge()
                          .Name("eventstreams_fanout_cohorts")
                          .Help("Shared mode: groups of clients with equal positions, each "
                                "sent one framed copy of every event")
                          .Register(*registry_)
                          .Add({})),
      fanout_merges_(BuildCounter()
                         .Name("eventstreams_fanout_cohort_merges_total")
                         .Help("Shared mode: groups merged once their positions became equal")
                         .Register(*registry_)
                         .Add({})),
      fanout_records_(BuildCounter()
                          .Name("eventstreams_fanout_records_total")
                          .Help("Shared mode: records read by the shared consumer (each spliced "
                                "once)")
                          .Register(*registry_)
                          .Add({})),
      fanout_filter_evaluations_(BuildCounter()
                                     .Name("eventstreams_fanout_filter_evaluations_total")
                                     .Help("Shared mode: filters evaluated on a record by the "
                                           "shared consumer (at most one per record per "
                                           "distinct filter; the equality index skips most)")
                                     .Register(*registry_)
                                     .Add({})),
      fanout_ring_bytes_(BuildGauge()
                             .Name("eventstreams_fanout_ring_bytes")
                             .Help("Shared mode: bytes of recent records kept in memory, every "
                                   "partition (bounded by fanout.ring.max_bytes)")
                             .Register(*registry_)
                             .Add({})),
      fanout_ring_partition_bytes_(BuildGauge()
                                       .Name("eventstreams_fanout_ring_partition_bytes")
                                       .Help("Shared mode: bytes of recent records kept in "
                                             "memory for one partition (bounded by "
                                             "fanout.ring.max_bytes_per_partition)")
                                       .Register(*registry_)),
      fanout_ring_age_(BuildGauge()
                           .Name("eventstreams_fanout_ring_age_seconds")
                           .Help("Shared mode: how long ago the oldest record a partition's ring "
                                 "keeps was read: resumes from within it are served from memory")
                           .Register(*registry_)),
      fanout_resumes_(BuildCounter()
                          .Name("eventstreams_fanout_resumes_total")
                          .Help("Shared mode: resumed requests (Last-Event-ID, since) of shared "
                                "streams, by where they were read from: ring (the shared "
                                "consumer's recent records) or kafka (their own consumer)")
                          .Register(*registry_)),
      fanout_replayed_records_(BuildCounter()
                                   .Name("eventstreams_fanout_replayed_records_total")
                                   .Help("Shared mode: records replayed from the rings to "
                                         "resumed requests catching up, and read from them by "
                                         "catch-up readers")
                                   .Register(*registry_)
                                   .Add({})),
      start_lookups_(BuildCounter()
                         .Name("eventstreams_start_lookups_total")
                         .Help("Start positions looked up in Kafka by stream set-ups (a "
                               "metadata and an offsets round trip each); resumes that the "
                               "shared consumer's rings place need none")
                         .Register(*registry_)
                         .Add({})),
      fanout_demotions_(BuildCounter()
                            .Name("eventstreams_fanout_demotions_total")
                            .Help("Shared mode: clients more than fanout.cohort_window behind "
                                  "their group that continued from the rings (the others are "
                                  "ended: clients_disconnected_total{reason=\"overrun\"})")
                            .Register(*registry_)
                            .Add({})),
      fanout_handovers_(BuildCounter()
                            .Name("eventstreams_fanout_handovers_total")
                            .Help("Shared mode: streams whose catch-up reader read up to what "
                                  "the rings hold and handed the stream over to them")
                            .Register(*registry_)
                            .Add({})),
      fanout_partition_handovers_(
          BuildCounter()
              .Name("eventstreams_fanout_partition_handovers_total")
              .Help("Shared mode: partitions of catch-up readers read from the rings ahead of "
                    "their stream's hand-over (to=ring), or from Kafka again because the rings "
                    "no longer held them (to=kafka)")
              .Register(*registry_)),
      fanout_demotions_to_kafka_(
          BuildCounter()
              .Name("eventstreams_fanout_demotions_to_kafka_total")
              .Help("Shared mode: clients far behind their group whose positions the rings no "
                    "longer held, continued with a catch-up reader of their own instead of being "
                    "ended (fanout.catchup.readers_max allowing)")
              .Register(*registry_)
              .Add({})),
      fanout_wakes_(BuildCounter()
                        .Name("eventstreams_fanout_wakes_total")
                        .Help("Shared mode: clients woken to write what their group published, "
                              "one write each (events sent / wakes = events per write; "
                              "fanout.flush_delay raises it)")
                        .Register(*registry_)
                        .Add({})),
      fanout_ring_breaks_(BuildCounter()
                              .Name("eventstreams_fanout_ring_breaks_total")
                              .Help("Shared mode: partitions whose records did not follow on "
                                    "from what the shared consumer read (it fell behind "
                                    "retention, or the log was reset): their groups ended as "
                                    "overruns and their clients resumed per connection")
                              .Register(*registry_)
                              .Add({})),
      fanout_catchup_readers_(BuildGauge()
                                  .Name("eventstreams_fanout_catchup_readers")
                                  .Help("Shared mode: Kafka consumers of the requests the rings "
                                        "cannot serve, by state: active, or queued for one of "
                                        "fanout.catchup.readers_max")
                                  .Register(*registry_)),
      streams_open_(BuildGauge()
                        .Name("eventstreams_streams_open")
                        .Help("Streams open now, by the delivery mode serving them: "
                              "per_connection or shared")
                        .Register(*registry_)),
      stream_config_fetches_(BuildCounter()
                                 .Name("eventstreams_stream_config_fetches_total")
                                 .Help("Fetches of stream_config.uri, by result: ok, "
                                       "unreachable, timeout, http_error, too_large, invalid "
                                       "(every result but ok keeps the streams in use)")
                                 .Register(*registry_)),
      stream_config_age_(BuildGauge()
                             .Name("eventstreams_stream_config_age_seconds")
                             .Help("Seconds since the fetched streams in use were fetched from "
                                   "stream_config.uri")
                             .Register(*registry_)),
      filters_rejected_(BuildCounter()
                            .Name("eventstreams_filter_rejected_total")
                            .Help("Stream and /v2/filter requests refused for their filter, by "
                                  "reason: invalid_filter, filter_too_complex, unavailable")
                            .Register(*registry_)),
      filters_compiled_(BuildGauge()
                            .Name("eventstreams_filters_compiled")
                            .Help("Distinct compiled filters alive (shared by the streams that "
                                  "ask for the same canonical form; at most filter.max_compiled)")
                            .Register(*registry_)
                            .Add({})) {
  // The label sets known in advance exist from the start, at 0: a dashboard or an alert sees
  // every family before its first event, and rate() starts from 0 (docs/api.md "Metrics").
  for (const char* reason : disconnect_reasons)
    clients_disconnected_.Add({{"reason", reason}});
  for (const char* reason : refusal_reasons)
    streams_refused_.Add({{"reason", reason}});
  for (const char* reason : {"canary", "not_json", "filter"})
    events_skipped_.Add({{"reason", reason}});
  for (const char* mode : {"per_connection", "shared"}) {
    streams_opened_.Add({{"mode", mode}});
    streams_open_.Add({{"mode", mode}});
  }
  for (const char* from : {"ring", "kafka"}) {
    fanout_resumes_.Add({{"from", from}});
    fanout_partition_handovers_.Add({{"to", from}});
  }
  for (const char* state : {"active", "queued"})
    fanout_catchup_readers_.Add({{"state", state}});
  for (const char* reason : {"invalid_filter", "filter_too_complex", "unavailable"})
    filters_rejected_.Add({{"reason", reason}});
  for (const char* where : {"request", "setup", "stream", "loop", "hub"})
    internal_errors_.Add({{"where", where}});
  // librdkafka's names of the errors that end a stream, and of the broker connection errors
  // that are the most common otherwise (src/kafka/consumer.cpp).
  for (const char* kind :
       {"_TRANSPORT", "_ALL_BROKERS_DOWN", "_FATAL", "TOPIC_AUTHORIZATION_FAILED", "_UNKNOWN_TOPIC",
        "_UNKNOWN_PARTITION", "_AUTHENTICATION"})
    kafka_errors_.Add({{"kind", kind}});
  // Every reason from the start, at 0: a dashboard can tell "no gap" from "not exported".
  for (const char* reason : {"retention", "reset", "unknown"})
    gaps_.Add({{"reason", reason}});
}

void metrics::observe_delivery_lags(std::span<const std::int64_t> timestamps, std::int64_t now_ms) {
  if (timestamps.empty())
    return;
  // Per thread and reused: a shared-mode batch calls this once per client.
  thread_local std::vector<double> increments;
  increments.assign(delivery_lag_bounds_.size() + 1, 0.0);
  double sum = 0;
  for (auto ts : timestamps) {
    double lag = static_cast<double>(std::max<std::int64_t>(0, now_ms - ts)) / 1000.0;
    sum += lag;
    auto b = std::lower_bound(delivery_lag_bounds_.begin(), delivery_lag_bounds_.end(), lag);
    increments[static_cast<std::size_t>(b - delivery_lag_bounds_.begin())] += 1;
  }
  delivery_lag_.ObserveMultiple(increments, sum);
}

void metrics::observe_client_lag(const lag_batch& batch) {
  if (batch.samples_ != 0) {
    client_lag_records_.ObserveMultiple(batch.records_, batch.records_sum_);
    client_lag_seconds_.ObserveMultiple(batch.seconds_, batch.seconds_sum_);
  }
  if (batch.lagging_change_ != 0)
    clients_lagging_.Increment(batch.lagging_change_);
}

// The bucket of `value` as prometheus::Histogram::Observe chooses it: the first bound >= value.
template <std::size_t N>
std::size_t bucket_of(const std::array<double, N>& bounds, double value) {
  return static_cast<std::size_t>(
      std::find_if(bounds.begin(), bounds.end(), [value](double b) { return b >= value; }) -
      bounds.begin());
}

void lag_batch::add(std::int64_t records, double seconds) {
  const auto r = static_cast<double>(records);
  records_[bucket_of(records_bounds, r)] += 1;
  seconds_[bucket_of(seconds_bounds, seconds)] += 1;
  records_sum_ += r;
  seconds_sum_ += seconds;
  ++samples_;
}

void lag_batch::add_caught_up(std::size_t n) {
  const auto count = static_cast<double>(n);
  records_[bucket_of(records_bounds, 0.0)] += count;
  seconds_[bucket_of(seconds_bounds, 0.0)] += count;
  samples_ += n;
}

std::string metrics::render() const {
  if (const std::int64_t at = stream_config_fetched_at_.load(); at != 0) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    stream_config_age_.Add({}).Set(static_cast<double>(std::max<std::int64_t>(0, now - at)) /
                                   1000.0);
  }
  if (filters_alive_)
    filters_compiled_.Set(static_cast<double>(filters_alive_()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  append_process_metrics(out);
  return out.str();
}

}  // namespace eventstreams

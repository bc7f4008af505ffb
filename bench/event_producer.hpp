// recentchange-like events written to Kafka with librdkafka: as fast as possible, or paced.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bench {

// Appends to `out` an event of about 1 KB shaped like a MediaWiki recentchange event, whose
// first member is "bench_sent_ns" (CLOCK_REALTIME ns) and second "bench_seq". Never a canary.
void make_event(std::uint64_t seq, std::int64_t sent_ns, std::string& out);

struct produce_result {
  std::uint64_t produced = 0;   // accepted by rd_kafka_produce
  std::uint64_t delivered = 0;  // acknowledged by the cluster
  std::uint64_t failed = 0;     // delivery errors
  double seconds = 0;           // first produce to last acknowledgement (or give-up)
  std::uint64_t avg_bytes = 0;  // mean event size
  bool complete() const { return produced > 0 && delivered == produced && failed == 0; }
  double events_per_second() const {
    return seconds > 0 ? static_cast<double>(delivered) / seconds : 0;
  }
};

class event_producer {
 public:
  // `properties` are extra librdkafka settings (name, value). Throws std::runtime_error.
  event_producer(const std::string& bootstrap, std::string topic, int partitions,
                 const std::vector<std::pair<std::string, std::string>>& properties);
  ~event_producer();
  event_producer(const event_producer&) = delete;
  event_producer& operator=(const event_producer&) = delete;

  // `count` events round-robin over the partitions, as fast as the client library takes
  // them, then waits for every acknowledgement; gives up at `deadline`.
  produce_result burst(std::uint64_t count, std::chrono::steady_clock::time_point deadline);

  // `rate` events/s for `duration`, each stamped when it is handed to librdkafka. Returns when
  // the last one is handed over: call await_acks() for the acknowledgements.
  produce_result paced(double rate, std::chrono::milliseconds duration,
                       std::chrono::steady_clock::time_point deadline);
  // Serves delivery reports until every event of `res` is acknowledged or `deadline`, and
  // completes `res` (delivered, failed, seconds).
  void await_acks(produce_result& res, std::chrono::steady_clock::time_point deadline);

  struct impl;  // opaque; public so that librdkafka's C callback can reach it

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace bench

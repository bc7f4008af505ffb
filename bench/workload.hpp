// The two ways the benchmark writes its events (recentchange_event.hpp, stamped with their send
// time): as fast as possible, or paced. Written with the tests' producer
// (tests/support/test_producer.hpp) in counting mode.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "recentchange_event.hpp"
#include "test_producer.hpp"

namespace bench {

struct produce_result {
  std::uint64_t produced = 0;   // accepted by librdkafka
  std::uint64_t delivered = 0;  // acknowledged by the cluster
  std::uint64_t failed = 0;     // delivery errors, or no acknowledgement by the deadline
  double seconds = 0;           // first produce to last acknowledgement (or give-up)
  std::uint64_t avg_bytes = 0;  // mean event size
  bool complete() const { return produced > 0 && delivered == produced && failed == 0; }
  double events_per_second() const {
    return seconds > 0 ? static_cast<double>(delivered) / seconds : 0;
  }
};

// Writes events to `topic`, round-robin over its `partitions`, through `producer` (which
// should not keep records).
class event_writer {
 public:
  event_writer(eventstreams::test::test_producer& producer, std::string topic, int partitions)
      : producer_(producer), topics_{std::move(topic)}, partitions_(partitions) {}
  // Several topics of `partitions` partitions each: event seq goes to topics[seq % T], in
  // its partition (seq / T) % partitions.
  event_writer(eventstreams::test::test_producer& producer, std::vector<std::string> topics,
               int partitions)
      : producer_(producer), topics_(std::move(topics)), partitions_(partitions) {}

  // The events' `title` is "Bench_<seq % titles>" (make_event), 100,000 unless set. Each run
  // (burst, paced) numbers its events from seq 0.
  void set_titles(std::uint64_t titles) { titles_ = titles; }

  // `count` events as fast as librdkafka takes them, then waits for every acknowledgement;
  // gives up at `deadline`.
  produce_result burst(std::uint64_t count, std::chrono::steady_clock::time_point deadline);
  // `rate` events/s for `duration`, each stamped when it is handed to librdkafka. Returns when
  // the last one is handed over: call await_acks() for the acknowledgements.
  produce_result paced(double rate, std::chrono::milliseconds duration,
                       std::chrono::steady_clock::time_point deadline);
  // Serves delivery reports until every event of `res` is acknowledged or `deadline`, and
  // completes `res` (delivered, failed, seconds).
  void await_acks(produce_result& res, std::chrono::steady_clock::time_point deadline);

 private:
  void produce_event(std::uint64_t seq);

  eventstreams::test::test_producer& producer_;
  std::vector<std::string> topics_;
  int partitions_;
  std::uint64_t titles_ = 100000;
  std::string value_;
  std::uint64_t bytes_ = 0;
  std::uint64_t delivered_before_ = 0;  // the producer's count when a run started
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bench

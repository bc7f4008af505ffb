// The Kafka producer of the integration tests and the load benchmark (librdkafka): writes records
// to exact partitions and learns, through the delivery reports, the offset each one got, so
// that tests know exact positions. For volume (the benchmark, load tests) it can keep only
// counters and the offset range of each partition instead of every record.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace eventstreams::test {

struct produced_record {
  std::string topic;
  std::int32_t partition = 0;
  std::string value;
  std::int64_t timestamp = -1;  // ms; the create time given to produce()
  // Filled in by the delivery report.
  bool delivered = false;
  std::int64_t offset = -1;
  std::string error;  // empty on success
};

struct producer_options {
  std::string client_id = "eventstreams-it-producer";
  // 0: every record goes out at once (tests wait for single records). Load tests batch.
  int linger_ms = 0;
  // Keep every record (value included) for records(); false keeps only the counters and the
  // offset ranges, for millions of records.
  bool keep_records = true;
  // Discard librdkafka's log lines (its reconnect complaints when a benchmark's cluster goes).
  bool quiet = false;
  // More librdkafka properties (name, value), applied last.
  std::vector<std::pair<std::string, std::string>> properties;
};

// The offsets a partition received, from its delivery reports.
struct offset_range {
  std::int64_t first = -1;
  std::int64_t last = -1;
  std::int64_t count = 0;
};

class test_producer {
 public:
  explicit test_producer(const std::string& bootstrap, producer_options opts = {});
  ~test_producer();
  test_producer(const test_producer&) = delete;
  test_producer& operator=(const test_producer&) = delete;

  // Queues one record for (topic, partition) with create time `timestamp_ms` (0 = now).
  // An empty `value` is sent as an empty (non-null) value; `null_value` sends a null one.
  // Waits (serving delivery reports) while librdkafka's queue is full. Returns the record's
  // index in records() (or the number of records produced before it); its offset is known
  // after flush().
  std::size_t produce(const std::string& topic, std::int32_t partition, std::string_view value,
                      std::int64_t timestamp_ms = 0, bool null_value = false);

  // Waits until every queued record got its delivery report. Adds a gtest failure (and
  // returns false) if that takes longer than `timeout` or any record failed. The default, 15 s,
  // is the records' own message timeout: a broker acknowledges in milliseconds, and a record
  // that cannot be delivered fails by then anyway.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // The same without gtest: serves delivery reports until none is outstanding or `deadline`;
  // true if none is.
  bool await_delivery(std::chrono::steady_clock::time_point deadline);
  // Serves the delivery reports that are ready (non-blocking).
  void poll();

  // Every record produced so far, in produce() order (empty unless keep_records).
  const std::vector<produced_record>& records() const noexcept { return records_; }
  const produced_record& record(std::size_t index) const { return records_.at(index); }

  std::uint64_t produced() const noexcept { return produced_; }
  std::uint64_t delivered() const noexcept { return delivered_; }  // successfully
  std::uint64_t failed() const noexcept { return failed_; }
  std::uint64_t outstanding() const noexcept { return produced_ - delivered_ - failed_; }
  // The offsets each partition received; the time of the last delivery report.
  const std::map<std::pair<std::string, std::int32_t>, offset_range>& ranges() const noexcept {
    return ranges_;
  }
  std::chrono::steady_clock::time_point last_delivery() const noexcept { return last_delivery_; }

 private:
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);

  rd_kafka_t* rk_ = nullptr;
  producer_options opts_;
  std::vector<produced_record> records_;
  std::size_t checked_ = 0;  // records before this index were reported on by flush()
  std::uint64_t produced_ = 0, delivered_ = 0, failed_ = 0;
  std::map<std::pair<std::string, std::int32_t>, offset_range> ranges_;
  std::chrono::steady_clock::time_point last_delivery_{};
  std::string first_error_;  // of a failed delivery, when records are not kept
};

}  // namespace eventstreams::test

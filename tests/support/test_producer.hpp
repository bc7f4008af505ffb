// A librdkafka producer for integration tests: writes records to exact partitions and records,
// through the delivery reports, the offset each one got, so tests know exact positions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

class test_producer {
 public:
  explicit test_producer(const std::string& bootstrap);
  ~test_producer();
  test_producer(const test_producer&) = delete;
  test_producer& operator=(const test_producer&) = delete;

  // Queues one record for (topic, partition) with create time `timestamp_ms` (0 = now).
  // An empty `value` is sent as an empty (non-null) value; `null_value` sends a null one.
  // Returns the record's index in records(); its offset is known after flush().
  std::size_t produce(const std::string& topic, std::int32_t partition, std::string_view value,
                      std::int64_t timestamp_ms = 0, bool null_value = false);

  // Waits until every queued record got its delivery report. Adds a gtest failure (and
  // returns false) if that takes longer than `timeout` or any record failed.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // Every record produced so far, in produce() order.
  const std::vector<produced_record>& records() const noexcept { return records_; }
  const produced_record& record(std::size_t index) const { return records_.at(index); }

 private:
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  std::size_t outstanding() const;

  rd_kafka_t* rk_ = nullptr;
  std::vector<produced_record> records_;
  std::size_t checked_ = 0;  // records before this index were reported on by flush()
};

}  // namespace eventstreams::test

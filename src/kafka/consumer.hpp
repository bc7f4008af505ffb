// One client connection's Kafka consumer: assign-only, woken through an eventfd, polled
// without blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/position_vector.hpp"
#include "eventstreams/source_record.hpp"

namespace eventstreams::kafka {

// Records and errors are handed out as the session reads them (eventstreams/source_record.hpp).
using record = source_record;
using consumer_error = source_error;

class consumer {
 public:
  // Creates the handle and assigns `positions` (each at its next_offset). Blocks briefly while
  // librdkafka starts its threads: call from the blocking pool. Throws std::runtime_error.
  // Each record polled carries the index of its partition in `positions`.
  consumer(const kafka_config& cfg, const std::string& bootstrap,
           const std::vector<partition_position>& positions);
  // Joins librdkafka's threads: destroy on the blocking pool, not on an I/O thread.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  // A new descriptor (a dup, owned by the caller) that becomes readable when records or errors
  // arrive on a queue that was empty. Drain until poll() returns fewer than asked, then wait.
  // -1 with errno set when no descriptor is left (EMFILE): called on an I/O thread, it never
  // throws.
  int dup_wake_fd() const noexcept;
  // Clears the wake-up counter (non-blocking).
  void reset_wake() const;

  // Non-blocking: up to out.size() records; errors encountered are appended to `errors`.
  std::size_t poll(std::span<record> out, std::vector<consumer_error>& errors);

  // Non-blocking: how far the records poll() handed out are behind the end of the assigned
  // partitions at `now_ms` (wall clock), from librdkafka's cached high watermarks (docs/api.md
  // "Metrics"). Partitions whose end is not known yet (no fetch answered) count as caught up;
  // parked ones are left out.
  source_lag lag(std::int64_t now_ms);

  // Non-blocking: per position index (as given at construction), the offset the consumer
  // reads next: past the records poll() handed out, and past the transaction markers librdkafka
  // skipped (its position, which it never hands out as records).
  void next_offsets(std::vector<std::int64_t>& out);

  // Non-blocking: stops fetching the partition at position index `index` (`parked`), or fetches
  // it again from `next_offset` (its records before it came from elsewhere). Records of it
  // fetched before the call are never handed out (librdkafka's pause and seek drop them). False
  // when librdkafka refused. lag() leaves parked partitions out.
  bool park(std::size_t index, bool parked, std::int64_t next_offset);

  // How often poll() restarted fetchers parked at the prefetch cap.
  std::uint64_t fetch_kicks() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace eventstreams::kafka

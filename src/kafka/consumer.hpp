// One client connection's Kafka consumer: assign-only, woken through an eventfd, polled
// without blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/position_vector.hpp"

namespace eventstreams::kafka {

// A record as handed to the session; the views stay valid until the next poll() or
// destruction of the consumer.
struct record {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = -1;  // ms since epoch, -1 if none
  std::string_view value;
};

struct consumer_error {
  bool fatal = false;
  std::string kind;    // short name, e.g. "_TRANSPORT", for metrics and logs
  std::string detail;  // for logs only
};

class consumer {
 public:
  // Creates the handle and assigns `positions` (each at its next_offset). Blocks briefly while
  // librdkafka starts its threads: call from the blocking pool. Throws std::runtime_error.
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

  // How often poll() restarted fetchers parked at the prefetch cap.
  std::uint64_t fetch_kicks() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace eventstreams::kafka

// The event source of the per-connection mode: one assign-only Kafka consumer per connection,
// woken through its eventfd, polled without blocking.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/position_vector.hpp"
#include "kafka/consumer.hpp"
#include "sse/event_source.hpp"

namespace eventstreams {

class per_connection_source final : public event_source {
 public:
  // Creates the consumer, assigned at `positions` (records carry their index in it). Blocks
  // briefly: call on the blocking pool. Throws std::runtime_error.
  per_connection_source(const kafka_config& cfg, const std::string& bootstrap,
                        const std::vector<partition_position>& positions);
  // Joins librdkafka's threads: on the blocking pool only (retire()).
  ~per_connection_source() override;

  std::optional<std::string> attach(const net::any_io_executor& ex) override;
  std::size_t poll(std::span<source_record> out, std::vector<source_error>& errors) override;
  void async_wait(wait_handler ready) override;
  void reset_wake() override;
  source_stats stats() const override;
  std::optional<source_lag> lag(std::int64_t now_ms) override;
  bool park(std::size_t index, bool parked, std::int64_t next_offset) override {
    return consumer_.park(index, parked, next_offset);
  }
  void close() override;

 private:
  kafka::consumer consumer_;
  // A duplicate of the consumer's eventfd, registered with the session's reactor.
  std::optional<net::posix::stream_descriptor> wake_;
};

}  // namespace eventstreams

// A shared stream's catch-up reader (docs/api.md §11): a Kafka consumer for the partitions the
// rings do not hold from the stream's positions, and the rings, through the hub, for those they
// do. The session parks a partition once the hub says its ring holds it; the partition then goes
// on from the ring, and back to Kafka should the ring lose it before the stream is handed over.
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eventstreams/position_vector.hpp"
#include "fanout/hub.hpp"
#include "fanout/ring_feed.hpp"
#include "sse/event_source.hpp"

namespace eventstreams {

class split_source final : public event_source {
 public:
  struct counters {
    prometheus::Counter* to_ring = nullptr;   // a partition parked, read from the rings
    prometheus::Counter* to_kafka = nullptr;  // ... and back to Kafka when the rings lost it
    prometheus::Counter* replayed = nullptr;  // records read from the rings
  };
  // `reader`: the Kafka consumer assigned at `positions` (their topics and partitions name the
  // position indexes). `window`: the bytes of ring records the hub queues ahead of the reader.
  split_source(std::unique_ptr<event_source> reader, fanout::hub& hub,
               const std::vector<partition_position>& positions, std::size_t window,
               counters counted);
  ~split_source() override;

  std::optional<std::string> attach(const net::any_io_executor& ex) override;
  std::size_t poll(std::span<source_record> out, std::vector<source_error>& errors) override;
  void async_wait(wait_handler ready) override;
  void reset_wake() override;
  source_stats stats() const override;
  std::optional<source_lag> lag(std::int64_t now_ms) override;
  // Parks a partition the rings hold from `next_offset` (the stream's position): read from them
  // from now on. A parked partition goes back to Kafka only when the rings lose it (unparking
  // here does nothing).
  bool park(std::size_t index, bool parked, std::int64_t next_offset) override;
  void close() override;

 private:
  // The session's one wait, over the consumer's wake-up and the feed's (both complete on the
  // session's strand). Shared with their handlers, which may run after this source is gone.
  struct waits {
    wait_handler handler;
    bool reader = false;  // the consumer's wait is pending
    bool feed = false;    // the feed's
    static void fire(const std::shared_ptr<waits>& w, beast::error_code ec);
  };
  void wait_feed();

  std::unique_ptr<event_source> reader_;
  fanout::hub& hub_;
  std::vector<std::string> topics_;  // per position index
  std::vector<std::int32_t> partitions_;
  std::size_t window_;
  counters counted_;
  std::optional<net::any_io_executor> ex_;
  std::shared_ptr<fanout::ring_feed> feed_;     // made at the first park
  std::vector<fanout::ring_feed::item> taken_;  // pinned until the next poll
  std::shared_ptr<waits> waits_ = std::make_shared<waits>();
};

}  // namespace eventstreams

// The in-process Kafka cluster (librdkafka's mock: the Kafka protocol on loopback, API.md §8)
// and the synthetic event producer of the demo.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"

namespace eventstreams::kafka {

class embedded_cluster {
 public:
  // Starts `cfg.embedded.brokers` brokers and creates `topics` with `cfg.embedded.partitions`
  // partitions each. Throws std::runtime_error.
  embedded_cluster(const kafka_config& cfg, const std::vector<std::string>& topics);
  ~embedded_cluster();
  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;

  // "127.0.0.1:PORT,127.0.0.1:PORT,…"
  const std::string& bootstrap() const noexcept;
  // Creates a topic the configuration did not name (SIGHUP reloads adding streams).
  void create_topic(const std::string& topic, int partitions);
  // Creates several topics concurrently. Throws std::runtime_error.
  void create_topics(const std::vector<std::string>& topics, int partitions);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Writes recentchange-like JSON events (about 1 KB, about 1% with meta.domain "canary") at
// `rate` events/s per stream, spread over each stream's topics, from its own thread.
class demo_producer {
 public:
  demo_producer(const kafka_config& cfg, const std::string& bootstrap,
                const std::vector<stream_config>& streams, double rate);
  ~demo_producer();  // stops the thread and flushes (bounded)
  demo_producer(const demo_producer&) = delete;
  demo_producer& operator=(const demo_producer&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// One synthetic event for `stream` (sequence number `n`); exposed for tests and benchmarks.
std::string make_demo_event(const std::string& stream, std::uint64_t n, std::int64_t now_ms);

}  // namespace eventstreams::kafka

// A librdkafka mock cluster owned by the test process, for tests that need to reach inside
// Kafka while the daemon runs: take brokers down, inject request errors, or point several
// daemons at one cluster. The daemon is started with `kafka.bootstrap_servers` set to
// bootstrap() (daemon_config::bootstrap_servers) instead of its embedded cluster.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>  // before rdkafka_mock.h, which needs its types

namespace eventstreams::test {

class mock_cluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers) on random loopback ports. Throws
  // std::runtime_error if librdkafka cannot.
  explicit mock_cluster(int brokers = 3);
  ~mock_cluster();
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  // "host:port,host:port,..." of every broker.
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  int brokers() const noexcept { return brokers_; }

  // Creates `topic` with `partitions` partitions (replication factor 1). Throws on failure.
  void create_topic(const std::string& topic, int partitions);
  // Creates several {topic, partitions} at once. Prefer it to a loop of create_topic(): with
  // librdkafka 2.0.2 about a third of the sequential calls wait a full second for the mock's
  // thread to notice them, concurrent ones are served together.
  void create_topics(const std::vector<std::pair<std::string, int>>& topics);

  // Metadata requests for `topic` answer `err` (e.g. RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
  // with no partitions) from now on.
  void set_topic_error(const std::string& topic, rd_kafka_resp_err_t err);

  // Low and high watermark of a partition, asked over the Kafka protocol. Throws on failure.
  std::pair<std::int64_t, std::int64_t> watermarks(const std::string& topic,
                                                   std::int32_t partition);

  // Disconnects broker `id` (1-based) and refuses its new connections / accepts them again.
  // Partition leadership does not move. Throws on failure.
  void broker_down(std::int32_t id);
  void broker_up(std::int32_t id);
  void all_brokers_down();
  void all_brokers_up();

  // Every broker answers each request `rtt` later (0: at once), as over a slow network.
  void set_rtt(std::chrono::milliseconds rtt);

  // The next requests of type `api_key` (e.g. RD_KAFKAP_Fetch = 1) to any broker fail, one
  // per error, in order. RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection.
  void push_request_errors(std::int16_t api_key, std::initializer_list<rd_kafka_resp_err_t> errors);
  // Forgets errors pushed for `api_key` that no request consumed yet.
  void clear_request_errors(std::int16_t api_key);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string bootstrap_;
  int brokers_;
};

// Kafka protocol request types (ApiKey) for push_request_errors.
inline constexpr std::int16_t api_fetch = 1;
inline constexpr std::int16_t api_list_offsets = 2;
inline constexpr std::int16_t api_metadata = 3;

}  // namespace eventstreams::test

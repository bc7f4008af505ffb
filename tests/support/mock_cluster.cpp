// The test process's own librdkafka mock cluster.
#include "mock_cluster.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace eventstreams::test {

struct mock_cluster::impl {
  rd_kafka_t* owner = nullptr;  // the cluster runs on this handle's threads: destroyed last
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~impl() {
    if (cluster)
      rd_kafka_mock_cluster_destroy(cluster);
    if (owner)
      rd_kafka_destroy(owner);
  }
};

namespace {

void check(rd_kafka_resp_err_t err, const std::string& what) {
  if (err)
    throw std::runtime_error("mock cluster: " + what + ": " + rd_kafka_err2str(err));
}

}  // namespace

mock_cluster::mock_cluster(int brokers) : impl_(std::make_unique<impl>()), brokers_(brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The brokers' own connection logs would flood the test output during outages.
  rd_kafka_conf_set_log_cb(conf, nullptr);
  char err[512];
  impl_->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl_->owner) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("mock cluster: ") + err);
  }
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->owner, brokers);
  if (!impl_->cluster)
    throw std::runtime_error("mock cluster: cannot start");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

mock_cluster::~mock_cluster() = default;

void mock_cluster::create_topic(const std::string& topic, int partitions) {
  check(rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, 1),
        "create topic " + topic);
}

void mock_cluster::create_topics(const std::vector<std::pair<std::string, int>>& topics) {
  std::vector<rd_kafka_resp_err_t> errors(topics.size(), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    threads.emplace_back([this, &topics, &errors, i] {
      errors[i] =
          rd_kafka_mock_topic_create(impl_->cluster, topics[i].first.c_str(), topics[i].second, 1);
    });
  }
  for (auto& t : threads)
    t.join();
  for (std::size_t i = 0; i < topics.size(); ++i)
    check(errors[i], "create topic " + topics[i].first);
}

void mock_cluster::set_topic_error(const std::string& topic, rd_kafka_resp_err_t err) {
  rd_kafka_mock_topic_set_error(impl_->cluster, topic.c_str(), err);
}

std::pair<std::int64_t, std::int64_t> mock_cluster::watermarks(const std::string& topic,
                                                               std::int32_t partition) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("mock cluster: ") + err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("mock cluster: ") + err);
  }
  std::int64_t low = -1, high = -1;
  auto e = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, 10000);
  rd_kafka_destroy(rk);
  check(e, "watermarks of " + topic + "/" + std::to_string(partition));
  return {low, high};
}

void mock_cluster::broker_down(std::int32_t id) {
  check(rd_kafka_mock_broker_set_down(impl_->cluster, id),
        "broker " + std::to_string(id) + " down");
}

void mock_cluster::broker_up(std::int32_t id) {
  check(rd_kafka_mock_broker_set_up(impl_->cluster, id), "broker " + std::to_string(id) + " up");
}

void mock_cluster::all_brokers_down() {
  // One id at a time: "-1 = all" is not handled by every librdkafka version.
  for (std::int32_t id = 1; id <= brokers_; ++id)
    broker_down(id);
}

void mock_cluster::all_brokers_up() {
  for (std::int32_t id = 1; id <= brokers_; ++id)
    broker_up(id);
}

void mock_cluster::push_request_errors(std::int16_t api_key,
                                       std::initializer_list<rd_kafka_resp_err_t> errors) {
  std::vector<rd_kafka_resp_err_t> list(errors);
  rd_kafka_mock_push_request_errors_array(impl_->cluster, api_key, list.size(), list.data());
}

void mock_cluster::set_rtt(std::chrono::milliseconds rtt) {
  for (std::int32_t id = 1; id <= brokers_; ++id) {
    if (auto err = rd_kafka_mock_broker_set_rtt(impl_->cluster, id, static_cast<int>(rtt.count())))
      throw std::runtime_error(std::string("mock set_rtt: ") + rd_kafka_err2str(err));
  }
}

void mock_cluster::clear_request_errors(std::int16_t api_key) {
  rd_kafka_mock_clear_request_errors(impl_->cluster, api_key);
}

}  // namespace eventstreams::test

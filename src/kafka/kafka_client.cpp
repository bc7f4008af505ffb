// Metadata and watermark lookups on one shared librdkafka handle.
#include "kafka_client.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "kafka_conf.hpp"

namespace eventstreams::kafka {
namespace {
constexpr auto metadata_ttl = std::chrono::seconds(5);
}

struct kafka_client::impl {
  kafka_ptr rk;
  mutable std::mutex mutex;
  struct cached {
    int partitions;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, cached, std::less<>> cache;
  std::chrono::steady_clock::time_point last_success{};
};

kafka_client::kafka_client(const kafka_config& cfg, const std::string& bootstrap)
    : impl_(std::make_unique<impl>()) {
  auto conf = make_conf(cfg, bootstrap, client_role::lookup);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("kafka: cannot create client: ") + err);
  conf.release();  // owned by rk now
  impl_->rk.reset(rk);
}

kafka_client::~kafka_client() = default;

std::chrono::steady_clock::time_point kafka_client::last_metadata_success() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_success;
}

lookup_error kafka_client::partition_counts(const std::vector<std::string>& topics,
                                            std::chrono::milliseconds timeout,
                                            std::vector<int>& out) {
  out.assign(topics.size(), 0);
  auto now = std::chrono::steady_clock::now();
  std::vector<std::size_t> missing;
  {
    std::lock_guard lock(impl_->mutex);
    for (std::size_t i = 0; i < topics.size(); ++i) {
      auto it = impl_->cache.find(topics[i]);
      if (it != impl_->cache.end() && now - it->second.at < metadata_ttl) {
        out[i] = it->second.partitions;
      } else {
        missing.push_back(i);
      }
    }
  }
  for (std::size_t i : missing) {
    topic_ptr topic(rd_kafka_topic_new(impl_->rk.get(), topics[i].c_str(), nullptr));
    const rd_kafka_metadata_t* raw = nullptr;
    auto err = rd_kafka_metadata(impl_->rk.get(), 0, topic.get(), &raw,
                                 static_cast<int>(timeout.count()));
    metadata_ptr md(raw);
    if (err) {
      spdlog::warn("kafka metadata for {} failed: {}", topics[i], rd_kafka_err2str(err));
      return {lookup_error_kind::unreachable, "Kafka metadata request failed"};
    }
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int t = 0; t < md->topic_cnt; ++t) {
      if (topics[i] == md->topics[t].topic) found = &md->topics[t];
    }
    if (!found || found->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        found->partition_cnt == 0) {
      return {lookup_error_kind::topic_missing, "topic " + topics[i] + " does not exist in Kafka"};
    }
    if (found->err) {
      spdlog::warn("kafka metadata for {}: {}", topics[i], rd_kafka_err2str(found->err));
      return {lookup_error_kind::unreachable, "Kafka metadata for topic " + topics[i] +
                                                  " is unavailable"};
    }
    out[i] = found->partition_cnt;
    std::lock_guard lock(impl_->mutex);
    impl_->cache[topics[i]] = {found->partition_cnt, std::chrono::steady_clock::now()};
    impl_->last_success = std::chrono::steady_clock::now();
  }
  return {};
}

lookup_error kafka_client::resolve_end_positions(const std::vector<std::string>& topics,
                                                 std::chrono::milliseconds timeout,
                                                 std::vector<partition_position>& out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> counts;
  if (auto err = partition_counts(topics, timeout, counts)) return err;

  partition_list_ptr list(rd_kafka_topic_partition_list_new(0));
  for (std::size_t t = 0; t < topics.size(); ++t) {
    for (int p = 0; p < counts[t]; ++p) {
      // ListOffsets with timestamp -1 answers the high watermark, for all partitions at once.
      rd_kafka_topic_partition_list_add(list.get(), topics[t].c_str(), p)->offset =
          RD_KAFKA_OFFSET_END;
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return {lookup_error_kind::unreachable, "Kafka lookup timed out"};
  auto err = rd_kafka_offsets_for_times(impl_->rk.get(), list.get(), static_cast<int>(left.count()));
  if (err) {
    spdlog::warn("kafka offset lookup failed: {}", rd_kafka_err2str(err));
    return {lookup_error_kind::unreachable, "Kafka offset lookup failed"};
  }
  out.clear();
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err || e.offset < 0) {
      spdlog::warn("kafka offset lookup for {}/{}: {} (offset {})", e.topic, e.partition,
                   rd_kafka_err2str(e.err), e.offset);
      return {lookup_error_kind::unreachable, "Kafka offset lookup failed"};
    }
    out.push_back({e.topic, e.partition, e.offset, std::nullopt});
  }
  return {};
}

}  // namespace eventstreams::kafka

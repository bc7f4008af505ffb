// Metadata and watermark lookups on one shared librdkafka handle.
#include "kafka_client.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "kafka_conf.hpp"

namespace eventstreams::kafka {

struct kafka_client::impl {
  kafka_ptr rk;
  std::chrono::milliseconds metadata_ttl{0};  // kafka.metadata_cache_ttl
  mutable std::mutex mutex;
  struct cached {
    int partitions;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, cached, std::less<>> cache;
  std::chrono::steady_clock::time_point last_success{};
  std::string last_error;
};

kafka_client::kafka_client(const kafka_config& cfg, const std::string& bootstrap)
    : impl_(std::make_unique<impl>()) {
  auto conf = make_conf(cfg, bootstrap, client_role::lookup);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk)
    throw std::runtime_error(std::string("kafka: cannot create client: ") + err);
  conf.release();  // owned by rk now
  impl_->rk.reset(rk);
  impl_->metadata_ttl = cfg.metadata_cache_ttl;
}

kafka_client::~kafka_client() = default;

kafka_client::health_state kafka_client::health() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->last_success, impl_->last_error};
}

lookup_error kafka_client::refresh(const std::vector<std::string>& topics,
                                   std::chrono::milliseconds timeout) {
  {
    // Expired, not erased: should the fetch fail (an outage), the counts stay known to
    // cached_partition_counts, for the resumes the shared consumer's rings place.
    std::lock_guard lock(impl_->mutex);
    for (const auto& t : topics) {
      if (auto it = impl_->cache.find(t); it != impl_->cache.end())
        it->second.at = {};
    }
  }
  std::vector<int> counts;
  auto err = partition_counts(topics, timeout, counts);
  std::lock_guard lock(impl_->mutex);
  impl_->last_error = err.detail;
  return err;
}

bool kafka_client::cached_partition_counts(const std::vector<std::string>& topics,
                                           std::vector<int>& out, bool& stale) const {
  out.assign(topics.size(), 0);
  stale = false;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(impl_->mutex);
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto it = impl_->cache.find(topics[i]);
    if (it == impl_->cache.end())
      return false;
    stale = stale || now - it->second.at >= impl_->metadata_ttl;
    out[i] = it->second.partitions;
  }
  return true;
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
      if (it != impl_->cache.end() && now - it->second.at < impl_->metadata_ttl) {
        out[i] = it->second.partitions;
      } else {
        missing.push_back(i);
      }
    }
  }
  for (std::size_t i : missing) {
    topic_ptr topic(rd_kafka_topic_new(impl_->rk.get(), topics[i].c_str(), nullptr));
    const rd_kafka_metadata_t* raw = nullptr;
    auto err =
        rd_kafka_metadata(impl_->rk.get(), 0, topic.get(), &raw, static_cast<int>(timeout.count()));
    metadata_ptr md(raw);
    if (err) {
      spdlog::warn("kafka metadata for {} failed: {}", topics[i], rd_kafka_err2str(err));
      return {lookup_error_kind::unreachable, "Kafka metadata request failed"};
    }
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int t = 0; t < md->topic_cnt; ++t) {
      if (topics[i] == md->topics[t].topic)
        found = &md->topics[t];
    }
    if (!found || found->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        found->partition_cnt == 0) {
      return {lookup_error_kind::topic_missing, "topic " + topics[i] + " does not exist in Kafka"};
    }
    if (found->err) {
      spdlog::warn("kafka metadata for {}: {}", topics[i], rd_kafka_err2str(found->err));
      return {lookup_error_kind::unreachable,
              "Kafka metadata for topic " + topics[i] + " is unavailable"};
    }
    out[i] = found->partition_cnt;
    std::lock_guard lock(impl_->mutex);
    impl_->cache[topics[i]] = {found->partition_cnt, std::chrono::steady_clock::now()};
    impl_->last_success = std::chrono::steady_clock::now();
  }
  return {};
}

namespace {

// One ListOffsets round per broker for all partitions: `query[i]` is a timestamp, or -1 (the
// high watermark) / -2 (the low watermark). Answers -1 where no offset matches.
lookup_error list_offsets(rd_kafka_t* rk, const std::vector<topic_partition>& partitions,
                          const std::vector<std::int64_t>& query, std::chrono::milliseconds timeout,
                          std::vector<std::int64_t>& out) {
  out.clear();
  if (partitions.empty())
    return {};
  partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    rd_kafka_topic_partition_list_add(list.get(), partitions[i].topic.c_str(),
                                      partitions[i].partition)
        ->offset = query[i];
  }
  auto err = rd_kafka_offsets_for_times(rk, list.get(), static_cast<int>(timeout.count()));
  if (err) {
    spdlog::warn("kafka offset lookup failed: {}", rd_kafka_err2str(err));
    return {lookup_error_kind::unreachable, "Kafka offset lookup failed"};
  }
  out.reserve(partitions.size());
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err) {
      spdlog::warn("kafka offset lookup for {}/{}: {}", e.topic, e.partition,
                   rd_kafka_err2str(e.err));
      return {lookup_error_kind::unreachable, "Kafka offset lookup failed"};
    }
    out.push_back(e.offset);
  }
  return {};
}

}  // namespace

lookup_error kafka_client::bounds(const std::vector<topic_partition>& partitions,
                                  std::chrono::milliseconds timeout,
                                  std::vector<partition_bounds>& out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::int64_t> low, high;
  if (auto err = list_offsets(
          impl_->rk.get(), partitions,
          std::vector<std::int64_t>(partitions.size(), RD_KAFKA_OFFSET_BEGINNING), timeout, low)) {
    return err;
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0)
    return {lookup_error_kind::unreachable, "Kafka lookup timed out"};
  if (auto err = list_offsets(impl_->rk.get(), partitions,
                              std::vector<std::int64_t>(partitions.size(), RD_KAFKA_OFFSET_END),
                              left, high)) {
    return err;
  }
  out.clear();
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (low[i] < 0 || high[i] < 0) {
      spdlog::warn("kafka watermarks for {}/{} unknown", partitions[i].topic,
                   partitions[i].partition);
      return {lookup_error_kind::unreachable, "Kafka offset lookup failed"};
    }
    out.push_back({low[i], high[i]});
  }
  return {};
}

lookup_error kafka_client::offsets_for_times(const std::vector<topic_partition>& partitions,
                                             const std::vector<std::int64_t>& timestamps,
                                             std::chrono::milliseconds timeout,
                                             std::vector<std::int64_t>& out) {
  spdlog::debug("kafka timestamp lookup for {} partitions", partitions.size());
  return list_offsets(impl_->rk.get(), partitions, timestamps, timeout, out);
}

}  // namespace eventstreams::kafka

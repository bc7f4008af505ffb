// The process-wide lookup client: topic metadata and offsets, for sessions and /readyz.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/start_resolver.hpp"

namespace eventstreams::kafka {

// Thread-safe. Every member function blocks for up to `timeout`: call them from the blocking
// pool, never from an I/O thread.
class kafka_client final : public offset_lookup {
 public:
  kafka_client(const kafka_config& cfg, const std::string& bootstrap);
  ~kafka_client() override;
  kafka_client(const kafka_client&) = delete;
  kafka_client& operator=(const kafka_client&) = delete;

  // Partition counts are cached for a few seconds; offsets are always asked for.
  lookup_error partition_counts(const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout, std::vector<int>& out) override;
  // Never blocks (an I/O thread may call it): the cached counts of every topic, stale ones
  // included, or false when one is missing (partition_counts then asks Kafka). `stale`: one is
  // older than kafka.metadata_cache_ttl; refresh them with begin_refresh()/partition_counts()/
  // end_refresh(), which lets one refresh run at a time (a reconnect storm's requests do not
  // each ask Kafka).
  bool cached_partition_counts(const std::vector<std::string>& topics, std::vector<int>& out,
                               bool& stale) const;
  bool begin_refresh() noexcept { return !refreshing_.exchange(true); }
  void end_refresh() noexcept { refreshing_.store(false); }
  lookup_error bounds(const std::vector<topic_partition>& partitions,
                      std::chrono::milliseconds timeout,
                      std::vector<partition_bounds>& out) override;
  lookup_error offsets_for_times(const std::vector<topic_partition>& partitions,
                                 const std::vector<std::int64_t>& timestamps,
                                 std::chrono::milliseconds timeout,
                                 std::vector<std::int64_t>& out) override;

  // Fetches metadata for `topics` bypassing the cache (the readiness probe); the outcome is
  // what health() reports.
  lookup_error refresh(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

  struct health_state {
    std::chrono::steady_clock::time_point last_success{};  // epoch if never
    std::string last_error;                                // of the last refresh, "" if it worked
  };
  health_state health() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<bool> refreshing_{false};
};

}  // namespace eventstreams::kafka

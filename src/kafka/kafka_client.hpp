// The process-wide lookup client: topic metadata and offsets, for sessions and /readyz.
#pragma once

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
  lookup_error bounds(const std::vector<topic_partition>& partitions,
                      std::chrono::milliseconds timeout,
                      std::vector<partition_bounds>& out) override;
  lookup_error offsets_for_times(const std::vector<topic_partition>& partitions,
                                 const std::vector<std::int64_t>& timestamps,
                                 std::chrono::milliseconds timeout,
                                 std::vector<std::int64_t>& out) override;

  // When metadata was last fetched successfully (steady clock), or the epoch if never.
  std::chrono::steady_clock::time_point last_metadata_success() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace eventstreams::kafka

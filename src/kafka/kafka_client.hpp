// The process-wide lookup client: topic metadata and offsets, for sessions and /readyz.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/position_vector.hpp"

namespace eventstreams::kafka {

enum class lookup_error_kind { none, unreachable, topic_missing };

struct lookup_error {
  lookup_error_kind kind = lookup_error_kind::none;
  std::string detail;  // safe to show to clients (topic names, no internals)
  explicit operator bool() const noexcept { return kind != lookup_error_kind::none; }
};

// Thread-safe. Every member function blocks for up to `timeout`: call them from the blocking
// pool, never from an I/O thread.
class kafka_client {
 public:
  kafka_client(const kafka_config& cfg, const std::string& bootstrap);
  ~kafka_client();
  kafka_client(const kafka_client&) = delete;
  kafka_client& operator=(const kafka_client&) = delete;

  // Every partition of `topics`, in topic order then partition order, each positioned at its
  // high watermark (the end). Partition counts are cached for a few seconds.
  lookup_error resolve_end_positions(const std::vector<std::string>& topics,
                                     std::chrono::milliseconds timeout,
                                     std::vector<partition_position>& out);

  // Partition count of each topic (cached), or an error.
  lookup_error partition_counts(const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout, std::vector<int>& out);

  // When metadata was last fetched successfully (steady clock), or the epoch if never.
  std::chrono::steady_clock::time_point last_metadata_success() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace eventstreams::kafka

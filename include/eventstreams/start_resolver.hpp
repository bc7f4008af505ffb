// Resolving every partition's concrete start offset from the resume rules, through an
// injectable Kafka lookup (the real one is kafka::kafka_client; tests pass a fake).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/position_vector.hpp"
#include "eventstreams/resume.hpp"

namespace eventstreams {

enum class lookup_error_kind { none, unreachable, topic_missing };

struct lookup_error {
  lookup_error_kind kind = lookup_error_kind::none;
  std::string detail;  // safe to show to clients (topic names, no internals)
  explicit operator bool() const noexcept { return kind != lookup_error_kind::none; }
};

struct topic_partition {
  std::string topic;
  std::int32_t partition = 0;
};

// The Kafka lookups start resolution needs. Implementations may block up to `timeout`.
class offset_lookup {
 public:
  virtual ~offset_lookup() = default;
  // Partition count of each topic, in order.
  virtual lookup_error partition_counts(const std::vector<std::string>& topics,
                                        std::chrono::milliseconds timeout,
                                        std::vector<int>& out) = 0;
  // The retained range [low, high) of each partition, in order.
  virtual lookup_error bounds(const std::vector<topic_partition>& partitions,
                              std::chrono::milliseconds timeout,
                              std::vector<partition_bounds>& out) = 0;
  // For each partition, the offset of the first record with timestamp >= timestamps[i], or -1
  // when there is none (then the partition starts at its end).
  virtual lookup_error offsets_for_times(const std::vector<topic_partition>& partitions,
                                         const std::vector<std::int64_t>& timestamps,
                                         std::chrono::milliseconds timeout,
                                         std::vector<std::int64_t>& out) = 0;
};

// Every partition of `topics` (topic order, then partition order) with its concrete start
// offset per plan_start. `entries` were validated against `topics` by the caller; entries for
// partitions that do not exist are ignored. Blocks on `lookup`. `gaps` (may be null) receives,
// in position order, the partitions whose entry's offset could not be honoured (docs/api.md
// §5.4).
lookup_error resolve_start_positions(offset_lookup& lookup, const std::vector<std::string>& topics,
                                     const std::vector<last_event_entry>& entries,
                                     std::optional<std::int64_t> since, resume_policy policy,
                                     std::chrono::milliseconds timeout,
                                     std::vector<partition_position>& out,
                                     std::vector<position_gap>* gaps = nullptr);

}  // namespace eventstreams

// Start positions: partition counts -> bounds -> plans -> timestamp lookups -> offsets.
#include "eventstreams/start_resolver.hpp"

namespace eventstreams {
lookup_error resolve_start_positions(offset_lookup& lookup, const std::vector<std::string>& topics,
                                     const std::vector<last_event_entry>& entries,
                                     std::optional<std::int64_t> since, resume_policy policy,
                                     std::chrono::milliseconds timeout,
                                     std::vector<partition_position>& out,
                                     std::vector<position_gap>* gaps) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
  };

  std::vector<int> counts;
  if (auto err = lookup.partition_counts(topics, timeout, counts))
    return err;
  std::vector<topic_partition> partitions;
  for (std::size_t t = 0; t < topics.size(); ++t) {
    for (int p = 0; p < counts[t]; ++p)
      partitions.push_back({topics[t], p});
  }
  std::vector<partition_bounds> bounds;
  if (auto err = lookup.bounds(partitions, left(), bounds))
    return err;

  std::vector<start_plan> plans(partitions.size());
  std::vector<topic_partition> by_time;
  std::vector<std::int64_t> times;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    const auto* entry = governing_entry(entries, partitions[i].topic, partitions[i].partition);
    plans[i] = plan_start(entry, since, policy, bounds[i]);
    if (plans[i].kind == start_kind::timestamp) {
      by_time.push_back(partitions[i]);
      times.push_back(plans[i].value);
    }
  }
  std::vector<std::int64_t> found;
  if (!by_time.empty()) {
    if (auto err = lookup.offsets_for_times(by_time, times, left(), found))
      return err;
  }

  out.clear();
  out.reserve(partitions.size());
  if (gaps)
    gaps->clear();
  std::size_t next_by_time = 0;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    std::int64_t offset = bounds[i].high;
    switch (plans[i].kind) {
      case start_kind::offset:
        offset = plans[i].value;
        break;
      case start_kind::earliest:
        offset = bounds[i].low;
        break;
      case start_kind::end:
        offset = bounds[i].high;
        break;
      case start_kind::timestamp: {
        std::int64_t f = found[next_by_time++];
        // -1: no record that new (the end); anything below low was removed meanwhile.
        offset = f < 0 ? bounds[i].high : std::max(f, bounds[i].low);
        break;
      }
    }
    if (gaps && plans[i].gap) {
      const auto requested = plans[i].requested;
      // retention: the offsets between the requested one and the start. reset: the requested
      // offset belongs to a log that is gone; what the current log holds before the start.
      const auto from = *plans[i].gap == gap_reason::retention ? requested : bounds[i].low;
      gaps->push_back(
          {out.size(), *plans[i].gap, requested, offset, std::max<std::int64_t>(0, offset - from)});
    }
    out.push_back(
        {partitions[i].topic, partitions[i].partition, offset, plans[i].carried_timestamp});
  }
  return {};
}

}  // namespace eventstreams

// The per-partition start rules: Last-Event-ID entry, `since` or the end (API.md §4, §5.3).
#include "eventstreams/resume.hpp"

namespace eventstreams {
namespace {

start_plan make_plan(start_kind kind, std::int64_t value, std::optional<std::int64_t> carried) {
  start_plan p;
  p.kind = kind;
  p.value = value;
  p.carried_timestamp = carried;
  return p;
}

}  // namespace

start_plan plan_start(const last_event_entry* entry, std::optional<std::int64_t> since,
                      resume_policy policy, partition_bounds bounds) {
  // `value` of earliest/end carries the bound it resolves to now, for logs and callers that
  // want it; start resolution may still re-read the bounds.
  const auto earliest = [&](std::optional<std::int64_t> carried) {
    return make_plan(start_kind::earliest, bounds.low, carried);
  };
  const auto end = [&](std::optional<std::int64_t> carried) {
    return make_plan(start_kind::end, bounds.high, carried);
  };
  const auto by_time = [](std::int64_t ts, std::optional<std::int64_t> carried) {
    return make_plan(start_kind::timestamp, ts, carried);
  };

  if (entry == nullptr || (!entry->offset && !entry->timestamp)) {
    return since ? by_time(*since, std::nullopt) : end(std::nullopt);
  }
  const std::optional<std::int64_t> ts = entry->timestamp;
  if (ts && (policy == resume_policy::timestamp || !entry->offset)) {
    return by_time(*ts, ts);
  }
  const std::int64_t offset = *entry->offset;
  if (offset == -2) {
    return earliest(ts);
  }
  if (offset == -1) {
    return ts ? by_time(*ts, ts) : end(ts);
  }
  // high itself is valid: it is the next offset to be written, so resuming there is exact.
  if (offset >= bounds.low && offset <= bounds.high) {
    return make_plan(start_kind::offset, offset, ts);
  }
  // Out of range: a gap the stream announces before any event of the partition (docs/api.md
  // §5.4). With resume_by timestamp and a timestamp, the offset was not the position asked for.
  start_plan plan = ts ? by_time(*ts, ts) : offset < bounds.low ? earliest(ts) : end(ts);
  plan.gap = offset < bounds.low ? gap_reason::retention : gap_reason::reset;
  plan.requested = offset;
  return plan;
}

const char* gap_reason_name(gap_reason reason) noexcept {
  switch (reason) {
    case gap_reason::retention:
      return "retention";
    case gap_reason::reset:
      return "reset";
    case gap_reason::unknown:
      break;
  }
  return "unknown";
}

}  // namespace eventstreams

// The per-partition start rules: Last-Event-ID entry, `since` or the end (API.md §4, §5.3).
#include "eventstreams/resume.hpp"

#include "eventstreams/partition_ring.hpp"

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

const last_event_entry* governing_entry(const std::vector<last_event_entry>& entries,
                                        const std::string& topic, std::int32_t partition) {
  const last_event_entry* whole_topic = nullptr;
  const last_event_entry* exact = nullptr;
  for (const auto& e : entries) {
    if (e.topic != topic)
      continue;
    if (!e.partition) {
      whole_topic = &e;
    } else if (*e.partition == partition) {
      exact = &e;
    }
  }
  return exact ? exact : whole_topic;
}

bool start_in_ring(const last_event_entry* entry, std::optional<std::int64_t> since,
                   resume_policy policy, const partition_ring& ring, std::int64_t& offset,
                   std::optional<std::int64_t>& carried) {
  // The ring's head is a position the shared consumer reached by reading records it still
  // keeps: an empty ring (nothing read yet, or all evicted) proves nothing, e.g. of a consumer
  // about to find its next offset removed by retention (a ring break, which would end the
  // stream it placed there).
  const bool read = ring.size() > 0;
  const auto end = [&](std::optional<std::int64_t> ts) {
    if (!read)
      return false;
    offset = ring.head();
    carried = ts;
    return true;
  };
  const auto by_time = [&](std::int64_t ts_ms, std::optional<std::int64_t> ts) {
    auto found = ring.find_time(ts_ms);
    if (found.status == ring_lookup::at_head)
      return end(ts);
    if (found.status != ring_lookup::found)
      return false;
    offset = found.cursor.record().offset;
    carried = ts;
    return true;
  };
  // The branches of plan_start, in its order.
  if (entry == nullptr || (!entry->offset && !entry->timestamp))
    return since ? by_time(*since, std::nullopt) : end(std::nullopt);
  const std::optional<std::int64_t> ts = entry->timestamp;
  if (ts && (policy == resume_policy::timestamp || !entry->offset))
    return by_time(*ts, ts);
  const std::int64_t at = *entry->offset;
  if (at == -2)
    return false;  // the earliest retained record: Kafka knows where that is
  if (at == -1)
    return ts ? by_time(*ts, ts) : end(ts);
  // Inside the ring, the offset is inside Kafka's retained range as well, or was until the
  // ring read it: served from memory, exactly.
  auto status = ring.find(at).status;
  if (status != ring_lookup::found && (status != ring_lookup::at_head || !read))
    return false;
  offset = at;
  carried = ts;
  return true;
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

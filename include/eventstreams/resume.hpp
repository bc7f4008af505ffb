// Where each partition starts: Last-Event-ID and `since` parsing, and the start-position rules
// of API.md §4 and §5.3. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "eventstreams/config.hpp"

namespace eventstreams {

class partition_ring;

// Largest Last-Event-ID header accepted (API.md §5.3).
inline constexpr std::size_t max_last_event_id_bytes = 16 * 1024;

// One entry of a Last-Event-ID array. Our ids have all four fields; the original service's
// have {"topic","partition","timestamp"} or "offset":-1 (end) / -2 (earliest), or are bare
// topic-name strings (topic only: that topic's partitions start by the default rules).
struct last_event_entry {
  std::string topic;
  std::optional<std::int32_t> partition;  // absent: every partition of the topic
  std::optional<std::int64_t> offset;     // >= 0, or -1 (end) / -2 (earliest)
  std::optional<std::int64_t> timestamp;  // ms since the epoch, >= 0
};

struct last_event_id_error {
  std::string detail;  // what is wrong, safe to show to the client (no raw echo of the input)
};

// Parses the header value. An empty (or all-whitespace) value yields an empty vector (= absent).
// Errors: longer than max_last_event_id_bytes, not JSON, not an array, an entry that is neither
// a string nor an object, a missing/empty/non-string topic, a partition that is not an integer
// in [0, 2^31), an offset that is not an integer >= -2, a timestamp that is not an integer >= 0
// (floats are rejected: "1.5"), unknown members are ignored (forward compatibility).
std::variant<std::vector<last_event_entry>, last_event_id_error> parse_last_event_id(
    std::string_view header);

// `since`: milliseconds since the epoch (digits only), an ISO-8601 date-time with `Z`, a
// ±hh:mm offset or no zone (UTC), 'T' or a space between date and time, fractional seconds
// allowed (e.g. 2024-05-01T12:00:00.250+02:00, 2024-05-01 12:00:00), or a date YYYY-MM-DD
// (midnight UTC). An empty `since=` is the caller's to treat as absent. Returns ms since the epoch,
// or nullopt if invalid (including impossible dates such as 2024-02-30 and values before 1970).
std::optional<std::int64_t> parse_since(std::string_view text);

// How one partition's start is found.
enum class start_kind {
  offset,     // exactly `value`
  timestamp,  // the first record with timestamp >= `value` (a lookup; "none" means the end)
  earliest,   // the oldest retained record
  end,        // the high watermark
};

// Why a stream could not continue at the offset it asked for (a Last-Event-ID entry's) or
// expected next (docs/api.md §5.4): the offset is below what the partition keeps (retention),
// beyond its log, which was truncated or reset (reset), or the cause is not known.
enum class gap_reason { retention, reset, unknown };

// "retention", "reset" or "unknown": the `reason` of a gap event and of its metric label.
const char* gap_reason_name(gap_reason reason) noexcept;

struct start_plan {
  start_kind kind = start_kind::end;
  std::int64_t value = 0;
  std::optional<std::int64_t> carried_timestamp;  // the entry's timestamp, kept for the id
  // Set when the entry's offset is outside the retained range and this plan replaces it: the
  // stream starts with a gap event (docs/api.md §5.4). `requested` is that offset.
  std::optional<gap_reason> gap;
  std::int64_t requested = 0;
};

// A partition whose position jumped (docs/api.md §5.4): at the start, once the start offset is
// resolved, or while streaming, when Kafka no longer had the next offset.
struct position_gap {
  std::size_t index = 0;  // the partition's index in the stream's positions
  gap_reason reason = gap_reason::unknown;
  std::int64_t requested = 0;  // the offset asked for: the Last-Event-ID entry's, or the next one
  std::int64_t resumed = 0;    // the offset the stream continues at
  // Offsets passed over, never negative. retention: resumed - requested. reset: resumed - low,
  // the records of the partition's current log that the stream continues after (the requested
  // offset belongs to a log that is gone, so nothing is known to lie between it and resumed).
  std::int64_t missing = 0;
};

// The retained range of a partition: offsets [low, high) exist; high is the next offset.
struct partition_bounds {
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// The rules, for one partition. `entry` is the Last-Event-ID entry for this partition (an entry
// for this exact partition wins over a whole-topic entry; the caller picks), or null.
//  - resume_by offset: offset in [low, high] -> offset; out of range -> the entry's timestamp if
//    any, else earliest (below low) or end (above high); -1 -> timestamp if any, else end;
//    -2 -> earliest; no offset but a timestamp -> timestamp; neither -> as if no entry.
//    An offset >= 0 outside [low, high] marks the plan as a gap: `retention` below low, `reset`
//    above high (docs/api.md §5.4).
//  - resume_by timestamp: an entry's timestamp wins over its offset (no gap); otherwise as above.
//  - no entry: `since` -> timestamp(since); else end.
start_plan plan_start(const last_event_entry* entry, std::optional<std::int64_t> since,
                      resume_policy policy, partition_bounds bounds);

// The entry of `entries` that governs (topic, partition): an exact-partition entry wins over a
// whole-topic one; among equals the last one in the header wins (it is the newest). Or null.
const last_event_entry* governing_entry(const std::vector<last_event_entry>& entries,
                                        const std::string& topic, std::int32_t partition);

// Where a resumed request starts in one partition when the shared consumer's ring alone can
// tell, with no Kafka lookup (docs/api.md §11): the rules of plan_start, with an offset from the
// ring's base() up to its frontier() taken as is, "the end" as the ring's head(), and a
// timestamp resolved by partition_ring::find_time. Returns false when the ring cannot answer
// (an offset before or past the ring, -2, a timestamp the ring cannot place, or a position
// at the head of a ring that keeps no record, which proves nothing): the caller then asks
// Kafka. On true, `offset` and `carried` are what plan_start's resolution would give.
bool start_in_ring(const last_event_entry* entry, std::optional<std::int64_t> since,
                   resume_policy policy, const partition_ring& ring, std::int64_t& offset,
                   std::optional<std::int64_t>& carried);

}  // namespace eventstreams

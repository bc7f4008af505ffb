// What an event source hands a streaming session: records in delivery order, each with the
// index of its partition in the connection's positions, and the errors met on the way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace eventstreams {

struct position_gap;  // eventstreams/resume.hpp

// One record. The views stay valid until the source's next poll or its destruction.
struct source_record {
  // A record of a partition the connection was not assigned (librdkafka delivers none).
  static constexpr std::size_t no_index = std::numeric_limits<std::size_t>::max();

  // The partition's index in the connection's positions (assignment order, docs/api.md §5.2),
  // resolved once per connection by the source: no per-record topic lookup.
  std::size_t index = no_index;
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = -1;  // ms since epoch, -1 if none
  std::string_view value;
  std::optional<std::string_view> key;  // none for a record without a key ($key of filters)
  // Set on the first record after its partition's position jumped while streaming: Kafka no
  // longer had the next offset (retention) or its log was reset (docs/api.md §5.4). Its
  // `index` and `resumed` are this record's. Valid as long as the views.
  const position_gap* gap = nullptr;
  // A record of the shared mode's partition rings (docs/api.md §11): `value` is spliced already,
  // and `ring_flags` (partition_ring.hpp's ring_flag bits) say whether it is JSON and a canary.
  bool from_ring = false;
  std::uint8_t ring_flags = 0;
};

// How far behind the end of its partitions a stream is, sampled once a second
// (docs/api.md "Metrics"): the records it has not received yet, summed over its partitions, and
// an upper estimate of how old the oldest of them is, the largest over its partitions (0 when
// it is caught up).
struct source_lag {
  std::int64_t records = 0;
  double seconds = 0;
  std::int64_t unknown = 0;  // partitions whose end is not known yet (left out of the above)
};

struct source_error {
  bool fatal = false;  // the stream ends with an error (docs/api.md §5.5)
  std::string kind;    // short name, e.g. "_TRANSPORT", for metrics and logs
  std::string detail;  // for logs only
  std::string topic;   // the topic it concerns, "" when none
  // Not empty: the stream ends after the events already written, with no error event, and
  // this is the close reason (a shared-mode client that fell behind: "overrun").
  std::string end;
};

}  // namespace eventstreams

// The body of a stream, SSE or NDJSON: every block a client receives is framed here, one place
// for both framings (docs/api.md §4, §5). Sans-io: records in, bytes out.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"

#include "eventstreams/position_vector.hpp"
#include "eventstreams/resume.hpp"
#include "eventstreams/source_record.hpp"

namespace eventstreams {

enum class framing { sse, ndjson };

// When a stream quiet since `last_send` gets its keepalive (docs/api.md §5.1): `interval` later,
// rounded up to a grid of a quarter of the interval, at most 1 s, so that the keepalives due
// within one step of it go out together (one wake-up of an I/O thread instead of one each).
std::chrono::steady_clock::time_point heartbeat_due(std::chrono::steady_clock::time_point last_send,
                                                    std::chrono::milliseconds interval);

// What a record did to the stream.
enum class record_outcome {
  sent,              // its event was appended
  skipped_not_json,  // not one JSON object: positions moved, nothing appended
  skipped_canary,    // a canary its topic drops: positions moved, nothing appended
  skipped_filter,    // the stream's filter does not match it: positions moved, nothing appended
  not_assigned,      // its partition is not one of the positions: ignored
};

// A record after its one `meta` splice (docs/api.md §5.2): what the step from a record to the
// bytes of a stream needs. The shared mode splices each record once and steps many streams
// with it; the per-connection mode splices and steps per connection. Both call the same step.
struct spliced_record {
  std::size_t index = source_record::no_index;  // in the stream's positions
  std::int64_t offset = 0;
  std::int64_t timestamp = -1;  // ms since epoch, -1 if none
  bool json = false;            // one JSON object: `data` holds it spliced
  bool canary = false;          // meta.domain == "canary"
  std::string_view data;
  std::optional<std::string_view> key;  // the record's key ($key of filters)
};

// One client's stream: its positions, whether the last id it was sent lags behind them, and the
// bytes of every block. Not thread-safe; owned by one session.
class stream_format {
 public:
  // `pass_canary[i]`: whether the topic of position i passes canary events (canary_policy()).
  // `filter` (may be null): only records it matches are sent; the others advance positions like
  // dropped canaries (docs/api.md "Server-side filters").
  stream_format(framing f, position_vector positions, std::vector<bool> pass_canary,
                std::shared_ptr<const filter::compiled> filter = nullptr);

  framing kind() const noexcept { return framing_; }
  const position_vector& positions() const noexcept { return positions_; }
  // The positions rendered as an SSE id (the followed id after follow()).
  std::string_view id();
  // Whether the positions moved since the last id written (SSE).
  bool id_moved() const noexcept { return id_moved_; }

  // Partitions whose start is a gap (docs/api.md §5.4), `index` in positions(), in position
  // order: the preamble announces them. Before preamble().
  void set_start_gaps(std::vector<position_gap> gaps) { start_gaps_ = std::move(gaps); }

  // The start of the body. SSE: ":ok", a blank line, with a filter the comment
  // ": filter CANONICAL" and a blank line, and the start positions as an id-only block
  // (docs/api.md §5.1), or, when the start is a gap, the `gap` event, which carries the same
  // id (docs/api.md §5.4). NDJSON: nothing (no gap line either).
  void preamble(std::string& out);

  // Advances the record's position and appends its event: SSE `event: message` with the new id
  // and the spliced record as data, or an NDJSON line. Records that are not a JSON object and
  // canaries of a topic that drops them, and records the filter does not match, append
  // nothing, but still advance (docs/api.md §5.2).
  // A record with a gap (source_record::gap) first moves its position and appends the SSE
  // `gap` event, whose id is the positions after the jump (docs/api.md §5.4); NDJSON: nothing.
  record_outcome record(const source_record& rec, std::string& out);
  // The same step for a record spliced already (the shared mode splices once per record).
  record_outcome record(const spliced_record& rec, std::string& out);

  // Shared mode, filtered cohorts: moves position `i` past records the filter rejected without
  // stepping them one by one (docs/api.md §11); `timestamp_ms` as position_vector::move_to.
  // Whether the position moved (never back).
  bool skip_to(std::size_t i, std::int64_t next_offset, std::optional<std::int64_t> timestamp_ms);

  // Shared mode: the stream's events were written from bytes framed for many streams with
  // equal positions; from here the id-only blocks, the error event and the pre-end block carry
  // `id` (those positions, rendered), and `moved` says whether they moved past the last event
  // written. `owner` keeps the bytes of `id` alive (the chunk that carries them: a member of a
  // cohort would otherwise copy the id, kilobytes over many partitions, for every batch). Valid
  // until the next call; records stepped here afterwards are not supported.
  void follow(std::string_view id, bool moved, std::shared_ptr<const void> owner);
  // Stops following: from now on the stream frames records itself from `positions`, which must
  // be those of the followed id (a shared-mode stream that goes on from Kafka, docs/api.md §11).
  void restart(position_vector positions);

  // A fatal error after the 200. SSE: `event: error` with the current id and `problem` (a
  // problem JSON object) as data. NDJSON: nothing, the response just ends (docs/api.md §4).
  void error(std::string_view problem, std::string& out);

  // A keepalive (SSE): an id-only block when the positions moved since the last id, else the
  // comment ":" (docs/api.md §5.1). NDJSON: nothing (it has no keepalives).
  void heartbeat(std::string& out);

  // Before an end the server decides (SSE): an id-only block when the positions moved since the
  // last id, so that the client resumes from the newest position (docs/api.md §5.1), then, when
  // `retry` > 0, the block "retry: <ms>" that sets the client's reconnection delay (a shutdown,
  // docs/api.md §5.5). NDJSON: nothing.
  void before_end(std::string& out, std::chrono::milliseconds retry = {});

  // Per position, whether canaries pass: those of a topic that passes them in the request
  // (`topic_passes` parallel to `topics`: a topic passes if any requested stream reading it
  // does, docs/api.md §5.2). Computed once per connection.
  static std::vector<bool> canary_policy(const std::vector<std::string>& topics,
                                         const std::vector<bool>& topic_passes,
                                         const position_vector& positions);

 private:
  void id_block(std::string& out);
  void gap(const position_gap& g, std::string& out);

  framing framing_;
  position_vector positions_;
  std::vector<bool> pass_canary_;  // per position
  std::shared_ptr<const filter::compiled> filter_;
  std::unique_ptr<filter::scratch> filter_work_;  // with filter_
  bool id_moved_ = false;
  std::vector<position_gap> start_gaps_;
  std::string scratch_;  // one spliced record
  std::string_view followed_id_;
  std::shared_ptr<const void> followed_owner_;  // holds followed_id_'s bytes
  bool following_ = false;
};

}  // namespace eventstreams

// The body of a stream, SSE or NDJSON: every block a client receives is framed here, one place
// for both framings (docs/api.md §4, §5). Sans-io: records in, bytes out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/position_vector.hpp"
#include "eventstreams/source_record.hpp"

namespace eventstreams {

enum class framing { sse, ndjson };

// What a record did to the stream.
enum class record_outcome {
  sent,              // its event was appended
  skipped_not_json,  // not one JSON object: positions moved, nothing appended
  skipped_canary,    // a canary its topic drops: positions moved, nothing appended
  not_assigned,      // its partition is not one of the positions: ignored
};

// One client's stream: its positions, whether the last id it was sent lags behind them, and the
// bytes of every block. Not thread-safe; owned by one session.
class stream_format {
 public:
  // `pass_canary[i]`: whether the topic of position i passes canary events (canary_policy()).
  stream_format(framing f, position_vector positions, std::vector<bool> pass_canary);

  framing kind() const noexcept { return framing_; }
  const position_vector& positions() const noexcept { return positions_; }
  // Whether the positions moved since the last id written (SSE).
  bool id_moved() const noexcept { return id_moved_; }

  // The start of the body. SSE: ":ok", a blank line, and the start positions as an id-only
  // block (docs/api.md §5.1). NDJSON: nothing.
  void preamble(std::string& out);

  // Advances the record's position and appends its event: SSE `event: message` with the new id
  // and the spliced record as data, or an NDJSON line. Records that are not a JSON object and
  // canaries of a topic that drops them append nothing, but still advance (docs/api.md §5.2).
  record_outcome record(const source_record& rec, std::string& out);

  // A fatal error after the 200. SSE: `event: error` with the current id and `problem` (a
  // problem JSON object) as data. NDJSON: nothing, the response just ends (docs/api.md §4).
  void error(std::string_view problem, std::string& out);

  // A keepalive (SSE): an id-only block when the positions moved since the last id, else the
  // comment ":" (docs/api.md §5.1). NDJSON: nothing (it has no keepalives).
  void heartbeat(std::string& out);

  // Before an end the server decides (SSE): an id-only block when the positions moved since the
  // last id, so that the client resumes from the newest position (docs/api.md §5.1).
  void before_end(std::string& out);

  // Per position, whether canaries pass: those of a topic that passes them in the request
  // (`topic_passes` parallel to `topics`: a topic passes if any requested stream reading it
  // does, docs/api.md §5.2). Computed once per connection.
  static std::vector<bool> canary_policy(const std::vector<std::string>& topics,
                                         const std::vector<bool>& topic_passes,
                                         const position_vector& positions);

 private:
  void id_block(std::string& out);

  framing framing_;
  position_vector positions_;
  std::vector<bool> pass_canary_;  // per position
  bool id_moved_ = false;
  std::string scratch_;  // one spliced record
};

}  // namespace eventstreams

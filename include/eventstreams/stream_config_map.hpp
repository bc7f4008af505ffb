// The stream map from an EventStreamConfig document (the MediaWiki action=streamconfigs API, or a
// file in its shape), and its merge with the inline `streams` (docs/api.md, "Streams from
// EventStreamConfig"). Sans-io: the caller fetches the text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/config.hpp"

namespace eventstreams {

// A stream (or one of its aliases) left out of the map, and why.
struct skipped_stream {
  std::string name;    // the stream's name; "NAME (alias A)" when only an alias was dropped
  std::string reason;  // e.g. "no topics (neither topics nor topic_prefixes)"
  // True for what an operator asked for or expects (a pattern name, a name outside
  // allowed_streams, a stream replaced by an inline one): logged at debug level, not as a
  // warning.
  bool expected = false;
  bool operator==(const skipped_stream&) const = default;
};

// The streams of a fetched document, or why the document cannot be used (`error` not empty:
// invalid JSON, no map at object_path, no stream left). Streams are in name order.
struct fetched_streams {
  std::string error;
  std::vector<stream_config> streams;
  std::vector<skipped_stream> skipped;
  bool ok() const noexcept { return error.empty(); }
};

// Maps the document's streams: `topics`, else each of `topic_prefixes` + the name;
// `stream_aliases`, `description`, `schema_title`, `canary_events_enabled` (false: canaries
// pass, there are none to drop); `settings.defaults` under every stream; `allowed_streams`
// (a stream is kept when its name or one of its aliases is listed). Names that start with '/'
// (patterns), streams without topics and streams or aliases that cannot be served are skipped
// with a reason. `default_mode` is `fanout.mode`.
fetched_streams map_stream_config(std::string_view document, const stream_source_config& settings,
                                  delivery_mode default_mode);

// The stream map in use: the inline streams (file order), then the fetched ones; inline wins
// on a clash (a fetched stream whose name an inline one uses is skipped, a fetched alias that
// an inline one uses is dropped).
struct merged_streams {
  std::vector<stream_config> streams;
  std::vector<skipped_stream> skipped;
};
merged_streams merge_streams(const std::vector<stream_config>& inline_streams,
                             const std::vector<stream_config>& fetched);

}  // namespace eventstreams

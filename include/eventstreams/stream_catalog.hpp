// The configured streams, looked up by name or alias, and the request's topic selection.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eventstreams/config.hpp"

namespace eventstreams {

// What one `/v2/stream/{streams}` request reads.
struct stream_selection {
  std::vector<std::string> stream_names;  // canonical names, request order, no duplicates
  std::vector<std::string> topics;        // allowed topic set: union in request order, no dups
  std::vector<bool> pass_canary;          // parallel to topics: true if any selecting stream passes
  std::vector<std::string> unknown;       // names that matched nothing, request order, no dups
  // Every selected stream is in the shared delivery mode (a request that mixes modes is served
  // per connection, docs/api.md §11).
  bool shared = false;
};

// Immutable after construction; safe to share between threads (held by shared_ptr<const>).
class stream_catalog {
 public:
  explicit stream_catalog(std::vector<stream_config> streams);

  // Exact, case-sensitive match on a stream's name or one of its aliases; nullptr if none.
  const stream_config* find(std::string_view name_or_alias) const;
  const std::vector<stream_config>& streams() const noexcept { return streams_; }
  // Every topic of every stream, first-seen order, no duplicates.
  std::vector<std::string> all_topics() const;

  // `list` is the URL-decoded `{streams}` path segment: names/aliases separated by ','.
  // Empty items (e.g. "a,,b" or "") are reported in `unknown` as "".
  stream_selection select(std::string_view list) const;

 private:
  std::vector<stream_config> streams_;
  std::unordered_map<std::string, std::size_t> index_;  // name or alias -> streams_ index
};

}  // namespace eventstreams

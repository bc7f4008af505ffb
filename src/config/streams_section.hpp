// The `streams` section of the configuration (API.md §2): stream names, aliases, topics,
// canary policy and delivery mode, validated (internal to src/config/).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/config.hpp"
#include "yaml_reader.hpp"

namespace eventstreams::config_detail {

// Stream names and aliases are URL path items separated by ','; keep them to a safe set
// (letters, digits, '.', '_' and '-'). Host names in `server.listen` use the same set.
bool is_name(std::string_view s);

// Kafka's own rule for topic names; the same character set as stream names.
bool is_topic_name(std::string_view s);

// The delivery mode a `fanout` value names: per_connection or shared (docs/api.md,
// "Delivery modes"). Used for `fanout.mode` and for each stream's own `fanout` key.
delivery_mode read_delivery_mode(const yaml_reader& r, const YAML::Node& node,
                                 const std::string& key);

// A stream as the file writes it: `fanout` is empty when the stream has no `fanout` key of its
// own, and `stream.fanout` is not yet resolved.
struct stream_entry {
  stream_config stream;
  std::optional<delivery_mode> fanout;
};

// The `streams` map at `key`: one entry per stream, in file order. Names and aliases share one
// namespace; every error names its key.
std::vector<stream_entry> read_streams(const yaml_reader& r, const YAML::Node& node,
                                       const std::string& key);

// The streams with each one's delivery mode resolved: its own `fanout` key, else
// `default_mode` (`fanout.mode`, which the file may set after `streams`).
std::vector<stream_config> resolve_streams(std::vector<stream_entry> entries,
                                           delivery_mode default_mode);

}  // namespace eventstreams::config_detail

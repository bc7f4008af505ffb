// The `stream_config` section of the configuration (docs/api.md, "Streams from
// EventStreamConfig"): where the stream map is fetched from, how often, and what is kept of it
// (internal to src/config/).
#pragma once

#include <string>

#include "eventstreams/config.hpp"
#include "yaml_reader.hpp"

namespace eventstreams::config_detail {

// Reads the section at `key` into `out`; every error names its key.
void read_stream_source(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                        stream_source_config& out);

}  // namespace eventstreams::config_detail

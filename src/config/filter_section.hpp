// The `filter` section of the configuration (docs/api.md, "Server-side filters"): the bounds of
// the filter language (internal to src/config/).
#pragma once

#include <string>

#include "eventstreams/filter.hpp"
#include "yaml_reader.hpp"

namespace eventstreams::config_detail {

// Reads the section at `key` into `out`; every error names its key.
void read_filter(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                 filter::limits& out);

}  // namespace eventstreams::config_detail

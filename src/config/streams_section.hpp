// The `streams` section of the configuration (API.md §2): stream names, aliases, topics and
// canary policy, validated (internal to src/config/).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/config.hpp"
#include "yaml_reader.hpp"

namespace eventstreams::config_detail {

// Stream names and aliases are URL path items separated by ','; keep them to a safe set
// (letters, digits, '.', '_' and '-'). Host names in `server.listen` use the same set.
bool is_name(std::string_view s);

// The `streams` map at `key`: one stream_config per entry, in file order. Names and aliases
// share one namespace; every error names its key.
std::vector<stream_config> read_streams(const yaml_reader& r, const YAML::Node& node,
                                        const std::string& key);

}  // namespace eventstreams::config_detail

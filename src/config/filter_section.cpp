// The `filter` section: each bound of the filter language is a setting (docs/api.md, "Limits").
#include "filter_section.hpp"

#include <array>

namespace eventstreams::config_detail {

void read_filter(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                 filter::limits& out) {
  struct setting {
    const char* name;
    std::size_t filter::limits::*field;
    std::uint64_t min;
    std::uint64_t max;
    bool bytes;  // a byte size ("256KiB"), else a count
  };
  // Upper bounds keep every setting inside what the parser and RE2 can take (depth bounds the
  // parser's recursion; RE2's max_mem is an int64).
  static constexpr std::array<setting, 14> settings{{
      {"max_length", &filter::limits::max_length, 1, 1 << 20, true},
      {"max_clauses", &filter::limits::max_clauses, 1, 1024, false},
      {"max_predicates", &filter::limits::max_predicates, 1, 65536, false},
      {"max_depth", &filter::limits::max_depth, 1, 64, false},
      {"max_path_segments", &filter::limits::max_path_segments, 1, 256, false},
      {"max_path_length", &filter::limits::max_path_length, 1, 65536, true},
      {"max_set_values", &filter::limits::max_set_values, 1, 1 << 20, false},
      {"max_values", &filter::limits::max_values, 1, 1 << 20, false},
      {"max_regexes", &filter::limits::max_regexes, 0, 1024, false},
      {"max_regex_length", &filter::limits::max_regex_length, 1, 65536, true},
      {"regex_max_mem", &filter::limits::regex_max_mem, 64 << 10, 1 << 30, true},
      {"max_regex_program_size", &filter::limits::max_regex_program_size, 1, 1 << 20, false},
      {"max_cidr_ranges", &filter::limits::max_cidr_ranges, 1, 65536, false},
      {"max_compiled", &filter::limits::max_compiled, 1, 10000000, false},
  }};
  r.for_each_entry(
      node, key, [&](const std::string& name, const YAML::Node& v, const std::string& setting_key) {
        for (const auto& s : settings) {
          if (name != s.name)
            continue;
          out.*s.field =
              static_cast<std::size_t>(s.bytes ? r.byte_size(v, setting_key, s.min, s.max)
                                               : r.integer(v, setting_key, s.min, s.max));
          return true;
        }
        return false;
      });
}

}  // namespace eventstreams::config_detail

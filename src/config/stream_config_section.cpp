// The `stream_config` section: the URI of an EventStreamConfig document, its refresh period and
// what is kept of it (docs/api.md, "Streams from EventStreamConfig").
#include "stream_config_section.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "streams_section.hpp"

namespace eventstreams::config_detail {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i])
      return false;
  }
  return true;
}

bool has_control_or_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

void read_uri(const yaml_reader& r, const YAML::Node& node, const std::string& key,
              std::string& uri) {
  uri = r.scalar(node, key);
  if (uri.empty())
    return;
  const bool http = starts_with_ci(uri, "http://") || starts_with_ci(uri, "https://");
  if (http) {
    // Spaces and line breaks are not part of a URL; a pasted one with them is a mistake.
    if (has_control_or_space(uri))
      r.fail(key, "a URL must not contain spaces or control characters");
    if (uri.find("://") + 3 >= uri.size() || uri[uri.find("://") + 3] == '/')
      r.fail(key, "the URL has no host (got \"" + uri + "\")");
    return;
  }
  if (uri.find("://") != std::string::npos) {
    r.fail(key, "unsupported scheme: use an http:// or https:// URL, or a file path (got \"" + uri +
                    "\")");
  }
}

void read_object_path(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                      std::string& path) {
  path = r.scalar(node, key);
  if (path.empty())
    return;  // the document itself is the stream map
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    if ((dot == std::string::npos ? path.size() : dot) == start)
      r.fail(key, "empty segment in dotted path \"" + path + "\" (e.g. streams or a.b)");
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
}

std::vector<std::string> read_names(const yaml_reader& r, const YAML::Node& node,
                                    const std::string& key) {
  std::vector<std::string> names;
  r.for_each_item(node, key, [&](const YAML::Node& item, const std::string& item_key) {
    std::string name = r.scalar(item, item_key);
    if (!is_name(name))
      r.fail(item_key, "invalid stream name: use only letters, digits, '.', '_' and '-'");
    if (std::find(names.begin(), names.end(), name) != names.end())
      r.fail(item_key, "duplicate name \"" + name + "\"");
    names.push_back(std::move(name));
  });
  return names;
}

std::vector<std::string> read_prefixes(const yaml_reader& r, const YAML::Node& node,
                                       const std::string& key) {
  std::vector<std::string> prefixes;
  r.for_each_item(node, key, [&](const YAML::Node& item, const std::string& item_key) {
    std::string prefix = r.scalar(item, item_key);
    if (!prefix.empty() && !is_name(prefix))
      r.fail(item_key, "invalid topic prefix: use only letters, digits, '.', '_' and '-'");
    prefixes.push_back(std::move(prefix));
  });
  if (prefixes.empty())
    r.fail(key, "must list at least one prefix");
  return prefixes;
}

void read_defaults(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                   fetched_stream_defaults& d) {
  r.for_each_entry(
      node, key, [&](const std::string& name, const YAML::Node& v, const std::string& item_key) {
        if (name == "topic_prefixes") {
          d.topic_prefixes = read_prefixes(r, v, item_key);
        } else if (name == "description") {
          d.description = r.scalar(v, item_key);
        } else if (name == "schema_title") {
          d.schema_title = r.scalar(v, item_key);
        } else if (name == "canary_events_enabled") {
          d.canary_events_enabled = r.one_of(v, item_key, {"true", "false"}) == "true";
        } else if (name == "canary_events") {
          d.canary_events = r.one_of(v, item_key, {"drop", "pass"}) == "pass" ? canary_policy::pass
                                                                              : canary_policy::drop;
        } else if (name == "fanout") {
          d.fanout = read_delivery_mode(r, v, item_key);
        } else {
          return false;
        }
        return true;
      });
}

}  // namespace

void read_stream_source(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                        stream_source_config& s) {
  r.for_each_entry(node, key,
                   [&](const std::string& name, const YAML::Node& v, const std::string& item_key) {
                     if (name == "uri") {
                       read_uri(r, v, item_key, s.uri);
                     } else if (name == "object_path") {
                       read_object_path(r, v, item_key, s.object_path);
                     } else if (name == "ttl") {
                       s.ttl = r.duration(v, item_key, true);
                     } else if (name == "timeout") {
                       s.timeout = r.duration(v, item_key, false);
                     } else if (name == "allowed_streams") {
                       s.allowed_streams = read_names(r, v, item_key);
                     } else if (name == "defaults") {
                       read_defaults(r, v, item_key, s.defaults);
                     } else if (name == "ca_file") {
                       s.ca_file = r.scalar(v, item_key);
                     } else if (name == "max_bytes") {
                       s.max_bytes = r.byte_size(v, item_key, 1024, std::uint64_t{1} << 30);
                     } else {
                       return false;
                     }
                     return true;
                   });
}

}  // namespace eventstreams::config_detail

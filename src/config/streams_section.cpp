// The `streams` section: stream names, aliases, topics, canary policy and delivery mode
// (API.md §2, docs/api.md "Delivery modes").
#include "streams_section.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace eventstreams::config_detail {

namespace {

std::vector<std::string> read_topics(const yaml_reader& r, const YAML::Node& node,
                                     const std::string& key) {
  std::vector<std::string> topics;
  r.for_each_item(node, key, [&](const YAML::Node& item, const std::string& item_key) {
    std::string topic = r.scalar(item, item_key);
    if (!is_topic_name(topic)) {
      r.fail(item_key, "invalid Kafka topic name \"" + topic +
                           "\": use 1 to 249 letters, digits, '.', '_' or '-' (not . or ..)");
    }
    if (std::find(topics.begin(), topics.end(), topic) != topics.end()) {
      r.fail(item_key, "duplicate topic \"" + topic + "\"");
    }
    topics.push_back(std::move(topic));
  });
  if (topics.empty()) {
    r.fail(key, "must list at least one topic");
  }
  return topics;
}

// `names` holds every stream name and alias seen so far: one namespace for URL lookups.
std::vector<std::string> read_aliases(const yaml_reader& r, const YAML::Node& node,
                                      const std::string& key, std::set<std::string>& names) {
  std::vector<std::string> aliases;
  r.for_each_item(node, key, [&](const YAML::Node& item, const std::string& item_key) {
    std::string alias = r.scalar(item, item_key);
    if (!is_name(alias)) {
      r.fail(item_key, "invalid alias: use only letters, digits, '.', '_' and '-'");
    }
    if (!names.insert(alias).second) {
      r.fail(item_key, "alias \"" + alias + "\" is already used as a stream name or alias");
    }
    aliases.push_back(std::move(alias));
  });
  return aliases;
}

stream_entry read_stream(const yaml_reader& r, const std::string& name, const YAML::Node& node,
                         const std::string& stream_key, std::set<std::string>& names) {
  if (!is_name(name)) {
    r.fail(stream_key, "invalid stream name: use only letters, digits, '.', '_' and '-'");
  }
  if (!names.insert(name).second) {
    r.fail(stream_key, "name \"" + name + "\" is already used as a stream name or alias");
  }
  stream_entry entry;
  stream_config& stream = entry.stream;
  stream.name = name;
  bool has_topics = false;
  r.for_each_entry(node, stream_key,
                   [&](const std::string& field, const YAML::Node& v, const std::string& key) {
                     if (field == "topics") {
                       has_topics = true;
                       stream.topics = read_topics(r, v, key);
                     } else if (field == "description") {
                       stream.description = r.scalar(v, key);
                     } else if (field == "schema_title") {
                       stream.schema_title = r.scalar(v, key);
                     } else if (field == "canary_events") {
                       const bool pass = r.one_of(v, key, {"drop", "pass"}) == "pass";
                       stream.canary_events = pass ? canary_policy::pass : canary_policy::drop;
                     } else if (field == "aliases") {
                       stream.aliases = read_aliases(r, v, key, names);
                     } else if (field == "fanout") {
                       entry.fanout = read_delivery_mode(r, v, key);
                     } else {
                       return false;
                     }
                     return true;
                   });
  if (!has_topics) {
    r.fail(child_key(stream_key, "topics"), "missing required key");
  }
  return entry;
}

}  // namespace

bool is_name(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_topic_name(std::string_view s) {
  return s.size() <= 249 && is_name(s) && s != "." && s != "..";
}

delivery_mode read_delivery_mode(const yaml_reader& r, const YAML::Node& node,
                                 const std::string& key) {
  return r.one_of(node, key, {"per_connection", "shared"}) == "shared"
             ? delivery_mode::shared
             : delivery_mode::per_connection;
}

std::vector<stream_entry> read_streams(const yaml_reader& r, const YAML::Node& node,
                                       const std::string& key) {
  std::vector<stream_entry> streams;
  std::set<std::string> names;
  r.for_each_entry(
      node, key, [&](const std::string& name, const YAML::Node& v, const std::string& stream_key) {
        streams.push_back(read_stream(r, name, v, stream_key, names));
        return true;
      });
  return streams;
}

std::vector<stream_config> resolve_streams(std::vector<stream_entry> entries,
                                           delivery_mode default_mode) {
  std::vector<stream_config> streams;
  streams.reserve(entries.size());
  for (auto& entry : entries) {
    entry.stream.fanout = entry.fanout.value_or(default_mode);
    streams.push_back(std::move(entry.stream));
  }
  return streams;
}

}  // namespace eventstreams::config_detail

// EventStreamConfig document -> streams, and the merge with the inline streams (docs/api.md,
// "Streams from EventStreamConfig"). Everything that cannot be served is skipped with a reason
// rather than failing the whole document: one bad entry among hundreds must not stop a refresh.
#include "eventstreams/stream_config_map.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "streams_section.hpp"

namespace eventstreams {

namespace {

using config_detail::is_name;
using config_detail::is_topic_name;
using nlohmann::json;

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// A list of strings, or nullopt (with `why`) when the value is anything else.
std::optional<std::vector<std::string>> string_list(const json& v, std::string& why) {
  if (!v.is_array()) {
    why = "is not a list";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : v) {
    if (!item.is_string()) {
      why = "is not a list of strings";
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The stream map at `path` (dotted; "" = the document itself), or nullptr.
const json* at_path(const json& doc, const std::string& path) {
  const json* node = &doc;
  std::size_t start = 0;
  while (!path.empty()) {
    const std::size_t dot = path.find('.', start);
    const std::string segment = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object())
      return nullptr;
    const auto it = node->find(segment);
    if (it == node->end())
      return nullptr;
    node = &*it;
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return node;
}

// Maps one entry; nullopt with `skip` set when it cannot be served.
std::optional<stream_config> map_one(const std::string& name, const json& value,
                                     const stream_source_config& settings,
                                     delivery_mode default_mode, skipped_stream& skip) {
  skip = {name, "", false};
  const fetched_stream_defaults& d = settings.defaults;
  if (!value.is_object()) {
    skip.reason = "its settings are not a JSON object";
    return std::nullopt;
  }
  stream_config s;
  s.name = name;
  std::string why;
  if (const auto it = value.find("stream_aliases"); it != value.end() && !it->is_null()) {
    auto aliases = string_list(*it, why);
    if (!aliases) {
      skip.reason = "stream_aliases " + why;
      return std::nullopt;
    }
    s.aliases = std::move(*aliases);
  }
  if (!settings.allowed_streams.empty()) {
    bool allowed = contains(settings.allowed_streams, name);
    for (const auto& alias : s.aliases)
      allowed = allowed || contains(settings.allowed_streams, alias);
    if (!allowed) {
      skip = {name, "not in stream_config.allowed_streams", true};
      return std::nullopt;
    }
  }
  if (!is_name(name)) {
    skip.reason = "the name cannot be used in a URL (use letters, digits, '.', '_' and '-')";
    return std::nullopt;
  }
  // `topics`, else each prefix + the name, as EventStreamConfig derives them.
  if (const auto it = value.find("topics"); it != value.end() && !it->is_null()) {
    auto topics = string_list(*it, why);
    if (!topics) {
      skip.reason = "topics " + why;
      return std::nullopt;
    }
    s.topics = std::move(*topics);
  } else {
    std::optional<std::vector<std::string>> prefixes = d.topic_prefixes;
    if (const auto p = value.find("topic_prefixes"); p != value.end() && !p->is_null()) {
      prefixes = string_list(*p, why);
      if (!prefixes) {
        skip.reason = "topic_prefixes " + why;
        return std::nullopt;
      }
    }
    for (const auto& prefix : prefixes.value_or(std::vector<std::string>{}))
      s.topics.push_back(prefix + name);
  }
  if (s.topics.empty()) {
    skip.reason = "no topics (neither topics nor topic_prefixes)";
    return std::nullopt;
  }
  std::vector<std::string> unique;
  for (auto& topic : s.topics) {
    if (!is_topic_name(topic)) {
      skip.reason = "invalid Kafka topic name \"" + topic + "\"";
      return std::nullopt;
    }
    if (!contains(unique, topic))
      unique.push_back(std::move(topic));
  }
  s.topics = std::move(unique);
  const auto text = [&](const char* field, const std::optional<std::string>& fallback) {
    const auto it = value.find(field);
    if (it != value.end() && it->is_string())
      return it->get<std::string>();
    return fallback.value_or("");
  };
  s.description = text("description", d.description);
  s.schema_title = text("schema_title", d.schema_title);
  std::optional<bool> canaries = d.canary_events_enabled;
  if (const auto it = value.find("canary_events_enabled"); it != value.end() && it->is_boolean())
    canaries = it->get<bool>();
  // Absent means enabled (EventStreamConfig's default): canaries exist and are dropped. A stream
  // without canaries has nothing to drop, so nothing that looks like one is hidden.
  s.canary_events =
      d.canary_events.value_or(canaries.value_or(true) ? canary_policy::drop : canary_policy::pass);
  s.fanout = d.fanout.value_or(default_mode);
  return s;
}

// Removes from `s` the aliases already in `taken` (recording why), then adds its name and
// remaining aliases to `taken`.
void claim_names(stream_config& s, std::set<std::string>& taken,
                 std::vector<skipped_stream>& skipped, const char* by_whom) {
  std::vector<std::string> kept;
  for (auto& alias : s.aliases) {
    if (!is_name(alias)) {
      skipped.push_back(
          {s.name + " (alias " + alias + ")",
           "the alias cannot be used in a URL (use letters, digits, '.', '_' and '-')", false});
    } else if (alias == s.name || contains(kept, alias)) {
      // A repeated alias, or the stream's own name: nothing to serve twice.
    } else if (!taken.insert(alias).second) {
      skipped.push_back({s.name + " (alias " + alias + ")",
                         std::string("the alias is already the name or alias of ") + by_whom,
                         false});
    } else {
      kept.push_back(std::move(alias));
    }
  }
  s.aliases = std::move(kept);
}

}  // namespace

fetched_streams map_stream_config(std::string_view document, const stream_source_config& settings,
                                  delivery_mode default_mode) {
  fetched_streams out;
  json doc = json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    out.error = "invalid JSON";
    return out;
  }
  const json* map = at_path(doc, settings.object_path);
  if (map == nullptr || !map->is_object()) {
    out.error = settings.object_path.empty()
                    ? "the document is not a JSON object"
                    : "no JSON object at object_path \"" + settings.object_path + "\"";
    return out;
  }
  // nlohmann's object keeps its keys sorted: the streams come out in name order.
  std::vector<stream_config> mapped;
  for (const auto& [name, value] : map->items()) {
    if (!name.empty() && name.front() == '/') {
      out.skipped.push_back({name, "a pattern name (regular expression), not a stream", true});
      continue;
    }
    skipped_stream skip;
    if (auto s = map_one(name, value, settings, default_mode, skip))
      mapped.push_back(std::move(*s));
    else
      out.skipped.push_back(std::move(skip));
  }
  // Names first, then aliases: a name always wins over another stream's alias.
  std::set<std::string> taken;
  for (const auto& s : mapped)
    taken.insert(s.name);
  for (auto& s : mapped)
    claim_names(s, taken, out.skipped, "another fetched stream");
  out.streams = std::move(mapped);
  if (out.streams.empty()) {
    out.error = "no stream left (" + std::to_string(map->size()) + " in the document, " +
                std::to_string(out.skipped.size()) + " skipped)";
  }
  return out;
}

merged_streams merge_streams(const std::vector<stream_config>& inline_streams,
                             const std::vector<stream_config>& fetched) {
  merged_streams out;
  out.streams = inline_streams;
  std::set<std::string> taken;
  for (const auto& s : inline_streams) {
    taken.insert(s.name);
    taken.insert(s.aliases.begin(), s.aliases.end());
  }
  std::vector<stream_config> kept;
  for (const auto& s : fetched) {
    if (taken.contains(s.name)) {
      out.skipped.push_back({s.name, "replaced by the inline stream of that name or alias", true});
    } else {
      kept.push_back(s);
      taken.insert(s.name);
    }
  }
  for (auto& s : kept) {
    // Fetched names were all claimed above; only the aliases are checked here.
    std::vector<std::string> aliases;
    for (auto& alias : s.aliases) {
      if (taken.contains(alias)) {
        out.skipped.push_back({s.name + " (alias " + alias + ")",
                               "the alias is already the name or alias of an inline stream",
                               false});
      } else {
        aliases.push_back(alias);
      }
    }
    s.aliases = std::move(aliases);
    out.streams.push_back(std::move(s));
  }
  return out;
}

}  // namespace eventstreams

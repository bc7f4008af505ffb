// Last-Event-ID parsing (API.md §5.3).
#include "eventstreams/resume.hpp"

#include <cstddef>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace eventstreams {
namespace {

using json = nlohmann::json;

bool is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// How a rejected value looked, for the error detail: its kind, never its text, so that the
// detail cannot echo client input.
const char* kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::number_float:
      return "a non-integer number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer out of range";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    default:
      return "an unsupported value";
  }
}

// The value as an int64 if it is a JSON integer that fits. nlohmann stores non-negative
// integers as unsigned, so values in (INT64_MAX, UINT64_MAX] arrive here and must be refused
// rather than wrapped; anything larger, and every fraction or exponent, is number_float.
std::optional<std::int64_t> as_int64(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) {
    return v.get<std::int64_t>();
  }
  return std::nullopt;
}

last_event_id_error entry_error(std::size_t index, const std::string& what) {
  return {"entry " + std::to_string(index) + ": " + what};
}

// Reads the optional integer member `name` of `obj` into `out`, requiring [min, max]. Returns
// an error detail, or an empty string when the member is absent or valid.
std::string read_int_member(const json& obj, const char* name, std::int64_t min, std::int64_t max,
                            std::optional<std::int64_t>& out) {
  const auto it = obj.find(name);
  if (it == obj.end()) {
    return {};
  }
  const auto v = as_int64(*it);
  if (v && *v >= min && *v <= max) {
    out = *v;
    return {};
  }
  const std::string expected =
      max == std::numeric_limits<std::int64_t>::max()
          ? "an integer >= " + std::to_string(min)
          : "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  // In range of int64 but outside [min, max]: say so plainly rather than "out of range".
  const char* got = v ? "an integer outside that range" : kind_of(*it);
  return std::string("\"") + name + "\" must be " + expected + ", got " + got;
}

std::variant<last_event_entry, last_event_id_error> parse_entry(const json& item,
                                                                std::size_t index) {
  last_event_entry entry;
  if (item.is_string()) {
    // The original service's bare topic name: the whole topic, default start rules.
    entry.topic = item.get<std::string>();
    if (entry.topic.empty()) {
      return entry_error(index, "topic is empty");
    }
    return entry;
  }
  if (!item.is_object()) {
    return entry_error(index, std::string("must be a string or an object, got ") + kind_of(item));
  }
  const auto topic = item.find("topic");
  if (topic == item.end()) {
    return entry_error(index, "\"topic\" is missing");
  }
  if (!topic->is_string()) {
    return entry_error(index, std::string("\"topic\" must be a string, got ") + kind_of(*topic));
  }
  entry.topic = topic->get<std::string>();
  if (entry.topic.empty()) {
    return entry_error(index, "\"topic\" is empty");
  }

  std::optional<std::int64_t> partition;
  if (auto err = read_int_member(item, "partition", 0, std::numeric_limits<std::int32_t>::max(),
                                 partition);
      !err.empty()) {
    return entry_error(index, err);
  }
  if (partition) {
    entry.partition = static_cast<std::int32_t>(*partition);
  }
  if (auto err = read_int_member(item, "offset", -2, std::numeric_limits<std::int64_t>::max(),
                                 entry.offset);
      !err.empty()) {
    return entry_error(index, err);
  }
  if (auto err = read_int_member(item, "timestamp", 0, std::numeric_limits<std::int64_t>::max(),
                                 entry.timestamp);
      !err.empty()) {
    return entry_error(index, err);
  }
  return entry;
}

}  // namespace

std::variant<std::vector<last_event_entry>, last_event_id_error> parse_last_event_id(
    std::string_view header) {
  if (header.size() > max_last_event_id_bytes) {
    return last_event_id_error{"longer than " + std::to_string(max_last_event_id_bytes) + " bytes"};
  }
  bool blank = true;
  for (char c : header) {
    if (!is_json_space(c)) {
      blank = false;
      break;
    }
  }
  if (blank) {
    return std::vector<last_event_entry>{};
  }
  // Exceptions off: a bad header is an expected failure on the request path, not an exception.
  const json doc = json::parse(header.begin(), header.end(), nullptr, false);
  if (doc.is_discarded()) {
    return last_event_id_error{"not valid JSON"};
  }
  if (!doc.is_array()) {
    return last_event_id_error{std::string("must be a JSON array, got ") + kind_of(doc)};
  }
  std::vector<last_event_entry> entries;
  entries.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    auto parsed = parse_entry(doc[i], i);
    if (auto* err = std::get_if<last_event_id_error>(&parsed)) {
      return std::move(*err);
    }
    entries.push_back(std::move(std::get<last_event_entry>(parsed)));
  }
  return entries;
}

}  // namespace eventstreams

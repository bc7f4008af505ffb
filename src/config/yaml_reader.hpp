// Typed, validating access to yaml-cpp nodes for the config loader (internal to src/config/).
// Header-only; config.cpp and streams_section.cpp include it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "eventstreams/config.hpp"
#include "eventstreams/utf8.hpp"

namespace eventstreams::config_detail {

using std::chrono::milliseconds;

// Durations are capped so that every one of them fits in an `int` of milliseconds, which is
// what librdkafka timeouts and the timer arithmetic downstream take.
inline constexpr std::int64_t max_duration_ms = 7LL * 24 * 3600 * 1000;  // 168h
inline constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();

struct duration_result {
  std::optional<milliseconds> value;
  std::string reason;  // why `value` is empty
};

inline duration_result parse_duration_detailed(std::string_view text) {
  if (text == "0") {
    return {milliseconds{0}, {}};
  }
  if (!text.empty() && text.front() == '-') {
    return {std::nullopt, "must not be negative"};
  }
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  const std::string_view unit = text.substr(digits);
  if (digits == 0) {
    return {std::nullopt, "expected an integer followed by ms, s, m or h (e.g. 15s)"};
  }
  if (unit.empty()) {
    // 15 could mean seconds or milliseconds; a wrong guess is a 1000x error, so refuse.
    return {std::nullopt, "a bare number is ambiguous; add a unit: ms, s, m or h (e.g. 15s)"};
  }
  std::int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 3600 * 1000;
  } else if (unit.front() == '.') {
    return {std::nullopt, "must be a whole number with a unit (e.g. 1500ms, not 1.5s)"};
  } else {
    return {std::nullopt, "unknown unit \"" + std::string(unit) + "\"; use ms, s, m or h"};
  }
  std::int64_t count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
  if (ec != std::errc{} || end != text.data() + digits ||
      count > std::numeric_limits<std::int64_t>::max() / factor) {
    return {std::nullopt, "is out of range"};
  }
  return {milliseconds{count * factor}, {}};
}

struct byte_size_result {
  std::optional<std::uint64_t> value;
  std::string reason;  // why `value` is empty
};

// A number of bytes: "1048576", or a whole number with a binary unit, "64KiB", "32MiB", "1GiB"
// (powers of 1024). Decimal units (KB, MB) and fractions are refused rather than guessed.
inline byte_size_result parse_byte_size_detailed(std::string_view text) {
  if (!text.empty() && text.front() == '-') {
    return {std::nullopt, "must not be negative"};
  }
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0) {
    return {std::nullopt,
            "expected a number of bytes, optionally with KiB, MiB or GiB (e.g. 32MiB)"};
  }
  const std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  if (unit.empty()) {
    factor = 1;
  } else if (unit == "KiB") {
    factor = std::uint64_t{1} << 10;
  } else if (unit == "MiB") {
    factor = std::uint64_t{1} << 20;
  } else if (unit == "GiB") {
    factor = std::uint64_t{1} << 30;
  } else if (unit.front() == '.') {
    return {std::nullopt, "must be a whole number (e.g. 1536KiB, not 1.5MiB)"};
  } else {
    return {std::nullopt, "unknown unit \"" + std::string(unit) + "\"; use KiB, MiB or GiB"};
  }
  std::uint64_t count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
  if (ec != std::errc{} || end != text.data() + digits ||
      count > std::numeric_limits<std::uint64_t>::max() / factor) {
    return {std::nullopt, "is out of range"};
  }
  return {count * factor, {}};
}

// A byte count as the configuration file writes it: "64KiB" when it is a whole number of a
// binary unit, else the bytes.
inline std::string format_byte_size(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, const char*> units[] = {
      {std::uint64_t{1} << 30, "GiB"},
      {std::uint64_t{1} << 20, "MiB"},
      {std::uint64_t{1} << 10, "KiB"}};
  for (const auto& [factor, unit] : units) {
    if (bytes != 0 && bytes % factor == 0) {
      return std::to_string(bytes / factor) + unit;
    }
  }
  return std::to_string(bytes);
}

inline std::string child_key(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

inline const char* type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "no value (null)";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// Typed access to YAML nodes. Every accessor either returns a checked value or throws a
// config_error naming `key`, so the section readers stay declarative.
class yaml_reader {
 public:
  explicit yaml_reader(const std::string& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& key, const std::string& reason) const {
    throw config_error(file_, key, reason);
  }

  // Calls `visit(name, value, key)` for each entry; `visit` returns false for an unknown name.
  // A null node (an empty section such as "server:") has no entries.
  void for_each_entry(const YAML::Node& node, const std::string& key,
                      const std::function<bool(const std::string&, const YAML::Node&,
                                               const std::string&)>& visit) const {
    if (node.IsNull()) {
      return;
    }
    if (!node.IsMap()) {
      fail(key, std::string("expected a map, got ") + type_name(node));
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        fail(key, "map keys must be strings");
      }
      const std::string name = entry.first.Scalar();
      if (!is_valid_utf8(name)) {
        fail(key, "a key is not valid UTF-8");
      }
      const std::string entry_key = child_key(key, name);
      // yaml-cpp keeps repeated keys; a silent "last one wins" would hide operator mistakes.
      if (!seen.insert(name).second) {
        fail(entry_key, "duplicate key");
      }
      if (!visit(name, entry.second, entry_key)) {
        fail(entry_key, "unknown key");
      }
    }
  }

  // Calls `visit(item, key)` for each item, with key "parent[i]". Null is an empty list.
  void for_each_item(
      const YAML::Node& node, const std::string& key,
      const std::function<void(const YAML::Node&, const std::string&)>& visit) const {
    if (node.IsNull()) {
      return;
    }
    if (!node.IsSequence()) {
      fail(key, std::string("expected a list, got ") + type_name(node));
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      visit(node[i], key + "[" + std::to_string(i) + "]");
    }
  }

  // A scalar's text. Null is refused: "key:" with the value forgotten must not mean default.
  // Text that is not UTF-8 is refused too: values end up in JSON answers (/v2/streams,
  // /?spec), which must be valid UTF-8.
  std::string scalar(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) {
      fail(key, std::string("expected a scalar value, got ") + type_name(node));
    }
    if (!is_valid_utf8(node.Scalar())) {
      fail(key, "is not valid UTF-8");
    }
    return node.Scalar();
  }

  std::uint64_t integer(const YAML::Node& node, const std::string& key, std::uint64_t min,
                        std::uint64_t max) const {
    const std::string text = scalar(node, key);
    std::uint64_t value = 0;
    const char* first = text.data();
    const char* last = first + text.size();
    const bool digits_only =
        !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only) {
      // Tell a number of the wrong kind (-1, 1.5) from something that is no number at all.
      double as_double = 0;
      const auto parsed = std::from_chars(first, last, as_double);
      if (parsed.ec != std::errc{} || parsed.ptr != last) {
        fail(key, "expected an integer (got \"" + text + "\")");
      }
      fail(key,
           (text.front() == '-' ? "must not be negative (got " : "must be a whole number (got ") +
               text + ")");
    }
    if (std::from_chars(first, last, value).ec != std::errc{}) {
      fail(key, "is out of range (got " + text + ")");
    }
    check_range(key, value, min, max, text);
    return value;
  }

  double number(const YAML::Node& node, const std::string& key, double min, double max) const {
    const std::string text = scalar(node, key);
    double value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    // from_chars also takes "inf" and "nan", which are no rates.
    if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(value)) {
      fail(key, "expected a number (got \"" + text + "\")");
    }
    if (value < min || value > max) {
      std::ostringstream range;
      range << "must be between " << min << " and " << max << " (got " << text << ")";
      fail(key, range.str());
    }
    return value;
  }

  milliseconds duration(const YAML::Node& node, const std::string& key, bool allow_zero) const {
    const std::string text = scalar(node, key);
    const duration_result parsed = parse_duration_detailed(text);
    if (!parsed.value) {
      fail(key, "invalid duration \"" + text + "\": " + parsed.reason);
    }
    if (!allow_zero && parsed.value->count() == 0) {
      fail(key, "must be greater than 0");
    }
    if (parsed.value->count() > max_duration_ms) {
      fail(key, "must be at most 168h (got " + text + ")");
    }
    return *parsed.value;
  }

  // A byte size (parse_byte_size_detailed) between `min` and `max` bytes.
  std::uint64_t byte_size(const YAML::Node& node, const std::string& key, std::uint64_t min,
                          std::uint64_t max) const {
    const std::string text = scalar(node, key);
    const byte_size_result parsed = parse_byte_size_detailed(text);
    if (!parsed.value) {
      fail(key, "invalid size \"" + text + "\": " + parsed.reason);
    }
    if (*parsed.value < min) {
      fail(key, "must be at least " + format_byte_size(min) + " (got " + text + ")");
    }
    if (*parsed.value > max) {
      fail(key, "must be at most " + format_byte_size(max) + " (got " + text + ")");
    }
    return *parsed.value;
  }

  std::string one_of(const YAML::Node& node, const std::string& key,
                     std::initializer_list<std::string_view> choices) const {
    const std::string text = scalar(node, key);
    std::string list;
    for (const std::string_view choice : choices) {
      if (text == choice) {
        return text;
      }
      list += (list.empty() ? "" : ", ") + std::string(choice);
    }
    fail(key, "must be one of " + list + " (got \"" + text + "\")");
  }

 private:
  void check_range(const std::string& key, std::uint64_t value, std::uint64_t min,
                   std::uint64_t max, const std::string& text) const {
    if (value >= min && value <= max) {
      return;
    }
    if (max == no_limit) {
      fail(key, "must be at least " + std::to_string(min) + " (got " + text + ")");
    }
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                  text + ")");
  }

  const std::string& file_;  // the caller's; a reader lives only during one parse
};

}  // namespace eventstreams::config_detail

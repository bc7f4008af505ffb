// Last-Event-ID and `since` parsing, and the per-partition start rules (API.md §4, §5.3).
#include "eventstreams/resume.hpp"

#include <charconv>
#include <cstddef>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace eventstreams {
namespace {

using json = nlohmann::json;

constexpr std::int64_t ms_per_second = 1000;
constexpr std::int64_t ms_per_minute = 60 * ms_per_second;
constexpr std::int64_t ms_per_hour = 60 * ms_per_minute;
constexpr std::int64_t ms_per_day = 24 * ms_per_hour;

// ---- Last-Event-ID -------------------------------------------------------------------------

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

// ---- since ---------------------------------------------------------------------------------

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Exactly `n` ASCII digits at `pos`, as a number (std::from_chars would also take fewer).
std::optional<int> fixed_digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) {
    return std::nullopt;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) {
      return std::nullopt;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
// days_from_civil): pure arithmetic, so no dependence on the TZ or locale of the process.
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;                                    // [0, 399]
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

// Longest all-digit `since` taken as epoch ms: 16 digits stay far inside int64.
constexpr std::size_t max_epoch_digits = 16;
// Finer than nanoseconds is noise; the bound keeps the grammar finite.
constexpr std::size_t max_fraction_digits = 9;

std::optional<std::int64_t> parse_epoch_ms(std::string_view s) {
  if (s.empty() || s.size() > max_epoch_digits) {
    return std::nullopt;
  }
  for (char c : s) {
    if (!is_digit(c)) {
      return std::nullopt;
    }
  }
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// YYYY-MM-DD[(T| )HH:MM:SS[.f{1,9}][Z|±hh:mm]]; no zone is UTC (Python's naive isoformat()).
std::optional<std::int64_t> parse_iso(std::string_view s) {
  const auto year = fixed_digits(s, 0, 4);
  const auto month = fixed_digits(s, 5, 2);
  const auto day = fixed_digits(s, 8, 2);
  if (!year || !month || !day || s[4] != '-' || s[7] != '-') {
    return std::nullopt;
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) {
    return std::nullopt;
  }
  std::int64_t ms = days_from_civil(*year, *month, *day) * ms_per_day;
  if (s.size() == 10) {
    return ms >= 0 ? std::optional(ms) : std::nullopt;
  }

  const auto hour = fixed_digits(s, 11, 2);
  const auto minute = fixed_digits(s, 14, 2);
  const auto second = fixed_digits(s, 17, 2);
  const bool separator = s[10] == 'T' || s[10] == ' ';
  if (!separator || !hour || !minute || !second || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (*hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  ms += *hour * ms_per_hour + *minute * ms_per_minute + *second * ms_per_second;

  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t fraction_ms = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      // Truncate to ms: a start slightly early repeats at most a record, never skips one.
      if (pos - start < 3) {
        fraction_ms = fraction_ms * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    const std::size_t n = pos - start;
    if (n == 0 || n > max_fraction_digits) {
      return std::nullopt;
    }
    for (std::size_t i = n; i < 3; ++i) {
      fraction_ms *= 10;
    }
    ms += fraction_ms;
  }

  if (pos >= s.size()) {
    return ms;  // no zone: UTC (docs/api.md §4), never the server's local time
  }
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '+' ? 1 : -1;
    const auto off_h = fixed_digits(s, pos + 1, 2);
    const auto off_m = fixed_digits(s, pos + 4, 2);
    if (!off_h || !off_m || s[pos + 3] != ':' || *off_h > 23 || *off_m > 59) {
      return std::nullopt;
    }
    // Local time = UTC + offset, so UTC = local - offset.
    ms -= sign * (*off_h * ms_per_hour + *off_m * ms_per_minute);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size() || ms < 0) {
    return std::nullopt;
  }
  return ms;
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

std::optional<std::int64_t> parse_since(std::string_view text) {
  if (text.size() >= 10 && text[4] == '-') {
    return parse_iso(text);
  }
  return parse_epoch_ms(text);
}

start_plan plan_start(const last_event_entry* entry, std::optional<std::int64_t> since,
                      resume_policy policy, partition_bounds bounds) {
  // `value` of earliest/end carries the bound it resolves to now, for logs and callers that
  // want it; start resolution may still re-read the bounds.
  const auto earliest = [&](std::optional<std::int64_t> carried) {
    return start_plan{start_kind::earliest, bounds.low, carried};
  };
  const auto end = [&](std::optional<std::int64_t> carried) {
    return start_plan{start_kind::end, bounds.high, carried};
  };
  const auto by_time = [](std::int64_t ts, std::optional<std::int64_t> carried) {
    return start_plan{start_kind::timestamp, ts, carried};
  };

  if (entry == nullptr || (!entry->offset && !entry->timestamp)) {
    return since ? by_time(*since, std::nullopt) : end(std::nullopt);
  }
  const std::optional<std::int64_t> ts = entry->timestamp;
  if (ts && (policy == resume_policy::timestamp || !entry->offset)) {
    return by_time(*ts, ts);
  }
  const std::int64_t offset = *entry->offset;
  if (offset == -2) {
    return earliest(ts);
  }
  if (offset == -1) {
    return ts ? by_time(*ts, ts) : end(ts);
  }
  // high itself is valid: it is the next offset to be written, so resuming there is exact.
  if (offset >= bounds.low && offset <= bounds.high) {
    return start_plan{start_kind::offset, offset, ts};
  }
  if (ts) {
    return by_time(*ts, ts);
  }
  return offset < bounds.low ? earliest(ts) : end(ts);
}

}  // namespace eventstreams

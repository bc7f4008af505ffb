// `since` parsing: epoch milliseconds, ISO-8601 date-times and dates (API.md §4).
#include "eventstreams/resume.hpp"

#include <charconv>
#include <cstddef>

namespace eventstreams {
namespace {

constexpr std::int64_t ms_per_second = 1000;
constexpr std::int64_t ms_per_minute = 60 * ms_per_second;
constexpr std::int64_t ms_per_hour = 60 * ms_per_minute;
constexpr std::int64_t ms_per_day = 24 * ms_per_hour;

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
    // No zone: UTC (docs/api.md §4), never the server's local time. Before the epoch is
    // invalid, as with a zone.
    return ms >= 0 ? std::optional(ms) : std::nullopt;
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

std::optional<std::int64_t> parse_since(std::string_view text) {
  if (text.size() >= 10 && text[4] == '-') {
    return parse_iso(text);
  }
  return parse_epoch_ms(text);
}

}  // namespace eventstreams

// Tests of `since` parsing (API.md §4). Expected values were computed independently (Python's
// datetime), not with the code under test.
#include "eventstreams/resume.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using eventstreams::parse_since;

std::string two_digits(int v) {
  return std::string(v < 10 ? "0" : "") + std::to_string(v);
}

struct valid_row {
  std::string text;
  std::int64_t expected_ms;
};

TEST(Since, EpochMilliseconds) {
  const std::vector<valid_row> rows = {
      {"0", 0},
      {"1", 1},
      {"1532031066001", 1532031066001},
      {"0001532031066001", 1532031066001},     // leading zeros: still digits only
      {"9999999999999999", 9999999999999999},  // 16 digits, the longest accepted
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_since(r.text), r.expected_ms);
  }
}

TEST(Since, Dates) {
  const std::vector<valid_row> rows = {
      {"1970-01-01", 0},
      {"1972-02-29", 68169600000},
      {"2000-02-29", 951782400000},  // divisible by 400: leap
      {"2000-03-01", 951868800000},
      {"2024-02-29", 1709164800000},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_since(r.text), r.expected_ms);
  }
}

TEST(Since, DateTimes) {
  const std::vector<valid_row> rows = {
      {"2024-05-01T12:00:00Z", 1714564800000},
      {"2024-05-01T12:00:00.250+02:00", 1714557600250},
      {"2024-05-01T12:00:00+00:00", 1714564800000},
      {"2024-05-01T12:00:00-00:00", 1714564800000},
      {"2024-05-01T12:00:00-05:30", 1714584600000},
      {"2024-05-01T00:00:00+23:59", 1714435260000},
      {"2024-05-01T12:00:00.5Z", 1714564800500},
      {"2024-05-01T12:00:00.05Z", 1714564800050},
      {"2024-05-01T12:00:00.123456Z", 1714564800123},  // truncated, not rounded
      {"2024-05-01T12:00:00.999999999Z", 1714564800999},
      {"2018-07-19T20:11:06.001Z", 1532031066001},
      {"2024-12-31T23:59:59.999Z", 1735689599999},
      {"1970-01-01T00:00:00Z", 0},
      {"1970-01-01T00:00:00.001Z", 1},
      {"1970-01-01T01:00:00+01:00", 0},
      {"9999-12-31T23:59:59.999Z", 253402300799999},
      // No zone is UTC (Python's naive isoformat()); a space may stand for the 'T'.
      {"2024-05-01T12:00:00", 1714564800000},
      {"2024-05-01T12:00:00.250", 1714564800250},
      {"2024-05-01 12:00:00", 1714564800000},
      {"2024-05-01 12:00:00Z", 1714564800000},
      {"2024-05-01 14:00:00+02:00", 1714564800000},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_since(r.text), r.expected_ms);
  }
}

TEST(Since, InvalidForms) {
  const std::vector<std::string> rows = {
      "",
      "abc",
      " 5",
      "5 ",
      "-5",
      "+5",
      "1e3",
      "1.5",
      "0x10",
      "12345678901234567",  // 17 digits
      "2024-13-01",
      "2024-00-01",
      "2024-01-00",
      "2024-01-32",
      "2024-04-31",
      "2024-02-30",
      "2023-02-29",
      "1900-02-29",  // divisible by 100, not by 400
      "2100-02-29",
      "1969-12-31",
      "0000-01-01",
      "2024-5-1",
      "2024-05-1",
      "24-05-01",
      "2024/05/01",
      "2024-05-01T",
      "2024-05-01Z",
      "2024-05-01t12:00:00Z",
      "2024-05-01T12:00:00z",
      "2024-05-01T12:00Z",  // no seconds
      "2024-05-01T12:00",
      "2024-05-01  12:00:00",
      "2024-05-01_12:00:00",
      "2024-05-01T12:00:00 ",
      "2024-05-01T25:00:00Z",
      "2024-05-01T24:00:00Z",
      "2024-05-01T12:60:00Z",
      "2024-05-01T12:00:60Z",  // no leap seconds
      "2024-05-01T1:00:00Z",
      "2024-05-01T12:00:00.Z",
      "2024-05-01T12:00:00.1234567890Z",  // more than 9 fraction digits
      "2024-05-01T12:00:00,5Z",
      "2024-05-01T12:00:00+2:00",
      "2024-05-01T12:00:00+02",
      "2024-05-01T12:00:00+0200",
      "2024-05-01T12:00:00+24:00",
      "2024-05-01T12:00:00+02:60",
      "2024-05-01T12:00:00Z ",
      "2024-05-01T12:00:00ZZ",
      "2024-05-01T12:00:00+02:00Z",
      "2024-05-01T12:00:00+02:00:00",
      "1970-01-01T00:30:00+01:00",  // before the epoch once the offset is applied
      "1969-12-31T23:59:59",        // before the epoch, no zone (UTC)
      "1969-12-31 23:59:59.999",
      "\xef\xbc\x91",  // a full-width digit one
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r);
    EXPECT_EQ(parse_since(r), std::nullopt);
  }
  // An embedded NUL ends nothing: the whole view is parsed.
  EXPECT_EQ(parse_since(std::string_view("5\0", 2)), std::nullopt);
  EXPECT_EQ(parse_since(std::string_view("2024-05-01\0", 11)), std::nullopt);
}

TEST(Since, EveryDayOfALeapYearIsConsecutive) {
  // Walks 2024 day by day through the date form; each must be exactly one day after the last.
  constexpr int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  std::int64_t previous = 1704067200000 - 86400000;  // 2023-12-31
  for (int m = 1; m <= 12; ++m) {
    for (int d = 1; d <= days_in[m - 1]; ++d) {
      const std::string text = "2024-" + two_digits(m) + "-" + two_digits(d);
      SCOPED_TRACE(text);
      const auto v = parse_since(text);
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(*v - previous, 86400000);
      previous = *v;
    }
  }
  EXPECT_EQ(previous, 1735603200000);  // 2024-12-31
}

}  // namespace

// Fuzzes parse_since (the `since` query parameter: epoch ms, ISO-8601 date-time or date):
// results are >= 0, digit strings agree with strtoll, and every accepted value survives a
// round trip through an independently formatted ISO-8601 UTC string.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "eventstreams/resume.hpp"

namespace {

using eventstreams::parse_since;

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "invariant violated: %s (input \"%.*s\")\n", what,
               static_cast<int>(input.size()), input.data());
  std::abort();
}

constexpr std::int64_t ms_per_day = 86400000;

// H. Hinnant's civil_from_days: days since 1970-01-01 -> proleptic Gregorian y-m-d.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

bool all_digits(std::string_view s) {
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return !s.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<std::int64_t> ms = parse_since(text);

  if (all_digits(text) && text.size() <= 16) {
    const std::string copy(text);
    if (!ms || *ms != std::strtoll(copy.c_str(), nullptr, 10)) {
      fail("epoch ms differs from strtoll", text);
    }
  }
  if (!ms) {
    return 0;
  }
  if (*ms < 0) {
    fail("negative result", text);
  }
  if (text.size() == 10 && text[4] == '-' && *ms % ms_per_day != 0) {
    fail("a date is not midnight UTC", text);
  }

  // Round trip: format as YYYY-MM-DDTHH:MM:SS.mmmZ and parse again.
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(*ms / ms_per_day, year, month, day);
  if (year > 9999) {
    return 0;  // not expressible with a four-digit year
  }
  const std::int64_t in_day = *ms % ms_per_day;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(year), month, day, static_cast<long long>(in_day / 3600000),
                static_cast<long long>(in_day / 60000 % 60),
                static_cast<long long>(in_day / 1000 % 60), static_cast<long long>(in_day % 1000));
  const auto again = parse_since(buf);
  if (!again || *again != *ms) {
    std::fprintf(stderr, "round trip through %s gave %lld, expected %lld\n", buf,
                 again ? static_cast<long long>(*again) : -1LL, static_cast<long long>(*ms));
    fail("ISO-8601 round trip", text);
  }
  return 0;
}

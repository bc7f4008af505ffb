// Tests of the per-partition positions and their SSE id text (API.md §5.2).
#include "eventstreams/position_vector.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using eventstreams::partition_position;
using eventstreams::position_vector;

position_vector two_topics() {
  return position_vector({
      {"eqiad.mediawiki.recentchange", 0, 1042, 1532031066001},
      {"codfw.mediawiki.recentchange", 0, 88913, std::nullopt},
  });
}

TEST(PositionVector, EmptyRendersEmptyArray) {
  position_vector v;
  EXPECT_EQ(v.size(), 0u);
  EXPECT_EQ(v.id(), "[]");
  EXPECT_EQ(v.index_of("a", 0), -1);
  position_vector from_empty(std::vector<partition_position>{});
  EXPECT_EQ(from_empty.id(), "[]");
}

TEST(PositionVector, IdTextIsExact) {
  position_vector v = two_topics();
  EXPECT_EQ(v.id(), R"([{"topic":"eqiad.mediawiki.recentchange","partition":0,"offset":1042,)"
                    R"("timestamp":1532031066001},)"
                    R"({"topic":"codfw.mediawiki.recentchange","partition":0,"offset":88913}])");
  position_vector one({{"a", 7, 12, std::nullopt}});
  EXPECT_EQ(one.id(), R"([{"topic":"a","partition":7,"offset":12}])");
}

TEST(PositionVector, AdvanceChangesOnlyThatEntry) {
  position_vector v({{"a", 0, 10, 5}, {"a", 1, 20, std::nullopt}, {"b", 0, 30, 6}});
  const std::string before = v.id();
  v.advance(1, 20, 1700000000123);
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":0,"offset":10,"timestamp":5},)"
                    R"({"topic":"a","partition":1,"offset":21,"timestamp":1700000000123},)"
                    R"({"topic":"b","partition":0,"offset":30,"timestamp":6}])");
  EXPECT_NE(v.id(), before);
  EXPECT_EQ(v.at(1).next_offset, 21);
  EXPECT_EQ(v.at(1).timestamp, 1700000000123);
  EXPECT_EQ(v.at(0).next_offset, 10);
  EXPECT_EQ(v.at(2).next_offset, 30);

  // Offsets may jump (compacted topics, transaction markers): next is always offset + 1.
  v.advance(0, 99, 7);
  v.advance(0, 150, 8);
  EXPECT_EQ(v.at(0).next_offset, 151);
  EXPECT_EQ(v.at(0).timestamp, 8);
  EXPECT_EQ(nlohmann::json::parse(v.id())[0]["offset"], 151);
}

TEST(PositionVector, IdIsStableUntilChanged) {
  position_vector v = two_topics();
  const std::string& first = v.id();
  const std::string copy = first;
  EXPECT_EQ(v.id(), copy);
  EXPECT_EQ(&v.id(), &first);
  v.advance(0, 1042, 1532031066002);
  EXPECT_NE(v.id(), copy);
}

TEST(PositionVector, IdPatchedInPlaceIsTheIdRenderedWhole) {
  // id() patches the entries that changed into the array while their length stays; an offset
  // gaining a digit, a timestamp appearing or going, several entries changing between two calls:
  // always the text a vector built from the same positions renders.
  std::mt19937 rng(7);
  for (int run = 0; run < 50; ++run) {
    std::vector<partition_position> start;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i)
      start.push_back({i % 2 ? "a" : "bb", i, static_cast<std::int64_t>(rng() % 12),
                       rng() % 2 ? std::optional<std::int64_t>(rng() % 1000) : std::nullopt});
    position_vector v(start);
    for (int step = 0; step < 200; ++step) {
      const auto i = rng() % v.size();
      const auto at = v.at(i).next_offset;
      switch (rng() % 4) {
        case 0:
        case 1:
          v.advance(i, at + static_cast<std::int64_t>(rng() % 3),
                    rng() % 4 ? static_cast<std::int64_t>(rng() % 100000) : -1);
          break;
        case 2:
          v.jump(i, at + static_cast<std::int64_t>(rng() % 20));
          break;
        default:
          v.move_to(i, at + static_cast<std::int64_t>(rng() % 5),
                    rng() % 2 ? std::optional<std::int64_t>(rng() % 100) : std::nullopt);
      }
      if (rng() % 3 == 0)
        continue;  // several changes before the next id()
      ASSERT_EQ(v.id(), position_vector(v.positions()).id()) << "run " << run << " step " << step;
    }
  }
}

TEST(PositionVector, IndexOfHitsAndMisses) {
  position_vector v({{"a", 2, 0, std::nullopt},
                     {"b", 0, 0, std::nullopt},
                     {"a", 0, 0, std::nullopt},
                     {"c.d", 5, 0, std::nullopt}});
  EXPECT_EQ(v.index_of("a", 2), 0);
  EXPECT_EQ(v.index_of("b", 0), 1);
  EXPECT_EQ(v.index_of("a", 0), 2);
  EXPECT_EQ(v.index_of("c.d", 5), 3);
  EXPECT_EQ(v.index_of("a", 1), -1);   // gap in the partition table
  EXPECT_EQ(v.index_of("a", 3), -1);   // past it
  EXPECT_EQ(v.index_of("a", -1), -1);  // negative
  EXPECT_EQ(v.index_of("c.d", 0), -1);
  EXPECT_EQ(v.index_of("b", std::numeric_limits<std::int32_t>::max()), -1);
  EXPECT_EQ(v.index_of("", 0), -1);
  EXPECT_EQ(v.index_of("A", 2), -1);
  EXPECT_EQ(v.index_of("c", 5), -1);
  // A view into a larger buffer (not NUL-terminated) works: the lookup is heterogeneous.
  const char buffer[] = "c.dXYZ";
  EXPECT_EQ(v.index_of(std::string_view(buffer, 3), 5), 3);
}

TEST(PositionVector, DuplicateEntryResolvesToFirst) {
  position_vector v({{"a", 0, 1, std::nullopt}, {"a", 0, 2, std::nullopt}});
  EXPECT_EQ(v.index_of("a", 0), 0);
  EXPECT_EQ(v.size(), 2u);
}

TEST(PositionVector, TimestampAbsentVersusPresent) {
  position_vector v({{"a", 0, 5, std::nullopt}});
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":0,"offset":5}])");
  // A record without a timestamp moves the offset and leaves no timestamp.
  v.advance(0, 5, -1);
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":0,"offset":6}])");
  EXPECT_FALSE(v.at(0).timestamp.has_value());
  v.advance(0, 6, 0);
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":0,"offset":7,"timestamp":0}])");
  // ... and later keeps the last known one.
  v.advance(0, 7, -1);
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":0,"offset":8,"timestamp":0}])");
}

TEST(PositionVector, LargeNumbers) {
  constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
  position_vector v({{"a", 1000, 0, std::nullopt}});
  v.advance(0, i64max - 1, i64max - 1);
  EXPECT_EQ(v.at(0).next_offset, i64max);
  EXPECT_EQ(v.id(), R"([{"topic":"a","partition":1000,"offset":9223372036854775807,)"
                    R"("timestamp":9223372036854775806}])");
  // No overflow at the very end of the range.
  v.advance(0, i64max, 1);
  EXPECT_EQ(v.at(0).next_offset, i64max);
}

TEST(PositionVector, TopicIsEscaped) {
  position_vector v({{"we\"ird\\", 0, 1, std::nullopt}});
  EXPECT_EQ(v.id(), R"([{"topic":"we\"ird\\","partition":0,"offset":1}])");
  EXPECT_EQ(nlohmann::json::parse(v.id())[0]["topic"], "we\"ird\\");
}

TEST(PositionVector, IdParsesBackToThePositions) {
  std::vector<partition_position> positions;
  for (int p = 0; p < 12; ++p) {
    positions.push_back({p % 2 == 0 ? "eqiad.x" : "codfw.x", p / 2, 100 * p,
                         p % 3 == 0 ? std::optional<std::int64_t>(1000 + p) : std::nullopt});
  }
  position_vector v(positions);
  for (int round = 0; round < 50; ++round) {
    const auto i = static_cast<std::size_t>((round * 7) % 12);
    v.advance(i, v.at(i).next_offset + round, round % 4 == 0 ? -1 : 5000 + round);
  }
  const auto parsed = nlohmann::json::parse(v.id());
  ASSERT_EQ(parsed.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i) {
    const partition_position& p = v.at(i);
    EXPECT_EQ(parsed[i]["topic"], p.topic);
    EXPECT_EQ(parsed[i]["partition"], p.partition);
    EXPECT_EQ(parsed[i]["offset"], p.next_offset);
    EXPECT_EQ(parsed[i].contains("timestamp"), p.timestamp.has_value());
    if (p.timestamp) {
      EXPECT_EQ(parsed[i]["timestamp"], *p.timestamp);
    }
    EXPECT_EQ(v.index_of(p.topic, p.partition), static_cast<std::ptrdiff_t>(i));
  }
}

TEST(PositionVector, BoundsAreChecked) {
  position_vector v = two_topics();
  EXPECT_THROW(v.advance(2, 0, 0), std::out_of_range);
  EXPECT_THROW(static_cast<void>(v.at(2)), std::out_of_range);
  EXPECT_THROW(position_vector({{"a", -1, 0, std::nullopt}}), std::invalid_argument);
  EXPECT_THROW(position_vector({{"a", std::numeric_limits<std::int32_t>::max(), 0, std::nullopt}}),
               std::invalid_argument);
}

}  // namespace

// The drain's waves and retries (docs/api.md §5.5).
#include "eventstreams/drain_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace eventstreams {
namespace {

using std::chrono::milliseconds;

TEST(DrainPlan, ManyStreamsSpreadEvenlyOverTwentyWavesEndingAtTheLastWaveShare) {
  const auto p = plan_drain(200, milliseconds(3000), 7);
  ASSERT_EQ(p.waves.size(), drain_plan::max_waves);
  EXPECT_EQ(p.waves.front(), milliseconds(0));
  EXPECT_EQ(p.waves.back(), milliseconds(2550));
  EXPECT_TRUE(std::is_sorted(p.waves.begin(), p.waves.end()));
  EXPECT_EQ(p.cutoff, milliseconds(2700));
  std::vector<int> per_wave(p.waves.size());
  ASSERT_EQ(p.wave_of.size(), 200u);
  for (auto w : p.wave_of)
    ++per_wave.at(w);
  for (int n : per_wave)
    EXPECT_EQ(n, 10);
}

TEST(DrainPlan, EveryRetryLiesBetweenATenthOfTheWindowAndTheWindow) {
  const auto p = plan_drain(1000, milliseconds(2000), 11);
  ASSERT_EQ(p.retry.size(), 1000u);
  std::set<std::int64_t> distinct;
  for (auto r : p.retry) {
    EXPECT_GE(r, milliseconds(200));
    EXPECT_LE(r, milliseconds(2000));
    distinct.insert(r.count());
  }
  EXPECT_GT(distinct.size(), 500u);  // random, not one value
  // A window under 10 ms still gives retries of at least 1 ms.
  for (auto r : plan_drain(50, milliseconds(5), 3).retry) {
    EXPECT_GE(r, milliseconds(1));
    EXPECT_LE(r, milliseconds(5));
  }
}

TEST(DrainPlan, FewStreamsEndTogetherAtOnce) {
  for (std::size_t n : {0u, 1u, 9u, 10u}) {
    const auto p = plan_drain(n, milliseconds(10000), 1);
    ASSERT_EQ(p.waves.size(), 1u) << n;
    EXPECT_EQ(p.waves[0], milliseconds(0));
    EXPECT_EQ(p.wave_of, std::vector<std::size_t>(n, 0));
  }
  // 25 streams: three waves, the first and the last never empty.
  const auto p = plan_drain(25, milliseconds(10000), 5);
  ASSERT_EQ(p.waves.size(), 3u);
  EXPECT_EQ(p.waves[1], milliseconds(4250));
  EXPECT_EQ(std::count(p.wave_of.begin(), p.wave_of.end(), 0u), 9);
  EXPECT_EQ(std::count(p.wave_of.begin(), p.wave_of.end(), 2u), 8);
}

TEST(DrainPlan, AShortWindowHasFewerWavesAtLeastTheMinimumGapApart) {
  const auto p = plan_drain(1000, milliseconds(500), 9);
  // 425 ms of waves, 100 ms apart at least: 5 waves.
  ASSERT_EQ(p.waves.size(), 5u);
  for (std::size_t k = 1; k < p.waves.size(); ++k)
    EXPECT_GE(p.waves[k] - p.waves[k - 1], drain_plan::min_wave_gap);
}

TEST(DrainPlan, WhichStreamEndsInWhichWaveDependsOnTheSeed) {
  EXPECT_NE(plan_drain(200, milliseconds(3000), 1).wave_of,
            plan_drain(200, milliseconds(3000), 2).wave_of);
  EXPECT_EQ(plan_drain(200, milliseconds(3000), 1).wave_of,
            plan_drain(200, milliseconds(3000), 1).wave_of);
}

}  // namespace
}  // namespace eventstreams

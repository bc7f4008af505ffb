// Waves and reconnection delays of the drain (docs/api.md §5.5).
#include "eventstreams/drain_plan.hpp"

#include <algorithm>
#include <numeric>
#include <random>

namespace eventstreams {

drain_plan plan_drain(std::size_t streams, std::chrono::milliseconds window, std::uint64_t seed) {
  using std::chrono::milliseconds;
  drain_plan plan;
  const auto span = milliseconds(
      static_cast<std::int64_t>(static_cast<double>(window.count()) * drain_plan::last_wave_share));
  plan.cutoff = milliseconds(
      static_cast<std::int64_t>(static_cast<double>(window.count()) * drain_plan::cutoff_share));
  std::size_t waves =
      (streams + drain_plan::min_streams_per_wave - 1) / drain_plan::min_streams_per_wave;
  waves = std::min(waves, drain_plan::max_waves);
  waves = std::min(waves, static_cast<std::size_t>(span / drain_plan::min_wave_gap) + 1);
  waves = std::max<std::size_t>(waves, 1);
  for (std::size_t k = 0; k < waves; ++k) {
    plan.waves.push_back(waves == 1 ? milliseconds(0)
                                    : span * static_cast<std::int64_t>(k) /
                                          static_cast<std::int64_t>(waves - 1));
  }
  // Position i of a shuffled order goes to wave i * waves / streams: the waves differ by one
  // stream at most, the first and the last are never empty, and which stream ends when is random.
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> order(streams);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  plan.wave_of.resize(streams);
  for (std::size_t i = 0; i < streams; ++i)
    plan.wave_of[order[i]] = i * waves / streams;
  const std::int64_t high = std::max<std::int64_t>(1, window.count());
  const std::int64_t low = std::clamp<std::int64_t>(window.count() / 10, 1, high);
  std::uniform_int_distribution<std::int64_t> delay(low, high);
  plan.retry.reserve(streams);
  for (std::size_t i = 0; i < streams; ++i)
    plan.retry.emplace_back(delay(rng));
  return plan;
}

}  // namespace eventstreams

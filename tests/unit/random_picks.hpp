// The random choices of the property tests' generators: one seeded engine, uniform picks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace eventstreams::test {

class random_picks {
 public:
  explicit random_picks(std::uint32_t seed) : rng_(seed) {}

  // Uniform in [0, n); n > 0.
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  // True `percent` times in 100.
  bool coin(int percent) { return static_cast<int>(pick(100)) < percent; }
  template <typename T>
  const T& one_of(const std::vector<T>& v) {
    return v[pick(v.size())];
  }

 private:
  std::mt19937 rng_;
};

}  // namespace eventstreams::test

// Timing shared by the micro-benchmarks (encode_bench, filter_bench): nanoseconds per iteration
// of a body, and a sink that keeps the optimiser from dropping the work measured.
#pragma once

#include <chrono>
#include <cstddef>

namespace eventstreams::bench {

using clock_type = std::chrono::steady_clock;

inline volatile std::size_t sink = 0;

// Runs body(i) for i in [0, iterations) and returns the mean wall time of one call, in ns.
template <class Body>
double ns_per_iteration(long iterations, Body&& body) {
  const auto start = clock_type::now();
  for (long i = 0; i < iterations; ++i)
    body(i);
  const std::chrono::duration<double, std::nano> elapsed = clock_type::now() - start;
  return elapsed.count() / static_cast<double>(iterations);
}

}  // namespace eventstreams::bench

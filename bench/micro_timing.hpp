// Timing shared by the micro-benchmarks (encode_bench, filter_bench, json_fields_bench):
// nanoseconds per iteration of a body, a sink that keeps the optimiser from dropping the work
// measured, and the iteration count from the command line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

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

// The iterations asked on the command line (the first argument), else `fallback`; 0 after
// printing the usage when the argument is not a positive number.
inline long iterations_arg(int argc, char** argv, long fallback, const char* tool) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : fallback;
  if (iterations > 0)
    return iterations;
  std::fprintf(stderr, "usage: %s [iterations > 0]\n", tool);
  return 0;
}

}  // namespace eventstreams::bench

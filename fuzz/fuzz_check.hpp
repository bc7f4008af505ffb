// Invariant checks shared by the fuzz targets: a violated invariant aborts, so libFuzzer
// reports it as a crash with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace eventstreams::fuzz {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

inline void check(bool ok, const char* what) {
  if (!ok) {
    fail(what);
  }
}

}  // namespace eventstreams::fuzz

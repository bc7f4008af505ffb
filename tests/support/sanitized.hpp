// Whether this build runs under a sanitizer. ASan's quarantine and shadow memory, and TSan's,
// inflate the daemon's RSS and latency, so tests skip their resource *bounds* there (the
// correctness checks of the same tests still run; the default build enforces the bounds).
#pragma once

namespace eventstreams::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

}  // namespace eventstreams::test

// The guard at the edge of a stream's handlers: an exception becomes a call, never an unwound
// I/O thread (docs/api.md §6: a 500 before the 200, a closed stream with a logged reason after).
#pragma once

#include <exception>

namespace eventstreams {

// Runs `f`; if it throws, calls `on_error(what)` instead.
template <class F, class E>
void run_guarded(F&& f, E&& on_error) {
  try {
    f();
  } catch (const std::exception& e) {
    on_error(e.what());
  }
}

}  // namespace eventstreams

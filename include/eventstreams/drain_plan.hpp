// The drain after a stop signal (docs/api.md §5.5): when each open stream ends, and the `retry:`
// delay each SSE client is told to wait before it reconnects. Sans-io: numbers in, numbers out.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace eventstreams {

struct drain_plan {
  // When each wave ends its streams, from the signal on: ascending, the first at 0, the last at
  // most last_wave_share of the window. One wave when there are few streams.
  std::vector<std::chrono::milliseconds> waves;
  // Per stream (in the order the caller listed them): the index of its wave in `waves`.
  std::vector<std::size_t> wave_of;
  // Per stream: its reconnection delay, uniform in [window / 10, window], at least 1 ms.
  std::vector<std::chrono::milliseconds> retry;
  // Streams still open then (a client that stopped reading with its end in the socket buffer)
  // are closed without waiting, so that the orderly stop has the rest of the window.
  std::chrono::milliseconds cutoff{0};

  // The last wave ends at this share of the window; the cutoff comes at cutoff_share; the rest
  // is for the orderly stop (Kafka consumers closed, the cluster connections ended).
  static constexpr double last_wave_share = 0.85;
  static constexpr double cutoff_share = 0.9;
  // There is a wave for every this many streams, rounded up (up to 10 streams end together:
  // there is no storm to spread),
  static constexpr std::size_t min_streams_per_wave = 10;
  // there are at most this many waves,
  static constexpr std::size_t max_waves = 20;
  // and waves are at least this far apart.
  static constexpr std::chrono::milliseconds min_wave_gap{100};
};

// Plans the drain of `streams` open streams over `window` (server.shutdown_timeout): the
// streams, in an order shuffled with `seed`, are spread evenly over the waves; each gets a
// random retry drawn with `seed` too.
drain_plan plan_drain(std::size_t streams, std::chrono::milliseconds window, std::uint64_t seed);

}  // namespace eventstreams

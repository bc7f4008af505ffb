// The streams fetched from stream_config.uri (docs/api.md, "Streams from EventStreamConfig"):
// fetches and maps the document, keeps the last good result, logs changes of state once, and
// counts every fetch.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/stream_config_map.hpp"
#include "metrics/metrics.hpp"

namespace eventstreams {

// Not thread-safe: the server calls it under its reload mutex, main() before any thread.
class stream_refresher {
 public:
  // `m` may be null (--check-config counts nothing); `log` false keeps it silent (the caller
  // reports the attempt itself).
  stream_refresher(const config& cfg, eventstreams::metrics* m, bool log = true);

  struct attempt {
    bool ok = false;
    std::string result;  // the metric's label: ok, unreachable, ..., invalid
    std::string error;   // when not ok
    std::string cause;   // when not ok: `error` without what varies between attempts
    std::vector<skipped_stream> skipped;  // of the fetched document, when ok
  };
  // Fetches and maps the document (blocking, up to stream_config.timeout). On success the
  // fetched streams are replaced; on failure the previous ones stay. `abort` ends a fetch early.
  attempt refresh(const std::atomic<bool>* abort = nullptr);

  // The streams of the last successful fetch (none before one).
  const std::vector<stream_config>& fetched() const noexcept { return fetched_; }
  bool has_fetched() const noexcept { return has_fetched_; }
  const std::string& uri() const noexcept { return source_.uri; }

 private:
  void log_outcome(const attempt& a);

  stream_source_config source_;
  delivery_mode default_mode_;
  eventstreams::metrics* metrics_;
  bool log_;
  std::vector<stream_config> fetched_;
  bool has_fetched_ = false;
  bool failing_ = false;
  std::string last_cause_;  // of the logged failure, to log each change of state once
  std::vector<skipped_stream> last_skipped_;  // logged skips, likewise
};

}  // namespace eventstreams

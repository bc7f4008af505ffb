// Fetch, map, keep the last good map; log each change of state once (a source that stays down
// for a day must not write a line every ttl).
#include "app/stream_refresher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "fetch/document_fetcher.hpp"

namespace eventstreams {

stream_refresher::stream_refresher(const config& cfg, eventstreams::metrics* m, bool log)
    : source_(cfg.stream_source), default_mode_(cfg.fanout.mode), metrics_(m), log_(log) {}

stream_refresher::attempt stream_refresher::refresh(const std::atomic<bool>* abort) {
  attempt a;
  fetch::fetch_options options;
  options.timeout = source_.timeout;
  options.ca_file = source_.ca_file;
  options.max_bytes = source_.max_bytes;
  options.abort = abort;
  fetch::fetch_result fetched = fetch::fetch_document(source_.uri, options);
  if (fetched.result == fetch::outcome::aborted) {
    a.result = "aborted";
    a.error = "fetch aborted (shutting down)";
    return a;  // neither counted nor logged: nobody waits for it
  }
  if (!fetched.ok()) {
    a.result = fetch::outcome_name(fetched.result);
    a.error = std::move(fetched.error);
    a.cause = a.result + " " + fetched.cause;
  } else {
    fetched_streams mapped = map_stream_config(fetched.body, source_, default_mode_);
    if (!mapped.ok()) {
      a.result = "invalid";
      a.error = std::move(mapped.error);
      a.cause = "invalid " + a.error;  // the mapping's reasons do not vary between attempts
    } else {
      a.ok = true;
      a.result = "ok";
      a.skipped = std::move(mapped.skipped);
      fetched_ = std::move(mapped.streams);
      has_fetched_ = true;
      if (metrics_ != nullptr) {
        metrics_->set_stream_config_fetched_at(
            std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count());
      }
    }
  }
  if (metrics_ != nullptr)
    metrics_->stream_config_fetches(a.result).Increment();
  if (log_)
    log_outcome(a);
  return a;
}

void stream_refresher::log_outcome(const attempt& a) {
  if (!a.ok) {
    if (!failing_ || a.cause != last_cause_) {
      spdlog::warn("stream config: fetching {} failed ({}: {}); keeping the streams in use{}",
                   source_.uri, a.result, a.error,
                   has_fetched_ ? "" : " (the inline ones only: no fetch succeeded yet)");
    }
    failing_ = true;
    last_cause_ = a.cause;
    return;
  }
  if (failing_)
    spdlog::info("stream config: fetching {} works again", source_.uri);
  failing_ = false;
  last_cause_.clear();
  if (a.skipped != last_skipped_) {
    for (const auto& s : a.skipped) {
      if (s.expected)
        spdlog::debug("stream config: skipped {}: {}", s.name, s.reason);
      else
        spdlog::warn("stream config: skipped {}: {}", s.name, s.reason);
    }
    last_skipped_ = a.skipped;
  }
}

}  // namespace eventstreams

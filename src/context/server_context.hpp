// What every connection shares: configuration, stream catalog, Kafka access, metrics and the
// registry of live streams. Below http/ and sse/, which both include it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "context/catchup_slots.hpp"
#include "context/lookup_flights.hpp"
#include "context/session_registry.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/filter.hpp"
#include "eventstreams/stream_catalog.hpp"
#include "fanout/hub.hpp"
#include "kafka/kafka_client.hpp"
#include "metrics/metrics.hpp"
#include "net/net.hpp"

namespace eventstreams {

// The stream catalog in use, replaced by reloads and stream config refreshes while requests
// read it. A mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12 releases the lock of a
// load() with a relaxed store, so a load is not ordered before the next store(); ThreadSanitizer
// reports it as a race once stores are frequent (a refresh every stream_config.ttl).
class catalog_slot {
 public:
  std::shared_ptr<const stream_catalog> load() const {
    std::lock_guard lock(mutex_);
    return catalog_;
  }
  // The previous catalog is released by the caller's argument, outside the lock.
  void store(std::shared_ptr<const stream_catalog> next) {
    std::lock_guard lock(mutex_);
    catalog_.swap(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const stream_catalog> catalog_;
};

struct server_context {
  config cfg;             // immutable after start-up (streams: see `catalog`)
  std::string bootstrap;  // resolved bootstrap.servers (the embedded one in demo mode)
  catalog_slot catalog;   // swapped on reload and stream config refresh
  kafka::kafka_client* kafka = nullptr;
  net::thread_pool* blocking = nullptr;  // librdkafka calls that may block
  fanout::hub* hub = nullptr;            // the shared mode's consumer; null without shared streams
  session_registry registry;
  // Distinct compiled filters, shared by the streams that ask for the same canonical form; made
  // at start-up from cfg.filter (docs/api.md "Server-side filters").
  std::unique_ptr<filter::registry> filters;
  eventstreams::metrics metrics;
  // fanout.catchup.readers_max: the consumers of shared-stream requests the rings cannot serve
  // (made with the configuration; null: no limit).
  std::unique_ptr<catchup_slots> catchup;
  // Start-position lookups shared by concurrent requests that ask the same.
  lookup_flights flights;
  std::atomic<bool> shutting_down{false};
  std::atomic<std::size_t> starting{0};  // stream set-ups queued or running on `blocking`
};

}  // namespace eventstreams

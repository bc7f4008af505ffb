// What every connection shares: configuration, stream catalog, Kafka access, metrics and the
// registry of live streams. Below http/ and sse/, which both include it.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "context/session_registry.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/stream_catalog.hpp"
#include "fanout/hub.hpp"
#include "kafka/kafka_client.hpp"
#include "metrics/metrics.hpp"
#include "net/net.hpp"

namespace eventstreams {

struct server_context {
  config cfg;             // immutable after start-up (streams: see `catalog`)
  std::string bootstrap;  // resolved bootstrap.servers (the embedded one in demo mode)
  std::atomic<std::shared_ptr<const stream_catalog>> catalog;  // swapped on reload
  kafka::kafka_client* kafka = nullptr;
  net::thread_pool* blocking = nullptr;  // librdkafka calls that may block
  fanout::hub* hub = nullptr;            // the shared mode's consumer; null without shared streams
  session_registry registry;
  eventstreams::metrics metrics;
  std::atomic<bool> shutting_down{false};
  std::atomic<std::size_t> starting{0};  // stream set-ups queued or running on `blocking`
};

}  // namespace eventstreams

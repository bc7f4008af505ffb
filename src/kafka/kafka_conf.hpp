// Building librdkafka configurations from the `kafka` config section, and log routing.
#pragma once

#include <map>
#include <string>

#include "eventstreams/config.hpp"
#include "rdkafka_handles.hpp"

namespace eventstreams::kafka {

enum class client_role { consumer, lookup, producer };

// A new conf with bootstrap.servers, the role's defaults (memory caps for per-connection
// consumers), then the operator's kafka.properties on top, and the log callback that routes
// librdkafka's logs to spdlog. `bootstrap` overrides kafka.bootstrap_servers (embedded mode).
// Throws std::runtime_error naming the property on an invalid one (a start-up error).
conf_ptr make_conf(const kafka_config& cfg, const std::string& bootstrap, client_role role);

}  // namespace eventstreams::kafka

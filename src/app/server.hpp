// The daemon's lifecycle: Kafka clients, listener, I/O threads, signals, orderly shutdown.
#pragma once

#include "eventstreams/config.hpp"

namespace eventstreams {

// Runs the daemon until SIGINT/SIGTERM and returns the process exit code. Start-up failures
// (bind, Kafka client creation) are logged and returned as 1; no stream at all once
// stream_config.uri was fetched (none inline, none fetched) as 2, like an invalid file.
int run_server(config cfg, const std::string& config_path);

}  // namespace eventstreams

// spdlog set-up from the `logging` config section.
#pragma once

#include "eventstreams/config.hpp"

namespace eventstreams {

// Installs the default logger (stderr) with the configured level and format.
void setup_logging(const logging_config& cfg);

}  // namespace eventstreams

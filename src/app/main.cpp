// Command line: eventstreams --config FILE | --check-config FILE | --version | --help
#include <cstdio>
#include <cstring>
#include <string>

#include "app/logging.hpp"
#include "app/server.hpp"
#include "eventstreams/config.hpp"

namespace {

constexpr const char* usage =
    "usage: eventstreams --config FILE       run the daemon\n"
    "       eventstreams --check-config FILE validate FILE and exit\n"
    "       eventstreams --version           print the version\n"
    "       eventstreams --help              print this help\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(usage, stdout);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("eventstreams %s\n", EVENTSTREAMS_VERSION);
    return 0;
  }
  if (argc != 3 ||
      (std::strcmp(argv[1], "--config") != 0 && std::strcmp(argv[1], "--check-config") != 0)) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string path = argv[2];
  eventstreams::config cfg;
  try {
    cfg = eventstreams::load_config_file(path);
  } catch (const eventstreams::config_error& e) {
    std::fprintf(stderr, "eventstreams: invalid configuration: %s\n", e.what());
    return 2;
  }
  if (cfg.streams.empty()) {
    std::fprintf(stderr, "eventstreams: invalid configuration: %s: streams: no stream configured\n",
                 path.c_str());
    return 2;
  }
  if (std::strcmp(argv[1], "--check-config") == 0) {
    std::printf("%s: ok (%zu streams)\n", path.c_str(), cfg.streams.size());
    return 0;
  }
  eventstreams::setup_logging(cfg.logging);
  return eventstreams::run_server(std::move(cfg), path);
}

// Command line: eventstreams --config FILE | --check-config FILE | --version | --help
#include <cstdio>
#include <cstring>
#include <string>

#include "app/logging.hpp"
#include "app/server.hpp"
#include "app/stream_refresher.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/stream_config_map.hpp"
#include "fetch/document_fetcher.hpp"

namespace {

constexpr const char* usage =
    "usage: eventstreams --config FILE       run the daemon\n"
    "       eventstreams --check-config FILE validate FILE (and fetch stream_config.uri) and exit\n"
    "       eventstreams --version           print the version\n"
    "       eventstreams --help              print this help\n";

// --check-config with stream_config.uri: fetches once and reports what start-up would serve.
// Exit 0 when the daemon would start (a failed fetch with inline streams is a warning), 2 when
// it would not.
int check_stream_config(const eventstreams::config& cfg, const std::string& path) {
  using namespace eventstreams;
  stream_refresher refresher(cfg, nullptr, /*log=*/false);
  const auto attempt = refresher.refresh();
  if (attempt.ok) {
    std::printf("%s: stream_config.uri %s: %zu streams fetched, %zu skipped\n", path.c_str(),
                cfg.stream_source.uri.c_str(), refresher.fetched().size(), attempt.skipped.size());
    for (const auto& s : attempt.skipped) {
      std::printf("  skipped %s: %s\n", s.name.c_str(), s.reason.c_str());
    }
  } else {
    std::fprintf(stderr, "eventstreams: warning: %s: stream_config.uri %s: fetch failed (%s: %s)\n",
                 path.c_str(), cfg.stream_source.uri.c_str(), attempt.result.c_str(),
                 attempt.error.c_str());
  }
  const merged_streams merged = merge_streams(cfg.streams, refresher.fetched());
  for (const auto& s : merged.skipped) {
    std::printf("  skipped %s: %s\n", s.name.c_str(), s.reason.c_str());
  }
  if (merged.streams.empty()) {
    std::fprintf(stderr,
                 "eventstreams: invalid configuration: %s: streams: no stream configured (none "
                 "inline, none fetched)\n",
                 path.c_str());
    return 2;
  }
  std::printf("%s: ok (%zu streams: %zu inline, %zu fetched)\n", path.c_str(),
              merged.streams.size(), cfg.streams.size(),
              merged.streams.size() - cfg.streams.size());
  return 0;
}

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
  // Before any thread starts: curl_global_init is not thread-safe. Cleaned up on every return
  // (the server has joined its threads by then), so that leak checkers see libcurl's state
  // released.
  eventstreams::fetch::global_init();
  struct curl_cleanup {
    ~curl_cleanup() { eventstreams::fetch::global_cleanup(); }
  } cleanup;
  const bool check = std::strcmp(argv[1], "--check-config") == 0;
  if (check && cfg.stream_source.enabled()) {
    return check_stream_config(cfg, path);
  }
  // With stream_config.uri the streams may all come from the fetch: the server decides once it
  // fetched (and exits 2 if there is none).
  if (cfg.streams.empty() && !cfg.stream_source.enabled()) {
    std::fprintf(stderr, "eventstreams: invalid configuration: %s: streams: no stream configured\n",
                 path.c_str());
    return 2;
  }
  if (check) {
    std::printf("%s: ok (%zu streams)\n", path.c_str(), cfg.streams.size());
    return 0;
  }
  eventstreams::setup_logging(cfg.logging);
  return eventstreams::run_server(std::move(cfg), path);
}

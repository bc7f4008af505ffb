// A stream request as the HTTP layer validated it, and who sent it: fixed at the hand-off, kept
// by the opener and then by the session that serves it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/filter.hpp"
#include "eventstreams/resume.hpp"
#include "eventstreams/stream_catalog.hpp"
#include "eventstreams/stream_format.hpp"

namespace eventstreams {

struct stream_request {
  std::string client;     // peer address:port, for logs
  std::string client_ip;  // key of the per-client limit: the peer or server.client_ip_header
  std::string method;     // for the problem JSON of errors
  std::string target;
  std::string origin;  // for the CORS headers
  unsigned http_version = 11;
  framing body = framing::sse;            // NDJSON for `Accept: application/json` (docs/api.md §4)
  bool chunked = true;                    // HTTP/1.1; HTTP/1.0 bodies end with the connection
  stream_selection selection;             // validated against the catalog
  std::vector<last_event_entry> entries;  // Last-Event-ID, validated against the selection
  std::optional<std::int64_t> since;
  std::shared_ptr<const filter::compiled> filter;      // ?filter=, null without one
  delivery_mode mode = delivery_mode::per_connection;  // how it is served (docs/api.md §11)
  // A shared stream's request served by its own consumer (docs/api.md §11): its slot of
  // fanout.catchup.readers_max, held as long as the request (then the session) lives.
  std::shared_ptr<void> catchup_slot;
  std::chrono::steady_clock::time_point opened;  // when the HTTP layer handed it over

  // The requested stream names, comma-separated (logs, metric labels).
  std::string stream_list() const {
    std::string out;
    for (const auto& s : selection.stream_names)
      out += (out.empty() ? "" : ",") + s;
    return out;
  }
};

}  // namespace eventstreams

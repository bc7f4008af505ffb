// Error kinds and their problem-JSON bodies (API.md §6): the one place statuses are chosen.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace eventstreams {

enum class error_kind {
  unknown_stream,         // 400 not_found
  invalid_timestamp,      // 400
  invalid_last_event_id,  // 400
  invalid_filter,         // 400 (docs/api.md "Server-side filters")
  filter_too_complex,     // 400, a filter limit
  bad_request,            // 400 (malformed request target, ...)
  route_not_found,        // 404 not_found
  topic_not_allowed,      // 404
  method_not_allowed,     // 405
  too_many_requests,      // 429
  header_too_large,       // 431
  internal,               // 500
  unavailable,            // 503
  kafka_unavailable,      // 503
};

struct problem {
  unsigned status;
  std::string_view type;
  std::string_view title;
};

// Status, type and title of an error kind.
problem problem_for(error_kind kind);

// The JSON body: {"status":…,"type":…,"title":…,"detail":…,"method":…,"uri":…}. Every string is
// JSON-escaped; `detail` must never carry internals (it is shown to clients).
// `extensions` (an object, may be empty) adds RFC 9457 extension members after those.
std::string problem_json(error_kind kind, std::string_view detail, std::string_view method,
                         std::string_view uri, const nlohmann::ordered_json& extensions = {});

}  // namespace eventstreams

// Request-target routing: method + target -> route, with 404/405 told apart (API.md §3).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventstreams {

enum class route_id {
  root,          // / (303 to /v2/ui; /?spec is the OpenAPI document)
  stream,        // /v2/stream/{streams}
  streams_list,  // /v2/streams
  filter_check,  // /v2/filter (docs/api.md "Server-side filters")
  ui,            // /v2/ui
  info,          // /_info
  info_name,     // /_info/name
  info_version,  // /_info/version
  healthz,
  readyz,
  metrics,
  robots,
  preflight,  // OPTIONS on any path (CORS)
  not_found,
};

struct route_match {
  route_id id = route_id::not_found;
  bool method_allowed = false;  // false with a known id -> 405 with `allow`
  std::string allow;            // e.g. "GET, HEAD"
  std::string streams;          // stream route: the URL-decoded {streams} segment
  std::string query;            // raw query string, without '?'
  bool bad_encoding = false;    // the path had an invalid %-escape (-> 400)
};

// A short name for metrics labels ("stream", "streams", "healthz", …, "not_found").
std::string_view route_name(route_id id);

// Pure function: no allocation beyond the result. `method` is the request method text.
route_match match_route(std::string_view method, std::string_view target);

// Decodes %XX escapes (and nothing else: '+' stays '+', as in paths). nullopt on a bad escape
// or a decoded NUL byte.
std::optional<std::string> url_decode(std::string_view text);

// The URL-decoded value of query parameter `name` (here '+' means space), or nullopt if absent
// or badly encoded. The first occurrence wins.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// Every value of query parameter `name`, URL-decoded ('+' is a space), in request order: the
// repeatable `filter` (docs/api.md "Server-side filters"). `bad` is the 1-based position of the
// first value that is badly encoded (or decodes a NUL byte), 0 when none is.
struct query_values {
  std::vector<std::string> values;
  std::size_t bad = 0;
};
query_values query_params(std::string_view query, std::string_view name);

// The name of the first query parameter that starts with "filter" but is not "filter"
// ("filters", "filter[wiki]", "filter_wiki"): a typo that must get a 400 rather than the whole
// stream. nullopt when there is none.
std::optional<std::string> misspelled_filter_param(std::string_view query);

}  // namespace eventstreams

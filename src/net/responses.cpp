// Ordinary responses and CORS.
#include "net/responses.hpp"

#include <algorithm>

namespace eventstreams {
namespace {
std::vector<std::string> allowed_origins{"*"};
std::string retry_after_seconds = "5";
}  // namespace

void set_cors_allowed_origins(std::vector<std::string> origins) {
  allowed_origins = std::move(origins);
}

void set_retry_after(std::chrono::milliseconds after) {
  retry_after_seconds = std::to_string(std::max<std::int64_t>(1, after.count() / 1000));
}

std::string_view cors_origin_for(std::string_view request_origin) {
  if (std::find(allowed_origins.begin(), allowed_origins.end(), "*") != allowed_origins.end()) {
    return "*";
  }
  auto it = std::find(allowed_origins.begin(), allowed_origins.end(), request_origin);
  return it == allowed_origins.end() || request_origin.empty() ? std::string_view{}
                                                               : std::string_view(*it);
}

template <class Fields>
void add_common_headers(http::header<false, Fields>& h, std::string_view request_origin) {
  h.set(http::field::server, "eventstreams/" EVENTSTREAMS_VERSION);
  // The original service's security headers, on every response (docs/api.md §3). /v2/ui
  // replaces the policy with its own, which lets the page run its inline script and styles.
  h.set("X-Content-Type-Options", "nosniff");
  h.set("X-Frame-Options", "SAMEORIGIN");
  h.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  auto origin = cors_origin_for(request_origin);
  if (!origin.empty()) {
    h.set(http::field::access_control_allow_origin, origin);
    // Scripts may read these from fetch() responses (EventSource needs none).
    h.set(http::field::access_control_expose_headers, "Retry-After, Content-Type");
  }
  // With an origin list the answer depends on the request's Origin: caches must know.
  if (origin != "*")
    h.set(http::field::vary, "Origin");
}
template void add_common_headers(http::header<false, http::fields>&, std::string_view);

response make_response(const request& req, http::status status, std::string_view content_type,
                       std::string body) {
  response res{status, req.version()};
  add_common_headers(res.base(), std::string_view(req[http::field::origin]));
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response make_problem(const request& req, error_kind kind, std::string_view detail,
                      const nlohmann::ordered_json& extensions) {
  auto p = problem_for(kind);
  auto res = make_response(req, static_cast<http::status>(p.status), "application/json",
                           problem_json(kind, detail, std::string_view(req.method_string()),
                                        std::string_view(req.target()), extensions));
  if (p.status == 503 || p.status == 429)
    res.set(http::field::retry_after, retry_after_seconds);
  return res;
}

response make_preflight(const request& req) {
  response res{http::status::no_content, req.version()};
  add_common_headers(res.base(), std::string_view(req[http::field::origin]));
  res.set(http::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
  // EventSource sends Last-Event-ID and Cache-Control; fetch() users may add Accept.
  res.set(http::field::access_control_allow_headers,
          "Last-Event-ID, Accept, Cache-Control, Content-Type");
  res.set(http::field::access_control_max_age, "86400");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

}  // namespace eventstreams

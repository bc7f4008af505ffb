// Building ordinary (non-streaming) responses: JSON, text, problem JSON, common headers.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/problem.hpp"
#include "net/net.hpp"

namespace eventstreams {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// Which origins may read responses (server.cors_allow_origin). Set once at start-up, before the
// I/O threads run; read-only afterwards.
void set_cors_allowed_origins(std::vector<std::string> origins);
// The Retry-After of 503 and 429 answers (server.retry_after). Set once at start-up, like the
// origins.
void set_retry_after(std::chrono::milliseconds after);

// The value for Access-Control-Allow-Origin given the request's Origin header, or "" for none.
std::string_view cors_origin_for(std::string_view request_origin);

// Server and CORS headers for a response to a request with Origin `request_origin`.
template <class Fields>
void add_common_headers(http::header<false, Fields>& h, std::string_view request_origin);

// A response to `req` with the common headers and keep-alive as asked.
response make_response(const request& req, http::status status, std::string_view content_type,
                       std::string body);
// Problem JSON (API.md §6) for `kind`.
response make_problem(const request& req, error_kind kind, std::string_view detail,
                      const nlohmann::ordered_json& extensions = {});
// 204 for a CORS preflight (OPTIONS).
response make_preflight(const request& req);

}  // namespace eventstreams

// Building ordinary (non-streaming) responses: JSON, text, problem JSON, common headers.
#pragma once

#include <string>
#include <string_view>

#include "eventstreams/problem.hpp"
#include "http/net.hpp"

namespace eventstreams {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// A response to `req` with the server's common headers (Server, CORS) and keep-alive as asked.
response make_response(const request& req, http::status status, std::string_view content_type,
                       std::string body);
// Problem JSON (API.md §6) for `kind`.
response make_problem(const request& req, error_kind kind, std::string_view detail);
// Adds the CORS headers every response carries.
template <class Fields>
void add_common_headers(http::header<false, Fields>& h, std::string_view cors_origin);

extern std::string cors_allow_origin;  // set once at start-up from server.cors_allow_origin

}  // namespace eventstreams

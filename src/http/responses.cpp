// Ordinary responses.
#include "http/responses.hpp"

namespace eventstreams {

std::string cors_allow_origin = "*";

template <class Fields>
void add_common_headers(http::header<false, Fields>& h, std::string_view cors_origin) {
  h.set(http::field::server, "eventstreams/" EVENTSTREAMS_VERSION);
  if (!cors_origin.empty()) {
    h.set(http::field::access_control_allow_origin, cors_origin);
  }
}
template void add_common_headers(http::header<false, http::fields>&, std::string_view);

response make_response(const request& req, http::status status, std::string_view content_type,
                       std::string body) {
  response res{status, req.version()};
  add_common_headers(res.base(), cors_allow_origin);
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response make_problem(const request& req, error_kind kind, std::string_view detail) {
  auto p = problem_for(kind);
  auto res = make_response(req, static_cast<http::status>(p.status), "application/json",
                           problem_json(kind, detail, std::string_view(req.method_string()),
                                        std::string_view(req.target())));
  if (p.status == 503 || p.status == 429)
    res.set(http::field::retry_after, "5");
  return res;
}

}  // namespace eventstreams

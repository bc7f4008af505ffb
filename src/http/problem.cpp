// Error kind -> status/type/title, and the problem-JSON body.
#include "eventstreams/problem.hpp"

#include <nlohmann/json.hpp>

namespace eventstreams {

problem problem_for(error_kind kind) {
  switch (kind) {
    case error_kind::unknown_stream:
      return {400, "not_found", "Stream not found"};
    case error_kind::invalid_timestamp:
      return {400, "invalid_timestamp", "Invalid timestamp"};
    case error_kind::invalid_last_event_id:
      return {400, "invalid_last_event_id", "Invalid Last-Event-ID"};
    case error_kind::invalid_filter:
      return {400, "invalid_filter", "Invalid filter"};
    case error_kind::filter_too_complex:
      return {400, "filter_too_complex", "Filter too complex"};
    case error_kind::bad_request:
      return {400, "bad_request", "Bad request"};
    case error_kind::route_not_found:
      return {404, "not_found", "Not found"};
    case error_kind::topic_not_allowed:
      return {404, "topic_not_allowed", "Topic not allowed"};
    case error_kind::method_not_allowed:
      return {405, "method_not_allowed", "Method not allowed"};
    case error_kind::too_many_requests:
      return {429, "too_many_requests", "Too many requests"};
    case error_kind::header_too_large:
      return {431, "request_header_fields_too_large", "Request header fields too large"};
    case error_kind::internal:
      return {500, "internal_error", "Internal error"};
    case error_kind::unavailable:
      return {503, "unavailable", "Service unavailable"};
    case error_kind::kafka_unavailable:
      return {503, "kafka_unavailable", "Kafka unavailable"};
  }
  return {500, "internal_error", "Internal error"};
}

std::string problem_json(error_kind kind, std::string_view detail, std::string_view method,
                         std::string_view uri, const nlohmann::ordered_json& extensions) {
  problem p = problem_for(kind);
  nlohmann::ordered_json j;
  j["status"] = p.status;
  j["type"] = p.type;
  j["title"] = p.title;
  j["detail"] = detail;
  j["method"] = method;
  j["uri"] = uri;
  if (extensions.is_object())
    for (const auto& [name, value] : extensions.items())
      j[name] = value;
  // replace: never fail on invalid UTF-8 echoed from a request.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace eventstreams

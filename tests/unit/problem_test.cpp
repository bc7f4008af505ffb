// Problem JSON bodies and the error-kind -> status mapping.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eventstreams/problem.hpp"

namespace eventstreams {
namespace {

TEST(Problem, StatusesAndTypesFollowTheContract) {
  struct row {
    error_kind kind;
    unsigned status;
    const char* type;
  };
  for (auto r : {row{error_kind::unknown_stream, 400, "not_found"},
                 row{error_kind::invalid_timestamp, 400, "invalid_timestamp"},
                 row{error_kind::invalid_last_event_id, 400, "invalid_last_event_id"},
                 row{error_kind::invalid_filter, 400, "invalid_filter"},
                 row{error_kind::filter_too_complex, 400, "filter_too_complex"},
                 row{error_kind::topic_not_allowed, 404, "topic_not_allowed"},
                 row{error_kind::method_not_allowed, 405, "method_not_allowed"},
                 row{error_kind::too_many_requests, 429, "too_many_requests"},
                 row{error_kind::header_too_large, 431, "request_header_fields_too_large"},
                 row{error_kind::internal, 500, "internal_error"},
                 row{error_kind::unavailable, 503, "unavailable"},
                 row{error_kind::kafka_unavailable, 503, "kafka_unavailable"}}) {
    EXPECT_EQ(problem_for(r.kind).status, r.status);
    EXPECT_EQ(problem_for(r.kind).type, r.type);
  }
}

TEST(Problem, BodyHasEveryFieldAndEscapesInput) {
  auto body = problem_json(error_kind::unknown_stream, "unknown streams: \"<x>\"\n", "GET",
                           "/v2/stream/\"<x>\"\xff");
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["status"], 400);
  EXPECT_EQ(j["type"], "not_found");
  EXPECT_EQ(j["title"], "Stream not found");
  EXPECT_EQ(j["detail"], "unknown streams: \"<x>\"\n");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["uri"].get<std::string>().substr(0, 15), "/v2/stream/\"<x>");
  EXPECT_EQ(body.find('\n'), std::string::npos);  // escaped, one line
}

}  // namespace
}  // namespace eventstreams

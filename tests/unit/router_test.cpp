// Routing table, URL decoding and query parameters.
#include <gtest/gtest.h>

#include "eventstreams/router.hpp"

namespace eventstreams {
namespace {

TEST(Router, StreamRouteDecodesTheListAndKeepsTheQuery) {
  auto m = match_route("GET", "/v2/stream/recentchange%2Cpage-create?since=2024-01-01");
  EXPECT_EQ(m.id, route_id::stream);
  EXPECT_TRUE(m.method_allowed);
  EXPECT_EQ(m.streams, "recentchange,page-create");
  EXPECT_EQ(m.query, "since=2024-01-01");
}

TEST(Router, StreamRouteAcceptsHeadOnly405Otherwise) {
  EXPECT_TRUE(match_route("HEAD", "/v2/stream/rc").method_allowed);
  auto m = match_route("POST", "/v2/stream/rc");
  EXPECT_EQ(m.id, route_id::stream);
  EXPECT_FALSE(m.method_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, OPTIONS");
}

TEST(Router, FixedRoutes) {
  EXPECT_EQ(match_route("GET", "/v2/streams").id, route_id::streams_list);
  EXPECT_EQ(match_route("GET", "/v2/filter?filter=wiki%3Denwiki").id, route_id::filter_check);
  EXPECT_EQ(route_name(route_id::filter_check), "filter");
  EXPECT_EQ(match_route("GET", "/_info").id, route_id::info);
  EXPECT_EQ(match_route("GET", "/_info/name").id, route_id::info_name);
  EXPECT_EQ(match_route("GET", "/_info/version").id, route_id::info_version);
  EXPECT_EQ(match_route("GET", "/healthz?x=1").id, route_id::healthz);
  EXPECT_EQ(match_route("GET", "/robots.txt").id, route_id::robots);
  auto m = match_route("DELETE", "/healthz");
  EXPECT_EQ(m.id, route_id::healthz);
  EXPECT_FALSE(m.method_allowed);
}

TEST(Router, RootCarriesTheSpecQuery) {
  auto m = match_route("GET", "/?spec");
  EXPECT_EQ(m.id, route_id::root);
  EXPECT_EQ(m.query, "spec");
  EXPECT_TRUE(query_param(m.query, "spec").has_value());
  EXPECT_EQ(match_route("GET", "/metrics").id, route_id::metrics);
  EXPECT_EQ(match_route("GET", "/readyz").id, route_id::readyz);
  EXPECT_EQ(route_name(route_id::stream), "stream");
  EXPECT_EQ(route_name(route_id::info_name), "info");
}

TEST(Router, OptionsIsAPreflightOnAnyPath) {
  for (const char* target : {"/v2/stream/rc", "/v2/streams", "/anything"}) {
    auto m = match_route("OPTIONS", target);
    EXPECT_EQ(m.id, route_id::preflight) << target;
    EXPECT_TRUE(m.method_allowed);
  }
}

TEST(Router, UnknownPathsAreNotFound) {
  for (const char* target : {"/v2", "/v2/stream", "/v2/stream/", "/v2/stream/rc/extra",
                             "/v2/streamsx", "/_info/other", "/HEALTHZ", "v2/stream/rc", ""}) {
    EXPECT_EQ(match_route("GET", target).id, route_id::not_found) << target;
  }
}

TEST(Router, BadEscapesAreFlagged) {
  for (const char* target :
       {"/v2/stream/%", "/v2/stream/%4", "/v2/stream/%zz", "/v2/stream/a%00"}) {
    auto m = match_route("GET", target);
    EXPECT_EQ(m.id, route_id::stream) << target;
    EXPECT_TRUE(m.bad_encoding) << target;
  }
}

TEST(Router, EncodedSlashStaysInsideTheStreamList) {
  // "%2F" decodes to '/', which is no stream name: the catalog rejects it, routing does not.
  auto m = match_route("GET", "/v2/stream/..%2F..%2Fetc");
  EXPECT_EQ(m.id, route_id::stream);
  EXPECT_EQ(m.streams, "../../etc");
}

TEST(UrlDecode, DecodesPercentEscapesButNotPlus) {
  EXPECT_EQ(url_decode("a%20b+c%2c"), "a b+c,");
  EXPECT_EQ(url_decode(""), "");
  EXPECT_FALSE(url_decode("%g0").has_value());
  EXPECT_FALSE(url_decode("abc%").has_value());
}

TEST(QueryParam, FindsDecodesAndTakesTheFirst) {
  EXPECT_EQ(query_param("since=2024-01-01T00%3A00%3A00Z&x=1", "since"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(query_param("a=1&since=2&since=3", "since"), "2");
  EXPECT_EQ(query_param("since", "since"), "");
  EXPECT_EQ(query_param("q=a+b", "q"), "a b");
  EXPECT_FALSE(query_param("sincex=1", "since").has_value());
  EXPECT_FALSE(query_param("", "since").has_value());
  EXPECT_FALSE(query_param("since=%zz", "since").has_value());
}

}  // namespace
}  // namespace eventstreams

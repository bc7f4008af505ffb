// Error bodies (problem JSON), HEAD on a stream, and the small JSON/text routes.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

class Routes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_config cfg;
    cfg.streams = {{"rc", {"eqiad.err.rc", "codfw.err.rc"}, {"recent"}, false},
                   {"other", {"other.err"}, {}, true}};
    daemon_ = std::make_unique<daemon_process>(cfg);
  }
  static void TearDownTestSuite() {
    auto status = daemon_->stop();
    EXPECT_TRUE(status.exited && status.code == 0) << daemon_->stderr_text();
    daemon_.reset();
  }
  void SetUp() override { ASSERT_TRUE(daemon_ && daemon_->running()); }
  std::uint16_t port() const { return daemon_->port(); }

  static std::unique_ptr<daemon_process> daemon_;
};
std::unique_ptr<daemon_process> Routes::daemon_;

// Checks a problem-JSON response and returns its body.
nlohmann::json expect_problem(const http_result& r, int status, const std::string& type,
                              const std::string& method, const std::string& uri) {
  EXPECT_EQ(r.head.status, status);
  EXPECT_TRUE(r.complete);
  auto ct = r.head.get("Content-Type").value_or("");
  EXPECT_TRUE(ct.starts_with("application/json")) << ct;
  EXPECT_EQ(r.head.get("Content-Length"), std::to_string(r.body.size()));
  auto j = parse_json(r.body);
  EXPECT_TRUE(j.is_object()) << r.body;
  if (!j.is_object())
    return j;
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items())
    keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"status", "type", "title", "detail", "method", "uri"}))
      << r.body;
  EXPECT_EQ(j["status"], status) << r.body;
  EXPECT_EQ(j["type"], type) << r.body;
  EXPECT_TRUE(j["title"].is_string() && !j["title"].get<std::string>().empty()) << r.body;
  EXPECT_TRUE(j["detail"].is_string()) << r.body;
  EXPECT_EQ(j["method"], method) << r.body;
  EXPECT_EQ(j["uri"], uri) << r.body;
  return j;
}

TEST_F(Routes, UnknownStreamsAre400ListingTheBadNamesInRequestOrder) {
  const std::string uri = "/v2/stream/zeta,rc,alpha,zeta";
  auto r = http_get(port(), uri);
  auto j = expect_problem(r, 400, "not_found", "GET", uri);
  std::string detail = j.value("detail", "");
  auto zeta = detail.find("zeta");
  auto alpha = detail.find("alpha");
  ASSERT_NE(zeta, std::string::npos) << detail;
  ASSERT_NE(alpha, std::string::npos) << detail;
  EXPECT_LT(zeta, alpha) << detail;
  EXPECT_EQ(detail.find("zeta", zeta + 1), std::string::npos) << "listed twice: " << detail;

  auto single = http_get(port(), "/v2/stream/nope");
  auto js = expect_problem(single, 400, "not_found", "GET", "/v2/stream/nope");
  EXPECT_NE(js.value("detail", "").find("nope"), std::string::npos);
}

TEST_F(Routes, UnknownPathsAre404) {
  for (const char* uri : {"/nope", "/v2/stream", "/v2/stream/", "/v2/stream/rc/extra",
                          "/v2/streamsx", "/_info/other"}) {
    SCOPED_TRACE(uri);
    expect_problem(http_get(port(), uri), 404, "not_found", "GET", uri);
  }
}

TEST_F(Routes, OtherMethodsOnKnownPathsAre405WithAllow) {
  auto r = http_get(port(), "/v2/stream/x", {{"Content-Length", "0"}}, "POST");
  expect_problem(r, 405, "method_not_allowed", "POST", "/v2/stream/x");
  auto allow = r.head.get("Allow").value_or("");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("HEAD"), std::string::npos) << allow;
  EXPECT_EQ(allow.find("POST"), std::string::npos) << allow;

  auto d = http_get(port(), "/v2/streams", {}, "DELETE");
  expect_problem(d, 405, "method_not_allowed", "DELETE", "/v2/streams");
  EXPECT_TRUE(d.head.get("Allow").has_value());
}

TEST_F(Routes, BadPercentEncodingIs400) {
  expect_problem(http_get(port(), "/v2/stream/r%zzc"), 400, "bad_request", "GET",
                 "/v2/stream/r%zzc");
}

TEST_F(Routes, HeadOnAStreamAnswersStreamHeadersWithoutABody) {
  sse_client c(port());
  c.send_request("HEAD", "/v2/stream/recent");
  ASSERT_TRUE(c.read_head()) << describe(c);
  const auto& h = c.head();
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.get("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(h.get("Cache-Control"), "no-cache");
  EXPECT_EQ(h.get("X-Accel-Buffering"), "no");
  EXPECT_EQ(h.get("Access-Control-Allow-Origin"), "*");
  // The GET's framing: chunked, no length.
  EXPECT_EQ(h.get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(h.get("Content-Length").has_value());
  // No body: with "Connection: close" the server ends the connection right after the header.
  sse_client closing(port());
  closing.send_request("HEAD", "/v2/stream/recent", {{"Connection", "close"}});
  ASSERT_TRUE(closing.read_head()) << describe(closing);
  EXPECT_TRUE(closing.read_to_eof(5s)) << describe(closing);  // the close follows the header
  EXPECT_EQ(closing.raw().size(), closing.head_size()) << describe(closing);

  auto unknown = http_get(port(), "/v2/stream/nope", {}, "HEAD");
  EXPECT_EQ(unknown.head.status, 400);
  EXPECT_TRUE(unknown.body.empty());
}

TEST_F(Routes, StreamsListDescribesEveryStream) {
  auto r = http_get(port(), "/v2/streams");
  ASSERT_EQ(r.head.status, 200);
  EXPECT_TRUE(r.head.get("Content-Type").value_or("").starts_with("application/json"));
  auto j = parse_json(r.body);
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j.contains("rc") && j.contains("other")) << r.body;
  EXPECT_EQ(j["rc"]["topics"], (nlohmann::json{"eqiad.err.rc", "codfw.err.rc"}));
  EXPECT_EQ(j["rc"]["aliases"], (nlohmann::json{"recent"}));
  EXPECT_EQ(j["rc"]["description"], "test stream rc");
  EXPECT_EQ(j["other"]["topics"], (nlohmann::json{"other.err"}));
  EXPECT_EQ(j["other"]["aliases"], nlohmann::json::array());
}

TEST_F(Routes, InfoHealthAndRobots) {
  auto info = http_get(port(), "/_info");
  ASSERT_EQ(info.head.status, 200);
  auto j = parse_json(info.body);
  ASSERT_TRUE(j.is_object()) << info.body;
  EXPECT_EQ(j["name"], "eventstreams");
  ASSERT_TRUE(j["version"].is_string());
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_TRUE(j["description"].is_string());
  EXPECT_TRUE(j["home"].is_string());

  auto name = http_get(port(), "/_info/name");
  EXPECT_EQ(name.head.status, 200);
  EXPECT_EQ(parse_json(name.body), (nlohmann::json{{"name", "eventstreams"}})) << name.body;
  auto version = http_get(port(), "/_info/version");
  EXPECT_EQ(version.head.status, 200);
  EXPECT_EQ(parse_json(version.body), (nlohmann::json{{"version", j["version"]}})) << version.body;

  auto health = http_get(port(), "/healthz");
  EXPECT_EQ(health.head.status, 200);

  auto robots = http_get(port(), "/robots.txt");
  EXPECT_EQ(robots.head.status, 200);
  EXPECT_TRUE(robots.head.get("Content-Type").value_or("").starts_with("text/plain"));
  EXPECT_EQ(robots.body, "User-agent: *\nDisallow: /\n");
}

}  // namespace
}  // namespace eventstreams::test

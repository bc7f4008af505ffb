// Streams from EventStreamConfig (docs/api.md): the daemon fetches its stream map from a real
// HTTP(S) server started by the test (loopback), refreshes it every ttl without disturbing open
// streams, keeps the map in use when a fetch fails, and starts (or refuses to) accordingly.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "http_test_server.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

extern char** environ;

namespace eventstreams::test {
namespace {

// Waits for something the daemon does within one ttl (500 ms here) or at once: 15 s only ends
// a test that already failed.
constexpr auto step = std::chrono::seconds(15);

// An EventStreamConfig document (the shape of action=streamconfigs): several streams, aliases,
// a pattern name, a stream without topics, one only in topic_prefixes form, plus `extra`.
std::string document(const std::string& extra = "") {
  return R"({"streams": {
    "mediawiki.recentchange": {
      "schema_title": "mediawiki/recentchange",
      "topics": ["sc.eqiad.rc", "sc.codfw.rc"],
      "stream_aliases": ["recentchange", "rc"],
      "description": "Edits",
      "destination_event_service": "eventgate-main",
      "canary_events_enabled": true
    },
    "page_change": {"topic_prefixes": ["sc.eqiad.", "sc.codfw."], "schema_title": "p/c"},
    "/^mediawiki\\.job\\..+/": {"topic_prefixes": ["sc.eqiad."]},
    "eventlogging_Nav": {"schema_title": "analytics/legacy/nav"})" +
         extra + "}}";
}
const std::string gone_entry = R"(, "gone": {"topics": ["sc.gone"]})";
const std::string fresh_entry = R"(, "fresh": {"topics": ["sc.fresh"], "stream_aliases": ["fr"]})";

daemon_config config_for(const std::string& uri, const std::string& ttl = "500ms") {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"local", {"sc.local"}, {}, false}};
  cfg.stream_config_settings = {{"uri", "\"" + uri + "\""}, {"ttl", ttl}, {"timeout", "5s"}};
  return cfg;
}

nlohmann::json streams_of(const daemon_process& d) {
  return parse_json(http_get(d.port(), "/v2/streams").body);
}

double fetches(const daemon_process& d, const std::string& result) {
  return metric_sum(d.port(), "eventstreams_stream_config_fetches_total",
                    "result=\"" + result + "\"");
}

TEST(StreamConfig, FetchedStreamsAreServedAndRefreshedWithoutDisturbingOpenStreams) {
  http_test_server server;
  server.respond(200, document(gone_entry));
  daemon_process d(config_for(server.url("/w/api.php?action=streamconfigs&format=json")));
  EXPECT_EQ(server.last_user_agent().rfind("eventstreams/", 0), 0u) << server.last_user_agent();

  auto list = streams_of(d);
  ASSERT_TRUE(list.is_object()) << list.dump();
  for (const char* name : {"local", "mediawiki.recentchange", "page_change", "gone"})
    EXPECT_TRUE(list.contains(name)) << name << " in " << list.dump();
  EXPECT_EQ(list.size(), 4u) << list.dump();  // not the pattern, not the stream without topics
  EXPECT_EQ(list["mediawiki.recentchange"]["topics"],
            nlohmann::json::array({"sc.eqiad.rc", "sc.codfw.rc"}));
  EXPECT_EQ(list["mediawiki.recentchange"]["aliases"],
            nlohmann::json::array({"recentchange", "rc"}));
  EXPECT_EQ(list["page_change"]["topics"],
            nlohmann::json::array({"sc.eqiad.page_change", "sc.codfw.page_change"}));
  const auto log = d.stderr_text();
  EXPECT_NE(log.find("skipped eventlogging_Nav: no topics"), std::string::npos) << log;

  // A fetched stream streams (its topics were created in the embedded cluster), by alias too.
  auto gone_client = open_stream(d.port(), "/v2/stream/gone");
  auto rc_client = open_stream(d.port(), "/v2/stream/rc");
  test_producer p(d.bootstrap());
  p.produce("sc.gone", 0, R"({"n":1})");
  p.produce("sc.codfw.rc", 0, R"({"n":2})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(gone_client->read_events(1)) << describe(*gone_client);
  ASSERT_TRUE(rc_client->read_events(1)) << describe(*rc_client);

  // The document changes: "gone" removed, "fresh" added; within one ttl the map follows.
  server.respond(200, document(fresh_entry));
  ASSERT_TRUE(wait_for([&] { return streams_of(d).contains("fresh"); }, step)) << d.stderr_text();
  list = streams_of(d);
  EXPECT_FALSE(list.contains("gone")) << list.dump();
  EXPECT_EQ(list["fresh"]["aliases"], nlohmann::json::array({"fr"}));
  const auto spec = http_get(d.port(), "/?spec").body;
  EXPECT_NE(spec.find("/v2/stream/fresh"), std::string::npos);
  EXPECT_EQ(spec.find("/v2/stream/gone"), std::string::npos);
  // A new request for the removed stream: 400 not_found.
  auto refused = http_get(d.port(), "/v2/stream/gone");
  EXPECT_EQ(refused.head.status, 400);
  EXPECT_EQ(parse_json(refused.body).value("type", ""), "not_found") << refused.body;
  // The new stream opens and delivers; the open stream on the removed one continues.
  auto fresh_client = open_stream(d.port(), "/v2/stream/fr");
  p.produce("sc.fresh", 0, R"({"n":3})");
  p.produce("sc.gone", 0, R"({"n":4})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(fresh_client->read_events(1)) << describe(*fresh_client);
  ASSERT_TRUE(gone_client->read_events(2)) << describe(*gone_client);
  EXPECT_EQ(parse_json(gone_client->events()[1].data).value("n", 0), 4);

  // The removed stream comes back: its topics are still in the cluster, it opens again.
  server.respond(200, document(gone_entry));
  ASSERT_TRUE(wait_for([&] { return streams_of(d).contains("gone"); }, step)) << d.stderr_text();
  auto back_client = open_stream(d.port(), "/v2/stream/gone");
  p.produce("sc.gone", 0, R"({"n":5})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(back_client->read_events(1)) << describe(*back_client);
  EXPECT_EQ(d.stderr_text().find("refresh failed"), std::string::npos) << d.stderr_text();

  EXPECT_GE(fetches(d, "ok"), 2.0);
  EXPECT_GE(metric_sum(d.port(), "eventstreams_stream_config_age_seconds"), 0.0);
  EXPECT_NE(http_get(d.port(), "/metrics").body.find("eventstreams_stream_config_age_seconds "),
            std::string::npos);
}

TEST(StreamConfig, FailedFetchesKeepTheMapInUseAndAreLoggedOncePerChange) {
  http_test_server server;
  server.respond(200, document());
  daemon_process d(config_for(server.url("/streams.json"), "200ms"));
  const auto before = streams_of(d);
  ASSERT_TRUE(before.contains("mediawiki.recentchange")) << before.dump();
  auto client = open_stream(d.port(), "/v2/stream/recentchange");

  struct failure {
    const char* what;
    std::function<void()> cause;
    const char* result;
  };
  for (const auto& [what, cause, result] : std::vector<failure>{
           {"HTTP 500", [&] { server.respond(500, "{\"error\": \"oops\"}"); }, "http_error"},
           {"invalid JSON", [&] { server.respond(200, "<html>maintenance</html>"); }, "invalid"},
           {"no stream left", [&] { server.respond(200, "{\"streams\": {}}"); }, "invalid"},
           {"server gone", [&] { server.stop(); }, "unreachable"},
       }) {
    SCOPED_TRACE(what);
    const auto lines = [&] { return occurrences(d.stderr_text(), "failed ("); };
    const std::size_t lines_before = lines();
    const double failed_before = fetches(d, result);
    cause();
    ASSERT_TRUE(wait_for([&] { return fetches(d, result) >= failed_before + 2; }, step))
        << d.stderr_text();
    EXPECT_EQ(streams_of(d), before);
    EXPECT_EQ(http_get(d.port(), "/v2/stream/rc", {}, "HEAD").head.status, 200);
    // Logged when the state changed; two more failures of the same kind add no line. (A fetch
    // caught by stop() in mid-answer may fail differently once before the refusals: not
    // asserted as exactly one line here.)
    const std::size_t lines_after = lines();
    EXPECT_GT(lines_after, lines_before) << d.stderr_text();
    ASSERT_TRUE(wait_for([&] { return fetches(d, result) >= failed_before + 4; }, step))
        << d.stderr_text();
    EXPECT_EQ(lines(), lines_after) << d.stderr_text();
  }
  // The stream opened before the failures still delivers.
  test_producer p(d.bootstrap());
  p.produce("sc.eqiad.rc", 0, R"({"n":1})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(client->read_events(1)) << describe(*client);
}

TEST(StreamConfig, AFetchThatTimesOutKeepsTheMapInUse) {
  http_test_server server;
  server.respond(200, document());
  auto cfg = config_for(server.url("/streams.json"));
  cfg.stream_config_settings = {
      {"uri", "\"" + server.url("/streams.json") + "\""}, {"ttl", "200ms"}, {"timeout", "300ms"}};
  daemon_process d(cfg);
  const auto before = streams_of(d);
  ASSERT_TRUE(before.contains("page_change")) << before.dump();
  server.stall(true);
  ASSERT_TRUE(wait_for([&] { return fetches(d, "timeout") >= 2; }, step)) << d.stderr_text();
  EXPECT_EQ(streams_of(d), before);
  EXPECT_EQ(occurrences(d.stderr_text(), "failed (timeout"), 1u) << d.stderr_text();
  // It answers again: the next fetch succeeds, and the recovery is logged once.
  server.stall(false);
  server.respond(200, document(fresh_entry));
  ASSERT_TRUE(wait_for([&] { return streams_of(d).contains("fresh"); }, step)) << d.stderr_text();
  EXPECT_EQ(occurrences(d.stderr_text(), "works again"), 1u) << d.stderr_text();
}

TEST(StreamConfig, SighupFetchesAgain) {
  http_test_server server;
  server.respond(200, document());
  daemon_process d(config_for(server.url("/streams.json"), "0"));  // no timer: only SIGHUP
  ASSERT_FALSE(streams_of(d).contains("fresh"));
  server.respond(200, document(fresh_entry));
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return streams_of(d).contains("fresh"); }, step)) << d.stderr_text();
  EXPECT_TRUE(streams_of(d).contains("local"));
  EXPECT_EQ(server.requests(), 2u);
}

TEST(StreamConfig, AFilePathIsReadAndRefreshedLikeAUrl) {
  auto dir = std::filesystem::temp_directory_path() /
             ("eventstreams-sc-file-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "streams.json";
  // Replaced in one step: the daemon never reads a half-written document.
  const auto write = [&](const std::string& text) {
    std::ofstream(dir / "next.json", std::ios::binary) << text;
    std::filesystem::rename(dir / "next.json", file);
  };
  write(document());
  daemon_process d(config_for(file.string()));
  EXPECT_TRUE(streams_of(d).contains("page_change"));
  write(document(fresh_entry));
  ASSERT_TRUE(wait_for([&] { return streams_of(d).contains("fresh"); }, step)) << d.stderr_text();
  std::filesystem::remove(file);
  ASSERT_TRUE(wait_for([&] { return fetches(d, "unreachable") >= 1; }, step)) << d.stderr_text();
  EXPECT_TRUE(streams_of(d).contains("fresh"));
  EXPECT_NE(d.stderr_text().find("No such file or directory"), std::string::npos)
      << d.stderr_text();
  std::filesystem::remove_all(dir);
}

TEST(StreamConfig, ADocumentLargerThanMaxBytesIsAFailedFetch) {
  http_test_server server;
  server.respond(200,
                 document(R"(, "padding": {"description": ")" + std::string(2048, 'x') + "\"}"));
  auto cfg = config_for(server.url("/streams.json"), "0");
  cfg.stream_config_settings.push_back({"max_bytes", "1KiB"});
  daemon_process d(cfg);
  EXPECT_EQ(streams_of(d).size(), 1u);  // the inline stream only
  EXPECT_EQ(fetches(d, "too_large"), 1.0);
}

TEST(StreamConfig, AllowedStreamsNarrowsTheMap) {
  http_test_server server;
  server.respond(200, document(gone_entry));
  auto cfg = config_for(server.url("/"), "0");
  cfg.stream_config_settings.push_back({"allowed_streams", "[rc, gone, eventlogging_Nav]"});
  daemon_process d(cfg);
  const auto list = streams_of(d);
  EXPECT_EQ(list.size(), 3u) << list.dump();  // local, and the two allowed ones with topics
  EXPECT_TRUE(list.contains("local"));
  EXPECT_TRUE(list.contains("mediawiki.recentchange"));  // allowed through its alias
  EXPECT_TRUE(list.contains("gone"));
  EXPECT_FALSE(list.contains("page_change"));
}

TEST(StreamConfig, HttpsWithTheCaFileOfATestCertificate) {
  auto dir = std::filesystem::temp_directory_path() /
             ("eventstreams-sc-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(make_test_certificate(dir.string()));
  http_test_server server((dir / "cert.pem").string(), (dir / "key.pem").string());
  server.respond(200, document());
  {
    auto cfg = config_for(server.url("/w/api.php"), "0");
    cfg.stream_config_settings.push_back({"ca_file", "\"" + (dir / "cert.pem").string() + "\""});
    daemon_process d(cfg);
    EXPECT_TRUE(streams_of(d).contains("page_change")) << d.stderr_text();
    EXPECT_EQ(fetches(d, "ok"), 1.0);
  }
  {
    // Without it the certificate is not trusted: the fetch fails, the inline stream serves.
    daemon_process d(config_for(server.url("/w/api.php"), "0"));
    const auto list = streams_of(d);
    EXPECT_EQ(list.size(), 1u) << list.dump();
    EXPECT_TRUE(list.contains("local"));
    EXPECT_EQ(fetches(d, "unreachable"), 1.0);
    EXPECT_NE(d.stderr_text().find("certificate"), std::string::npos) << d.stderr_text();
  }
  std::filesystem::remove_all(dir);
}

TEST(StreamConfig, StartUpWithAnUnreachableUriServesTheInlineStreams) {
  http_test_server server;
  const auto url = server.url("/streams");
  server.stop();  // nothing listens there any more
  daemon_process d(config_for(url));
  const auto list = streams_of(d);
  EXPECT_EQ(list.size(), 1u) << list.dump();
  EXPECT_TRUE(list.contains("local"));
  EXPECT_EQ(http_get(d.port(), "/v2/stream/local", {}, "HEAD").head.status, 200);
  EXPECT_NE(d.stderr_text().find("keeping the streams in use (the inline ones only"),
            std::string::npos)
      << d.stderr_text();
}

TEST(StreamConfig, StartUpWithNoStreamAtAllExits2WithTheReason) {
  http_test_server server;
  server.respond(503, "{}");
  auto cfg = config_for(server.url("/streams"));
  cfg.streams.clear();
  daemon_options opts;
  opts.wait_ready = false;
  opts.expect_clean_exit = false;
  daemon_process d(cfg, opts);
  auto status = d.wait_exit(step);
  ASSERT_TRUE(status.has_value()) << d.stderr_text();
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 2) << d.stderr_text();
  const auto log = d.stderr_text();
  EXPECT_NE(log.find("HTTP 503"), std::string::npos) << log;
  EXPECT_NE(log.find("no stream configured"), std::string::npos) << log;
}

TEST(StreamConfig, CheckConfigFetchesOnceAndReportsWhatItFound) {
  http_test_server server;
  server.respond(200, document());
  auto dir = std::filesystem::temp_directory_path() /
             ("eventstreams-sc-check-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "config.yaml";
  std::ofstream(file) << config_for(server.url("/streams")).to_yaml();
  auto [code, out] = run_daemon_binary({"--check-config", file.string()}, dir / "out.txt", step);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("2 streams fetched, 2 skipped"), std::string::npos) << out;
  EXPECT_NE(out.find("skipped eventlogging_Nav: no topics"), std::string::npos) << out;
  EXPECT_NE(out.find("ok (3 streams: 1 inline, 2 fetched)"), std::string::npos) << out;
  EXPECT_EQ(server.requests(), 1u);

  // A failed fetch with no inline stream: the daemon would not start.
  server.respond(500, "");
  auto cfg = config_for(server.url("/streams"));
  cfg.streams.clear();
  std::ofstream(file) << cfg.to_yaml();
  auto again = run_daemon_binary({"--check-config", file.string()}, dir / "out.txt", step);
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("fetch failed (http_error: HTTP 500)"), std::string::npos)
      << again.output;
  EXPECT_NE(again.output.find("no stream configured"), std::string::npos) << again.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace eventstreams::test

// Operating the daemon: /metrics as a stream runs, the log lines (text and JSON, no secrets),
// the OpenAPI document and UI routes, CORS, and several processes on one port. (Signals, systemd
// and /readyz have their own suites: signals_test.cpp, systemd_test.cpp, readiness_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using labels = std::map<std::string, std::string>;

// One scrape in the Prometheus text format, keyed by `name{k="v",...}` with sorted labels.
struct scrape_result {
  std::map<std::string, double> samples;
  std::vector<std::string> errors;  // lines that are not valid text-format lines

  static std::string key(const std::string& name, const labels& l) {
    if (l.empty())
      return name;
    std::string out = name + "{";
    for (const auto& [k, v] : l)
      out += (out.back() == '{' ? "" : ",") + k + "=\"" + v + "\"";
    return out + "}";
  }
  bool has(const std::string& name, const labels& l = {}) const {
    return samples.contains(key(name, l));
  }
  // Labelled series appear at their first increment: absent counts as 0.
  double get(const std::string& name, const labels& l = {}) const {
    auto it = samples.find(key(name, l));
    return it == samples.end() ? 0.0 : it->second;
  }
};

// Parses `name{labels} value [timestamp]` lines; every sample must belong to a # TYPE family.
scrape_result parse_metrics(const std::string& text) {
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$)");
  static const std::regex label(R"re(([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?)re");
  scrape_result r;
  std::set<std::string> families;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.starts_with("# TYPE ")) {
      families.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.empty() || line.starts_with("#")) {
      continue;
    } else if (!std::regex_match(line, m, sample)) {
      r.errors.push_back(line);
    } else {
      labels l;
      const std::string body = m[3];
      std::size_t used = 0;
      for (std::sregex_iterator it(body.begin(), body.end(), label), e; it != e; ++it) {
        used += static_cast<std::size_t>(it->length());
        l[(*it)[1]] = std::regex_replace((*it)[2].str(), std::regex(R"(\\(.))"), "$1");
      }
      std::string family = m[1];
      for (std::string suffix : {"_bucket", "_count", "_sum"}) {
        if (!families.contains(family) && family.ends_with(suffix))
          family.resize(family.size() - suffix.size());
      }
      char* end = nullptr;
      const std::string value = m[4];
      double v = std::strtod(value.c_str(), &end);
      if (used != body.size() || *end != '\0' || !families.contains(family))
        r.errors.push_back(line);
      r.samples[scrape_result::key(m[1], l)] = v;
    }
  }
  return r;
}

scrape_result scrape(std::uint16_t port) {
  auto res = http_get(port, "/metrics");
  EXPECT_EQ(res.head.status, 200);
  EXPECT_TRUE(res.head.get("Content-Type").value_or("").starts_with("text/plain"));
  auto r = parse_metrics(res.body);
  EXPECT_TRUE(r.errors.empty()) << "malformed metric lines, first: " << r.errors.front();
  return r;
}

// The lines of `text` that contain `needle` (every line for "").
std::vector<std::string> lines_containing(const std::string& text, const std::string& needle = "") {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos)
      out.push_back(line);
  }
  return out;
}

// Inserts `text` right after the first `anchor` of a rendered config (the harness renders
// everything but the keys these tests add).
std::string insert_after(std::string yaml, const std::string& anchor, const std::string& text) {
  auto at = yaml.find(anchor);
  EXPECT_NE(at, std::string::npos) << anchor << " not in:\n" << yaml;
  return at == std::string::npos ? yaml : yaml.insert(at + anchor.size(), text);
}

// The rendered config at exactly `level` (EVENTSTREAMS_IT_LOG_LEVEL must not change what the
// log tests count).
std::string at_level(const std::string& yaml, const std::string& level) {
  return std::regex_replace(yaml, std::regex("\n  level: [a-z]+\n"), "\n  level: " + level + "\n");
}

daemon_config one_stream(const std::string& topic) {
  daemon_config cfg;
  cfg.streams = {{"ops", {topic}, {}, false}};
  cfg.brokers = 1;
  return cfg;
}

// How many of the produced records the daemon should send, or skip for each reason.
struct mix {
  int sent = 0, canary = 0, not_json = 0;
};

// `n` records in `topic`: mostly events, every 5th a canary, every 7th not a JSON object,
// and always an event last, so receiving the last event means every record was processed.
mix produce_mix(test_producer& p, const std::string& topic, int n) {
  static const char* not_objects[] = {"not json", "[1,2,3]", "{\"cut\":", "42"};
  mix m;
  for (int i = 0; i < n; ++i) {
    std::string n_text = std::to_string(i);
    if (i % 7 == 3 && i != n - 1) {
      p.produce(topic, 0, not_objects[m.not_json % 4]);
      ++m.not_json;
    } else if (i % 5 == 1 && i != n - 1) {
      p.produce(topic, 0, R"({"meta":{"domain":"canary"},"n":)" + n_text + "}");
      ++m.canary;
    } else {
      p.produce(topic, 0, R"({"meta":{"domain":"en.wikipedia.org"},"n":)" + n_text + "}");
      ++m.sent;
    }
  }
  EXPECT_TRUE(p.flush());
  return m;
}

TEST(Operations, MetricsFollowAStreamFromOpenToClose) {
  daemon_process d(one_stream("ops.metrics"));
  const labels ops{{"stream", "ops"}};
  const labels stream_200{{"code", "200"}, {"route", "stream"}};
  auto before = scrape(d.port());
  EXPECT_EQ(before.get("eventstreams_connected_clients", ops), 0);

  auto c = open_stream(d.port(), "/v2/stream/ops");
  test_producer p(d.bootstrap());
  auto m = produce_mix(p, "ops.metrics", 30);
  // Events produced and flushed arrive in milliseconds; 20 s only ends a failing test (as in
  // every read_events below).
  ASSERT_TRUE(c->read_events(static_cast<std::size_t>(m.sent), 20s)) << describe(*c);
  ASSERT_EQ(c->events().size(), static_cast<std::size_t>(m.sent));
  scrape_result after;
  auto delta = [&](const std::string& name, const labels& l = {}) {
    return after.get(name, l) - before.get(name, l);
  };
  after = scrape(d.port());  // while the stream is open
  EXPECT_EQ(after.get("eventstreams_connected_clients", ops), 1);
  EXPECT_EQ(delta("eventstreams_events_sent_total", ops), m.sent);

  c->close();
  // The server sees the close asynchronously (and counts a write's bytes when it completes):
  // wait until everything was accounted for, milliseconds; 15 s only ends a failing test.
  bool settled = wait_for(
      [&] {
        after = scrape(d.port());
        return after.get("eventstreams_connected_clients", ops) == 0 &&
               delta("eventstreams_connection_duration_seconds_count") == 1 &&
               delta("eventstreams_bytes_sent_total") == static_cast<double>(c->raw().size());
      },
      15s, 50ms);
  EXPECT_TRUE(settled) << "connected " << after.get("eventstreams_connected_clients", ops)
                       << ", bytes sent " << delta("eventstreams_bytes_sent_total")
                       << " (client received " << c->raw().size() << ")";
  EXPECT_EQ(delta("eventstreams_client_connections_total", {{"streams", "ops"}}), 1);
  EXPECT_EQ(delta("eventstreams_events_sent_total", ops), m.sent);
  EXPECT_EQ(delta("eventstreams_events_skipped_total", {{"reason", "canary"}}), m.canary);
  EXPECT_EQ(delta("eventstreams_events_skipped_total", {{"reason", "not_json"}}), m.not_json);
  EXPECT_EQ(delta("eventstreams_http_requests_total", stream_200), 1);
  EXPECT_EQ(delta("eventstreams_clients_disconnected_total", {{"reason", "client_closed"}}), 1);
  EXPECT_EQ(delta("eventstreams_connection_duration_seconds_count"), 1);
  EXPECT_GT(delta("eventstreams_connection_duration_seconds_sum"), 0);
  EXPECT_EQ(delta("eventstreams_delivery_lag_seconds_count"), m.sent);
  // A histogram's +Inf bucket is its count.
  EXPECT_EQ(after.get("eventstreams_delivery_lag_seconds_bucket", {{"le", "+Inf"}}),
            after.get("eventstreams_delivery_lag_seconds_count"));
  for (const char* name :
       {"process_open_fds", "process_threads", "process_resident_memory_bytes"}) {
    EXPECT_TRUE(after.has(name)) << name;
    EXPECT_GT(after.get(name), 0) << name;
  }
  EXPECT_TRUE(after.has("process_cpu_seconds_total"));
}

TEST(Operations, AClientThatResetsTheConnectionIsCountedAsClosed) {
  // curl killed with bytes unread resets the connection instead of ending it; either way the
  // client closed, and that is the reason operators see (docs/api.md "Metrics").
  daemon_process d(one_stream("ops.reset"));
  auto before = scrape(d.port());
  auto c = open_stream(d.port(), "/v2/stream/ops");
  test_producer p(d.bootstrap());
  p.produce("ops.reset", 0, R"({"meta":{"domain":"en.wikipedia.org"}})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1, 20s)) << describe(*c);
  c->reset();
  scrape_result after;
  auto delta = [&](const char* reason) {
    const labels l{{"reason", reason}};
    return after.get("eventstreams_clients_disconnected_total", l) -
           before.get("eventstreams_clients_disconnected_total", l);
  };
  // The server sees the reset in milliseconds; 15 s only ends a failing test.
  EXPECT_TRUE(wait_for(
      [&] {
        after = scrape(d.port());
        return after.get("eventstreams_connection_duration_seconds_count") -
                   before.get("eventstreams_connection_duration_seconds_count") ==
               1;
      },
      15s, 50ms));
  EXPECT_EQ(delta("client_closed"), 1);
  EXPECT_EQ(delta("client_error"), 0);
  EXPECT_EQ(delta("write_failed"), 0);
}

TEST(Operations, StreamsRefusedAfterRoutingAreCountedInHttpRequests) {
  // The per-client limit: the stream session itself refuses the second stream with 429.
  daemon_process d(insert_after(one_stream("ops.refused").to_yaml(), "server:\n",
                                "  client_ip_connection_limit: 1\n"));
  auto first = open_stream(d.port(), "/v2/stream/ops");
  sse_client second(d.port());
  second.send_request("GET", "/v2/stream/ops");
  ASSERT_TRUE(second.read_head()) << describe(second);
  ASSERT_EQ(second.head().status, 429);
  auto m = scrape(d.port());
  EXPECT_EQ(m.get("eventstreams_http_requests_total", {{"code", "200"}, {"route", "stream"}}), 1);
  EXPECT_EQ(m.get("eventstreams_http_requests_total", {{"code", "429"}, {"route", "stream"}}), 1)
      << "every answered request counts (README), refusals included";
  // And each refusal by its reason (docs/api.md "Metrics"); the other reasons exist at 0.
  auto unknown = http_get(d.port(), "/v2/stream/no-such-stream");
  ASSERT_EQ(unknown.head.status, 400);
  m = scrape(d.port());
  EXPECT_EQ(m.get("eventstreams_streams_refused_total", {{"reason", "client_limit"}}), 1);
  EXPECT_EQ(m.get("eventstreams_streams_refused_total", {{"reason", "unknown_stream"}}), 1);
  EXPECT_TRUE(m.has("eventstreams_streams_refused_total", {{"reason", "connection_limit"}}));
  EXPECT_EQ(m.get("eventstreams_streams_refused_total", {{"reason", "connection_limit"}}), 0);
}

TEST(Operations, OneInfoLinePerClosedStreamAndNonePerEvent) {
  daemon_process d(at_level(one_stream("ops.logs").to_yaml(), "info"));
  auto c = open_stream(d.port(), "/v2/stream/ops");
  test_producer p(d.bootstrap());
  const auto lines_before = lines_containing(d.stderr_text()).size();
  auto m = produce_mix(p, "ops.logs", 60);
  ASSERT_TRUE(c->read_events(static_cast<std::size_t>(m.sent), 20s)) << describe(*c);
  // Sixty records read, sent or skipped: not one line more at info level.
  auto lines = lines_containing(d.stderr_text());
  EXPECT_EQ(lines.size(), lines_before) << "new log lines while streaming, first: "
                                        << (lines.size() > lines_before ? lines[lines_before] : "");

  c->close();
  // The close line follows the close by milliseconds; 10 s only ends a failing test (as below).
  ASSERT_TRUE(wait_for([&] { return !lines_containing(d.stderr_text(), " close ").empty(); }, 10s))
      << d.stderr_text();
  auto closes = lines_containing(d.stderr_text(), " close ");
  ASSERT_EQ(closes.size(), 1u) << d.stderr_text();
  static const std::regex close_line(
      R"(^\S+ info close client=127\.0\.0\.1:\d+ streams=ops mode=(?:per_connection|shared) )"
      R"(duration=(\d+\.\d{3})s )"
      R"(events=(\d+) bytes=(\d+) skipped_canary=(\d+) skipped_not_json=(\d+) )"
      R"(skipped_filter=(\d+) lag_records=(\d+) lag_seconds=(\d+\.\d) reason="client closed"$)");
  std::smatch f;
  ASSERT_TRUE(std::regex_match(closes[0], f, close_line)) << closes[0];
  EXPECT_GT(std::stod(f[1]), 0.0);
  EXPECT_EQ(std::stoi(f[2]), m.sent);
  EXPECT_EQ(std::stoull(f[3]), c->raw().size());  // everything written reached the client
  EXPECT_EQ(std::stoi(f[4]), m.canary);
  EXPECT_EQ(std::stoi(f[5]), m.not_json);
  EXPECT_EQ(std::stoi(f[6]), 0);  // no filter
  // It had read everything: nothing behind (docs/api.md "Metrics").
  EXPECT_EQ(std::stoi(f[7]), 0);
  EXPECT_EQ(std::stod(f[8]), 0.0);
}

TEST(Operations, JsonLogFormatMakesEveryLineAJsonObject) {
  // Debug: the most lines, including librdkafka's (debug: conf).
  auto yaml = insert_after(at_level(one_stream("ops.json").to_yaml(), "debug"), "logging:\n",
                           "  format: json\n");
  yaml = insert_after(yaml, "  properties:\n", "    debug: \"conf,generic\"\n");
  daemon_process d(yaml);
  auto c = open_stream(d.port(), "/v2/stream/ops");
  auto p = std::make_unique<test_producer>(d.bootstrap());
  auto m = produce_mix(*p, "ops.json", 12);  // also debug lines for the skipped records
  p.reset();                                 // gone before the cluster stops
  ASSERT_TRUE(c->read_events(static_cast<std::size_t>(m.sent), 20s)) << describe(*c);
  c->close();
  ASSERT_TRUE(
      wait_for([&] { return d.stderr_text().find("close client=") != std::string::npos; }, 10s));
  auto status = d.stop();
  EXPECT_TRUE(status.exited && status.code == 0) << d.stderr_text();

  static const std::regex iso_time(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  static const std::set<std::string> levels{"trace", "debug",    "info", "warning",
                                            "error", "critical", "off"};
  auto lines = lines_containing(d.stderr_text());
  ASSERT_GT(lines.size(), 10u);
  int close_lines = 0, librdkafka_lines = 0;
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    auto j = parse_json(line);
    ASSERT_TRUE(j.is_object() && j["time"].is_string() && j["level"].is_string() &&
                j["message"].is_string());
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), iso_time));
    EXPECT_TRUE(levels.contains(j["level"].get<std::string>()));
    const auto msg = j["message"].get<std::string>();
    close_lines += msg.starts_with("close client=") && msg.ends_with("reason=\"client closed\"");
    librdkafka_lines += msg.starts_with("librdkafka ");
  }
  EXPECT_EQ(close_lines, 1);  // its quotes survived the JSON escaping
  EXPECT_GT(librdkafka_lines, 0);
}

TEST(Operations, KafkaSecretsNeverReachTheLogEvenAtDebugLevel) {
  // debug: conf makes every librdkafka client dump its configuration: the likeliest leak.
  auto yaml =
      insert_after(at_level(one_stream("ops.secrets").to_yaml(), "debug"), "  properties:\n",
                   "    sasl.password: \"hunter2-secret\"\n"
                   "    ssl.key.password: \"k3y-secret\"\n"
                   "    debug: \"conf,security,generic\"\n");
  daemon_process d(yaml);  // librdkafka accepts these with security.protocol plaintext
  auto c = open_stream(d.port(), "/v2/stream/ops");  // creates a consumer with the properties
  {
    test_producer p(d.bootstrap());
    p.produce("ops.secrets", 0, R"({"secret":"no"})");
    ASSERT_TRUE(p.flush());
  }
  ASSERT_TRUE(c->read_events(1)) << describe(*c);
  c->close();
  d.signal(SIGHUP);  // re-reads the file, properties included
  ASSERT_TRUE(wait_for(
      [&] {
        auto err = d.stderr_text();
        return err.find("close client=") != std::string::npos &&
               err.find("reloaded") != std::string::npos;
      },
      10s))
      << d.stderr_text();
  auto status = d.stop();
  EXPECT_TRUE(status.exited && status.code == 0);

  const auto err = d.stderr_text(), out = d.stdout_text();
  for (const char* secret : {"hunter2", "k3y-secret"}) {
    EXPECT_EQ(err.find(secret), std::string::npos) << secret << " in stderr:\n" << err;
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " in stdout:\n" << out;
  }
  // Not vacuous: the configuration dumps (which name the properties) did reach the log.
  EXPECT_NE(err.find("sasl.password"), std::string::npos);
  EXPECT_NE(err.find("ssl.key.password"), std::string::npos);
  // One debug line per opened stream.
  EXPECT_EQ(lines_containing(err, " debug open client=").size(), 1u) << err;
}

TEST(Operations, OpenApiDocumentListsEveryStreamAndTheUiIsServed) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"alpha", {"spec.a1", "spec.a2"}, {"a", "first"}, false},
                 {"beta", {"spec.b"}, {}, true}};
  daemon_process d(cfg);
  auto res = http_get(d.port(), "/?spec");
  ASSERT_EQ(res.head.status, 200);
  EXPECT_TRUE(res.head.get("Content-Type").value_or("").starts_with("application/json"));
  auto doc = parse_json(res.body);
  ASSERT_TRUE(doc.is_object()) << res.body;
  ASSERT_TRUE(doc["openapi"].is_string());
  EXPECT_TRUE(doc["openapi"].get<std::string>().starts_with("3.")) << doc["openapi"];

  const auto& paths = doc["paths"];
  ASSERT_TRUE(paths.contains("/v2/stream/{streams}"));
  // The {streams} parameter, through its $ref, enumerates names and aliases.
  nlohmann::json param;
  for (const auto& p : paths["/v2/stream/{streams}"]["get"]["parameters"]) {
    auto resolved = p.contains("$ref")
                        ? doc[nlohmann::json::json_pointer(p["$ref"].get<std::string>().substr(1))]
                        : p;
    if (resolved.value("in", "") == "path" && resolved.value("name", "") == "streams")
      param = resolved;
  }
  ASSERT_TRUE(param.is_object()) << paths["/v2/stream/{streams}"].dump();
  EXPECT_TRUE(param["required"].get<bool>());
  auto names = param["schema"]["items"]["enum"].get<std::vector<std::string>>();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "alpha", "beta", "first"}));

  std::vector<std::string> stream_paths;
  for (const auto& [path, item] : paths.items()) {
    if (path.starts_with("/v2/stream/") && path != "/v2/stream/{streams}")
      stream_paths.push_back(path);
  }
  std::sort(stream_paths.begin(), stream_paths.end());
  EXPECT_EQ(stream_paths, (std::vector<std::string>{"/v2/stream/alpha", "/v2/stream/beta"}));
  EXPECT_EQ(paths["/v2/stream/alpha"]["get"]["description"], "test stream alpha");
  EXPECT_EQ(paths["/v2/stream/beta"]["get"]["description"], "test stream beta");

  auto root = http_get(d.port(), "/");
  EXPECT_EQ(root.head.status, 303);
  EXPECT_EQ(root.head.get("Location").value_or(""), "/v2/ui");
  auto ui = http_get(d.port(), "/v2/ui");
  EXPECT_EQ(ui.head.status, 200);
  EXPECT_TRUE(ui.head.get("Content-Type").value_or("").starts_with("text/html"));
  EXPECT_NE(ui.body.find("<html"), std::string::npos);
}

TEST(Operations, CorsPreflightAndDefaultWildcard) {
  daemon_process d(one_stream("ops.cors"));
  auto pre = http_get(d.port(), "/v2/stream/x",
                      {{"Origin", "https://any.example"},
                       {"Access-Control-Request-Method", "GET"},
                       {"Access-Control-Request-Headers", "last-event-id"}},
                      "OPTIONS");
  EXPECT_EQ(pre.head.status, 204);
  EXPECT_NE(pre.head.get("Access-Control-Allow-Methods").value_or("").find("GET"),
            std::string::npos);
  EXPECT_NE(pre.head.get("Access-Control-Allow-Headers").value_or("").find("Last-Event-ID"),
            std::string::npos);
  EXPECT_EQ(pre.head.get("Access-Control-Allow-Origin").value_or(""), "*");
  auto s = open_stream(d.port(), "/v2/stream/ops", {{"Origin", "https://any.example"}});
  EXPECT_EQ(s->head().get("Access-Control-Allow-Origin").value_or(""), "*");
}

TEST(Operations, CorsOriginListEchoesOnlyListedOrigins) {
  auto yaml = insert_after(one_stream("ops.cors").to_yaml(), "server:\n",
                           "  cors_allow_origin: [\"https://a.example\"]\n");
  daemon_process d(yaml);
  const header_list listed{{"Origin", "https://a.example"}};
  const header_list other{{"Origin", "https://b.example"}};
  for (const char* target : {"/v2/streams", "/healthz"}) {
    SCOPED_TRACE(target);
    auto ok = http_get(d.port(), target, listed);
    EXPECT_EQ(ok.head.get("Access-Control-Allow-Origin").value_or(""), "https://a.example");
    EXPECT_NE(ok.head.get("Vary").value_or("").find("Origin"), std::string::npos);
    auto no = http_get(d.port(), target, other);
    EXPECT_EQ(no.head.status, 200);
    EXPECT_EQ(no.head.count("Access-Control-Allow-Origin"), 0u);
    EXPECT_NE(no.head.get("Vary").value_or("").find("Origin"), std::string::npos);
  }
  auto pre = http_get(d.port(), "/v2/stream/ops", listed, "OPTIONS");
  EXPECT_EQ(pre.head.status, 204);
  EXPECT_EQ(pre.head.get("Access-Control-Allow-Origin").value_or(""), "https://a.example");
  auto pre_other = http_get(d.port(), "/v2/stream/ops", other, "OPTIONS");
  EXPECT_EQ(pre_other.head.count("Access-Control-Allow-Origin"), 0u);

  auto s = open_stream(d.port(), "/v2/stream/ops", listed);
  EXPECT_EQ(s->head().get("Access-Control-Allow-Origin").value_or(""), "https://a.example");
  EXPECT_NE(s->head().get("Vary").value_or("").find("Origin"), std::string::npos);
  auto s_other = open_stream(d.port(), "/v2/stream/ops", other);
  EXPECT_EQ(s_other->head().count("Access-Control-Allow-Origin"), 0u);
}

// server.reuse_port and server.admin_listen (docs/api.md, "Several processes on one port"):
// two daemons on one port, each with its own admin address, both serving streams of one
// cluster.
TEST(Operations, ProcessesWithReusePortShareOnePortEachWithItsOwnAdminAddress) {
  mock_cluster cluster(1);
  cluster.create_topic("ops.shared", 1);
  auto cfg = on_cluster(cluster.bootstrap(), {{"ops", {"ops.shared"}, {}, false}});
  cfg.server_settings = {{"reuse_port", "true"}, {"admin_listen", "\"127.0.0.1:0\""}};
  daemon_process a(cfg);
  cfg.listen = "127.0.0.1:" + std::to_string(a.port());
  daemon_process b(cfg);
  ASSERT_EQ(b.port(), a.port());
  ASSERT_NE(a.admin_port(), 0);
  ASSERT_NE(b.admin_port(), 0);
  ASSERT_NE(a.admin_port(), b.admin_port());
  // Each admin address answers for its own process, and serves nothing but these three.
  for (const daemon_process* d : {&a, &b}) {
    EXPECT_EQ(http_get(d->admin_port(), "/healthz").head.status, 200);
    EXPECT_EQ(http_get(d->admin_port(), "/metrics").head.status, 200);
    // Ready once its first Kafka check passed: milliseconds; 20 s only ends a failing test.
    EXPECT_TRUE(wait_for([&] { return http_get(d->admin_port(), "/readyz").head.status == 200; },
                         20s, 20ms));
    EXPECT_EQ(http_get(d->admin_port(), "/v2/stream/ops").head.status, 404);
    EXPECT_EQ(http_get(d->admin_port(), "/v2/streams").head.status, 404);
    EXPECT_EQ(http_get(d->admin_port(), "/").head.status, 404);
  }
  EXPECT_EQ(scrape(a.admin_port()).get("process_open_fds") > 0, true);

  // The kernel picks a process for each new connection (a hash of its addresses and ports):
  // streams are opened until each process holds one. 64 connections that all went to one
  // process would have a chance of 2^-63.
  const labels ops{{"stream", "ops"}};
  auto connected = [&](const daemon_process& d) {
    return scrape(d.admin_port()).get("eventstreams_connected_clients", ops);
  };
  std::vector<std::unique_ptr<sse_client>> streams;
  while (streams.size() < 64 && (connected(a) == 0 || connected(b) == 0)) {
    streams.push_back(open_stream(a.port(), "/v2/stream/ops"));
    ASSERT_TRUE(streams.back()) << "stream " << streams.size();
  }
  EXPECT_GE(connected(a), 1);
  EXPECT_GE(connected(b), 1);
  // Every stream is counted by one process or the other, never both (the gauge is set before
  // the preamble is sent; 10 s only ends a failing test).
  EXPECT_TRUE(
      wait_for([&] { return connected(a) + connected(b) == static_cast<double>(streams.size()); },
               10s, 20ms))
      << connected(a) << " + " << connected(b) << " of " << streams.size();
  test_producer p(cluster.bootstrap());
  p.produce("ops.shared", 0, R"({"n":1})");
  ASSERT_TRUE(p.flush());
  for (auto& c : streams) {
    ASSERT_TRUE(c->read_events(1, 20s)) << describe(*c);
    EXPECT_EQ(parse_json(c->events()[0].data)["n"], 1);
  }
}

// Without server.reuse_port, a port that another process holds is a start-up error.
TEST(Operations, APortInUseWithoutReusePortIsAStartUpError) {
  daemon_process a(one_stream("ops.port"));
  auto cfg = one_stream("ops.port");
  cfg.listen = "127.0.0.1:" + std::to_string(a.port());
  daemon_options o;
  o.wait_ready = false;
  o.expect_clean_exit = false;
  daemon_process b(cfg, o);
  // Start-up takes well under a second; 20 s only ends a failing test.
  const auto status = b.wait_exit(20s);
  ASSERT_TRUE(status) << b.stderr_text();
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 1);
  EXPECT_NE(b.stderr_text().find("cannot listen on 127.0.0.1:" + std::to_string(a.port())),
            std::string::npos)
      << b.stderr_text();
}

}  // namespace
}  // namespace eventstreams::test

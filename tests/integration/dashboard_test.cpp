// The Grafana dashboard shipped in config/grafana/eventstreams.json: a Grafana 10 dashboard with
// a Prometheus data source variable, whose every query names only metrics that a running
// daemon's /metrics exposes (a renamed or removed metric would leave a panel empty).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using namespace std::chrono_literals;

nlohmann::json load_dashboard() {
  std::ifstream in(std::string(EVENTSTREAMS_SOURCE_DIR) + "/config/grafana/eventstreams.json");
  EXPECT_TRUE(in.good()) << "config/grafana/eventstreams.json";
  return nlohmann::json::parse(in, nullptr, false);
}

// Every PromQL expression of the dashboard: panel targets and the variables' queries.
std::vector<std::string> expressions(const nlohmann::json& dash) {
  std::vector<std::string> out;
  for (const auto& panel : dash["panels"]) {
    for (const auto& t : panel.value("targets", nlohmann::json::array()))
      out.push_back(t.value("expr", ""));
  }
  for (const auto& v : dash["templating"]["list"]) {
    if (v.value("type", "") == "query")
      out.push_back(v["query"].is_object() ? v["query"].value("query", "") : v.value("query", ""));
  }
  return out;
}

// The metric names an expression reads: the project's and the process metrics it renders.
std::set<std::string> metric_names(const std::string& expr) {
  static const std::regex name(R"(\b(?:eventstreams|process)_[a-zA-Z0-9_]+)");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), name), e; it != e; ++it)
    out.insert(it->str());
  return out;
}

// The sample names of a /metrics text (histograms' _bucket, _sum and _count included).
std::set<std::string> sample_names(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    out.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return out;
}

TEST(Dashboard, IsAGrafanaDashboardWithAPrometheusDataSourceVariable) {
  auto dash = load_dashboard();
  ASSERT_FALSE(dash.is_discarded()) << "not JSON";
  EXPECT_GE(dash.value("schemaVersion", 0), 38) << "Grafana 10's schema";
  EXPECT_FALSE(dash.value("title", "").empty());
  EXPECT_FALSE(dash.value("uid", "").empty());
  bool has_datasource = false;
  for (const auto& v : dash["templating"]["list"]) {
    if (v.value("type", "") == "datasource" && v.value("name", "") == "datasource")
      has_datasource = v.value("query", "") == "prometheus";
  }
  EXPECT_TRUE(has_datasource) << "a variable `datasource` of type datasource, query prometheus";
  std::set<int> ids;
  int queries = 0;
  for (const auto& panel : dash["panels"]) {
    const auto title = panel.value("title", "");
    EXPECT_TRUE(ids.insert(panel.value("id", 0)).second) << "duplicate panel id: " << title;
    if (panel.value("type", "") == "row")
      continue;
    EXPECT_EQ(panel["datasource"].value("uid", ""), "${datasource}") << title;
    ASSERT_TRUE(panel.contains("gridPos")) << title;
    ASSERT_FALSE(panel.value("targets", nlohmann::json::array()).empty()) << title;
    for (const auto& t : panel["targets"]) {
      EXPECT_FALSE(t.value("expr", "").empty()) << title;
      EXPECT_FALSE(metric_names(t.value("expr", "")).empty()) << title << ": " << t["expr"];
      ++queries;
    }
  }
  EXPECT_GT(queries, 10);
}

TEST(Dashboard, EveryMetricItQueriesIsInTheDaemonsMetrics) {
  auto dash = load_dashboard();
  ASSERT_FALSE(dash.is_discarded());
  std::set<std::string> wanted;
  for (const auto& expr : expressions(dash))
    wanted.merge(metric_names(expr));
  ASSERT_GT(wanted.size(), 10u);

  // Series labelled per stream appear with the first stream: open one, send it an event, and
  // wait for a lag sample (once a second). Label sets known in advance (reasons, kinds, modes)
  // are exposed at 0 from the start.
  daemon_config cfg;
  cfg.streams = {{"dash", {"dash.topic"}, {}, false}};
  cfg.brokers = 1;
  daemon_process d(cfg);
  auto c = open_stream(d.port(), "/v2/stream/dash");
  test_producer p(d.bootstrap());
  p.produce("dash.topic", 0, R"({"n":1})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1, 20s)) << describe(*c);
  // A sample comes within a second; 15 s only ends a failing test.
  ASSERT_TRUE(
      wait_for([&] { return metric_sum(d.port(), "eventstreams_client_lag_records_count") >= 1; },
               15s, 50ms));

  const auto exposed = sample_names(http_get(d.port(), "/metrics").body);
  for (const auto& name : wanted)
    EXPECT_TRUE(exposed.contains(name)) << name << " is queried by the dashboard, not in /metrics";
  c->close();
}

}  // namespace
}  // namespace eventstreams::test

// Server-side filters on real streams (docs/api.md "Server-side filters"): only matching events
// are sent, filtered records move positions, resume stays exact, and every refusal is a 400 (or
// a 503 past filter.max_compiled) before the stream starts.
#include <gtest/gtest.h>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// Waits: every 10 s bound below is for a step that takes milliseconds (the preamble, a fetch
// round trip of produced records, 300 ms keepalives); it only ends a test that is already
// failing.

daemon_config filtered_stream(std::string heartbeat = "0") {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.heartbeat_interval = std::move(heartbeat);
  cfg.streams = {{"rc", {"filter.rc"}, {}, false}};
  return cfg;
}

std::string edit(int n, const char* wiki, bool bot) {
  return R"({"n":)" + std::to_string(n) + R"(,"wiki":")" + wiki + R"(","bot":)" +
         (bot ? "true" : "false") + "}";
}

nlohmann::json problem(const http_result& r) {
  return parse_json(r.body);
}

TEST(Filter, OnlyMatchingEventsAreSentAndTheCanonicalFormIsAComment) {
  daemon_process d(filtered_stream());
  auto c = open_stream(d.port(), "/v2/stream/rc?filter=wiki=enwiki,dewiki&filter=!bot");
  test_producer p(d.bootstrap());
  std::vector<std::size_t> wanted;
  for (int i = 0; i < 30; ++i) {
    const char* wiki = i % 3 == 0 ? "enwiki" : i % 3 == 1 ? "frwiki" : "dewiki";
    const bool bot = i % 4 == 0;
    auto at = p.produce("filter.rc", 0, edit(i, wiki, bot));
    if (std::string_view(wiki) != "frwiki" && !bot)
      wanted.push_back(at);
  }
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(wanted.size(), 10s)) << describe(*c);
  ASSERT_EQ(c->events().size(), wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i)
    EXPECT_EQ(parse_json(c->events()[i].data), expected_data(p.record(wanted[i])));
  // The canonical form, after ":ok" and before the start positions.
  EXPECT_TRUE(c->body().starts_with(":ok\n\n: filter !bot;wiki=dewiki,enwiki\n\nid: "))
      << c->body().substr(0, 120);
  EXPECT_GT(metric_sum(d.port(), "eventstreams_events_skipped_total", "reason=\"filter\""), 0);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_filters_compiled"), 1);
}

TEST(Filter, FilteredRecordsMoveThePositionAndResumeIsExact) {
  daemon_process d(filtered_stream("300ms"));
  const std::string target = "/v2/stream/rc?filter=wiki=enwiki";
  auto c = open_stream(d.port(), target);
  test_producer p(d.bootstrap());
  auto first = p.produce("filter.rc", 0, edit(1, "enwiki", false), 1700000000001);
  for (int i = 0; i < 5; ++i)
    p.produce("filter.rc", 0, edit(2 + i, "frwiki", false), 1700000000002 + i);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1, 10s)) << describe(*c);
  // Five records filtered out after the event: the next keepalive is an id-only block that
  // carries their positions (docs/api.md §5.1).
  const auto blocks = c->id_blocks().size();
  ASSERT_TRUE(
      c->read_until([&](const sse_client& s) { return s.id_blocks().size() > blocks; }, 10s))
      << describe(*c);
  const std::string moved = c->id_blocks().back();
  EXPECT_TRUE(id_equals(moved, {{"filter.rc", 0, p.record(first).offset + 6, 1700000000006}}))
      << moved;
  c->close();

  // Resume from there with the same filter: exactly the matching events after it.
  auto later_skip = p.produce("filter.rc", 0, edit(10, "frwiki", false));
  auto later = p.produce("filter.rc", 0, edit(11, "enwiki", false));
  (void)later_skip;
  ASSERT_TRUE(p.flush());
  auto r = open_stream(d.port(), target, {{"Last-Event-ID", moved}});
  ASSERT_TRUE(r->read_events(1, 10s)) << describe(*r);
  EXPECT_EQ(parse_json(r->events()[0].data), expected_data(p.record(later)));
}

TEST(Filter, EveryRefusalIsA400BeforeTheStream) {
  daemon_process d(filtered_stream());
  {
    auto r = http_get(d.port(), "/v2/stream/rc?filter=wiki=enwiki&filter=title~x");
    EXPECT_EQ(r.head.status, 400);
    auto j = problem(r);
    EXPECT_EQ(j["type"], "invalid_filter");
    EXPECT_EQ(j["filter_index"], 2);
    EXPECT_EQ(j["filter_offset"], 6);
    EXPECT_NE(j["detail"].get<std::string>().find("filter #2 at character 6"), std::string::npos)
        << r.body;
  }
  {
    auto r = http_get(d.port(), "/v2/stream/rc?filter=a.b.c.d.e.f.g.h.i=1");
    EXPECT_EQ(r.head.status, 400);
    auto j = problem(r);
    EXPECT_EQ(j["type"], "filter_too_complex");
    EXPECT_EQ(j["limit"], "filter.max_path_segments");
    EXPECT_EQ(j["limit_value"], 8);
  }
  for (const char* typo : {"filters=wiki%3Denwiki", "filter%5Bwiki%5D=enwiki", "filter_wiki=x"}) {
    auto r = http_get(d.port(), std::string("/v2/stream/rc?") + typo);
    EXPECT_EQ(r.head.status, 400) << typo;
    EXPECT_EQ(problem(r)["type"], "invalid_filter") << typo;
  }
  // A line break can never reach the ": filter" comment.
  for (const char* bad : {"filter=wiki=en%0Awiki", "filter=wiki=en%0Dwiki", "filter=wiki%00"}) {
    auto r = http_get(d.port(), std::string("/v2/stream/rc?") + bad);
    EXPECT_EQ(r.head.status, 400) << bad;
    EXPECT_EQ(problem(r)["type"], "invalid_filter") << bad << ": " << r.body;
  }
  EXPECT_GE(metric_sum(d.port(), "eventstreams_filter_rejected_total", "invalid_filter"), 7);
  EXPECT_GE(metric_sum(d.port(), "eventstreams_filter_rejected_total", "filter_too_complex"), 1);
}

TEST(Filter, TheLargestLegalFilterFullyPercentEncodedIsNot431) {
  daemon_process d(filtered_stream());
  // 32 clauses, 4,096 decoded bytes, every byte written %XX: a request line of ~12.6 KiB.
  std::string query;
  std::size_t decoded = 0;
  for (int i = 0; i < 32; ++i) {
    std::string clause = "w" + std::to_string(i) + "!=";
    clause += std::string(128 - clause.size(), 'x');
    decoded += clause.size();
    query += (i > 0 ? "&" : "") + std::string("filter=");
    for (const unsigned char ch : clause) {
      static constexpr char hex[] = "0123456789ABCDEF";
      query += {'%', hex[ch >> 4], hex[ch & 15]};
    }
  }
  ASSERT_EQ(decoded, 4096u);
  auto ok = open_stream(d.port(), "/v2/stream/rc?" + query);
  EXPECT_NE(ok->body().find(": filter "), std::string::npos);
  // One byte more is too long for the filter, and said so (not 431).
  auto r = http_get(d.port(), "/v2/stream/rc?" + query + "x");
  EXPECT_EQ(r.head.status, 400);
  EXPECT_EQ(problem(r)["limit"], "filter.max_length") << r.body;
}

TEST(Filter, CheckRouteAnswersTheCanonicalFormAndTheFieldsRead) {
  daemon_process d(filtered_stream());
  auto r = http_get(d.port(), "/v2/filter?filter=wiki=enwiki|wiki=dewiki&filter=len(tags)>1");
  ASSERT_EQ(r.head.status, 200) << r.body;
  auto j = parse_json(r.body);
  EXPECT_EQ(j["canonical"], "len(tags)>1;wiki=dewiki,enwiki");
  EXPECT_EQ(j["fields"], nlohmann::json::array({"tags", "wiki"}));
  EXPECT_EQ(j["reads_payload"], true);
  auto bad = http_get(d.port(), "/v2/filter?filter=wiki=");
  EXPECT_EQ(bad.head.status, 400);
  EXPECT_EQ(problem(bad)["type"], "invalid_filter");
  auto none = http_get(d.port(), "/v2/filter");
  EXPECT_EQ(none.head.status, 400);
  // /v2/filter compiles for its answer only: nothing stays in the shared set.
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_filters_compiled"), 0);
}

TEST(Filter, PastTheDistinctFilterLimitA503UntilOneIsReleased) {
  daemon_config cfg = filtered_stream();
  cfg.filter_settings = {{"max_compiled", "2"}};
  daemon_process d(cfg);
  auto a = open_stream(d.port(), "/v2/stream/rc?filter=wiki=a");
  auto b = open_stream(d.port(), "/v2/stream/rc?filter=wiki=b");
  auto a2 = open_stream(d.port(), "/v2/stream/rc?filter=wiki=a");  // shared: not a third
  auto refused = http_get(d.port(), "/v2/stream/rc?filter=wiki=c");
  EXPECT_EQ(refused.head.status, 503);
  EXPECT_EQ(problem(refused)["type"], "unavailable");
  EXPECT_TRUE(refused.head.get("Retry-After"));
  // Streams without a filter are not affected.
  open_stream(d.port(), "/v2/stream/rc");
  // Once the stream on wiki=b closes, its filter goes (in the shared mode with the group that
  // read it) and wiki=c fits. 10 s: the daemon reads the client's FIN within milliseconds.
  b->close();
  ASSERT_TRUE(
      wait_for([&] { return metric_sum(d.port(), "eventstreams_filters_compiled") == 1; }, 10s))
      << d.stderr_text();
  auto c = open_stream(d.port(), "/v2/stream/rc?filter=wiki=c");
  EXPECT_NE(c->body().find(": filter wiki=c"), std::string::npos);
}

}  // namespace
}  // namespace eventstreams::test

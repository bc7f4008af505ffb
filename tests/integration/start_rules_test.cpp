// Where a stream starts (API.md §4, §5.3): `since` and each Last-Event-ID form, malformed and
// foreign ids, and positions outside the retained range.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// One daemon at debug level on a test-owned mock cluster, which answers every timestamp lookup
// with "end" (PLATFORM.md). Each test reads its own topics.
class StartRules : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<mock_cluster>(3);
    daemon_config cfg;
    cfg.bootstrap_servers = cluster_->bootstrap();
    cfg.log_level = "debug";
    cluster_->create_topics({{"rules.eqiad", 2},
                             {"rules.codfw", 2},
                             {"other.topic", 1},
                             {"empty.t", 2},
                             {"formats.t", 2},
                             {"since.t", 5},
                             {"range.t", 1}});
    cfg.streams = {{"rules", {"rules.eqiad", "rules.codfw"}, {}, false},
                   {"other", {"other.topic"}, {}, false},
                   {"empty", {"empty.t"}, {}, false},
                   {"formats", {"formats.t"}, {}, false},
                   {"since", {"since.t"}, {}, false},
                   {"range", {"range.t"}, {}, false}};
    // The shared mode: rings that keep 1 KiB of a partition, less than one of the large records
    // below, which they drop once read. An offset Kafka removed is then never in the rings,
    // however far the shared consumer got (rings that held it would serve it, with no gap,
    // docs/api.md §11, and end the stream at the consumer's ring break).
    cfg.fanout_settings = "  ring:\n    max_bytes_per_partition: 1KiB\n";
    daemon_ = std::make_unique<daemon_process>(cfg);
  }
  static void TearDownTestSuite() {
    daemon_.reset();
    cluster_.reset();
  }
  void SetUp() override { ASSERT_TRUE(daemon_ && daemon_->running()); }
  static std::uint16_t port() { return daemon_->port(); }

  // Writes `count` records to each of `partitions` partitions of `topic`, with old timestamps.
  static void produce_old(test_producer& p, const std::string& topic, int partitions, int count) {
    for (int i = 0; i < count; ++i) {
      for (int part = 0; part < partitions; ++part)
        p.produce(topic, part, R"({"old":)" + std::to_string(i) + "}", old_ts + i);
    }
    ASSERT_TRUE(p.flush());
  }

  // Opens `target` with `headers`, then writes one new record to each of `partitions` partitions
  // of `topic` and reads until all of them arrived. Returns the offsets delivered per partition
  // and the indexes of the new records in `p`.
  static std::map<std::int32_t, std::vector<std::int64_t>> read_through_new_records(
      test_producer& p, const std::string& target, const header_list& headers,
      const std::string& topic, int partitions, std::vector<std::size_t>& fresh) {
    std::map<std::int32_t, std::vector<std::int64_t>> got;
    auto c = open_stream(port(), target, headers);
    fresh.clear();
    for (int part = 0; part < partitions; ++part)
      fresh.push_back(p.produce(topic, part, R"({"new":true})", new_ts));
    EXPECT_TRUE(p.flush());
    auto all_new = [&](const sse_client& s) {
      std::size_t n = 0;
      for (const auto& ev : s.events()) {
        if (ev.type != "message")
          continue;  // a gap (docs/api.md "Gaps")
        auto meta = parse_json(ev.data)["meta"];
        for (auto i : fresh) {
          if (meta["partition"] == p.record(i).partition && meta["offset"] == p.record(i).offset)
            ++n;
        }
      }
      return n == fresh.size();
    };
    EXPECT_TRUE(c->read_until(all_new, 20s)) << describe(*c);  // milliseconds after the flush
    for (const auto& ev : c->events()) {
      if (ev.type != "message")
        continue;
      auto meta = parse_json(ev.data)["meta"];
      got[meta["partition"].get<std::int32_t>()].push_back(meta["offset"].get<std::int64_t>());
    }
    return got;
  }

  static constexpr std::int64_t old_ts = 1600000000000;  // 2020-09-13
  static constexpr std::int64_t new_ts = 1700000000000;  // 2023-11-14
  static std::unique_ptr<mock_cluster> cluster_;
  static std::unique_ptr<daemon_process> daemon_;
};
std::unique_ptr<mock_cluster> StartRules::cluster_;
std::unique_ptr<daemon_process> StartRules::daemon_;

// The problem JSON of a refused request.
nlohmann::json expect_problem(const http_result& r, int status, const std::string& type) {
  EXPECT_EQ(r.head.status, status) << r.body;
  auto j = parse_json(r.body);
  EXPECT_TRUE(j.is_object()) << r.body;
  if (!j.is_object())
    return nlohmann::json::object({{"detail", ""}});
  EXPECT_EQ(j["type"], type) << r.body;
  EXPECT_EQ(j["status"], status) << r.body;
  EXPECT_TRUE(j["detail"].is_string()) << r.body;
  return j;
}

TEST_F(StartRules, BadSinceIs400QuotingTheValue) {
  // {as sent in the URL, as decoded and quoted in the detail}
  for (const auto& [sent, shown] : std::vector<std::pair<std::string, std::string>>{
           {"yesterday", "yesterday"},
           {"2024-13-01", "2024-13-01"},
           {"1714564800000x", "1714564800000x"},
           {"2024-05-01T12:00", "2024-05-01T12:00"},
           {"-5", "-5"},
           {"2024-05-01T12:00:00%2B2", "2024-05-01T12:00:00+2"}}) {
    SCOPED_TRACE(sent);
    auto r = http_get(port(), "/v2/stream/rules?since=" + sent);
    auto j = expect_problem(r, 400, "invalid_timestamp");
    EXPECT_NE(j["detail"].get<std::string>().find("since=" + shown), std::string::npos) << r.body;
  }
  // Every documented form is accepted: a zone-less date-time is UTC, '+' in a query is a space
  // (2024-05-01 12:00:00), and an empty since= counts as absent.
  for (std::string good :
       {"1714564800000", "2024-05-01T12:00:00Z", "2024-05-01T14:00:00.250%2B02:00", "2024-05-01",
        "2024-05-01T12:00:00", "2024-05-01+12:00:00", "2024-05-01%2012:00:00", ""}) {
    SCOPED_TRACE(good);
    EXPECT_NO_THROW(open_stream(port(), "/v2/stream/rules?since=" + good));
  }
}

TEST_F(StartRules, MalformedLastEventIdIs400AndForeignTopicsAre404NamingThem) {
  for (std::string bad : {"not json", "{}", "[1]", "[{\"partition\":0,\"offset\":1}]",
                          R"([{"topic":"rules.eqiad","partition":"0","offset":1}])",
                          R"([{"topic":"rules.eqiad","partition":0,"offset":1.5}])",
                          R"([{"topic":"rules.eqiad","partition":0,"offset":-3}])"}) {
    SCOPED_TRACE(bad);
    expect_problem(http_get(port(), "/v2/stream/rules", {{"Last-Event-ID", bad}}), 400,
                   "invalid_last_event_id");
  }
  // A topic of another configured stream, an unknown one, and a bare topic string.
  for (std::string foreign : {"other.topic", "nowhere.topic"}) {
    SCOPED_TRACE(foreign);
    for (std::string id : {R"([{"topic":")" + foreign + R"(","partition":0,"offset":0}])",
                           R"(["rules.eqiad", ")" + foreign + R"("])"}) {
      auto r = http_get(port(), "/v2/stream/rules", {{"Last-Event-ID", id}});
      auto j = expect_problem(r, 404, "topic_not_allowed");
      EXPECT_NE(j["detail"].get<std::string>().find(foreign), std::string::npos) << r.body;
    }
  }
}

TEST_F(StartRules, EmptyLastEventIdCountsAsAbsent) {
  test_producer p(cluster_->bootstrap());
  produce_old(p, "empty.t", 2, 3);
  std::vector<std::size_t> fresh;
  for (std::string empty : {"", " "}) {
    SCOPED_TRACE("Last-Event-ID: '" + empty + "'");
    auto got = read_through_new_records(p, "/v2/stream/empty", {{"Last-Event-ID", empty}},
                                        "empty.t", 2, fresh);
    // The end: only the records written after connecting.
    for (int part = 0; part < 2; ++part)
      EXPECT_EQ(got[part], std::vector<std::int64_t>{p.record(fresh[part]).offset}) << part;
  }
}

TEST_F(StartRules, OriginalServiceFormatsAreAcceptedAndStartWhereTheRulesSay) {
  test_producer p(cluster_->bootstrap());
  produce_old(p, "formats.t", 2, 4);
  std::vector<std::size_t> fresh;
  auto upto = [&](std::size_t rec) {  // every offset of rec's partition from 0 through rec
    std::vector<std::int64_t> v;
    for (std::int64_t o = 0; o <= p.record(rec).offset; ++o)
      v.push_back(o);
    return v;
  };
  auto only = [&](std::size_t rec) { return std::vector<std::int64_t>{p.record(rec).offset}; };
  const std::string target = "/v2/stream/formats";
  {
    SCOPED_TRACE("offset -2 on partition 0: earliest there, the end elsewhere");
    auto got = read_through_new_records(
        p, target, {{"Last-Event-ID", R"([{"topic":"formats.t","partition":0,"offset":-2}])"}},
        "formats.t", 2, fresh);
    EXPECT_EQ(got[0], upto(fresh[0]));
    EXPECT_EQ(got[1], only(fresh[1]));
  }
  {
    SCOPED_TRACE("offset -2 without a partition: every partition of the topic from the earliest");
    auto got = read_through_new_records(
        p, target, {{"Last-Event-ID", R"([{"topic":"formats.t","offset":-2}])"}}, "formats.t", 2,
        fresh);
    EXPECT_EQ(got[0], upto(fresh[0]));
    EXPECT_EQ(got[1], upto(fresh[1]));
  }
  for (std::string id : {R"([{"topic":"formats.t","partition":1,"offset":-1}])", R"(["formats.t"])",
                         R"([{"topic":"formats.t","partition":0}])"}) {
    SCOPED_TRACE("the end: " + id);
    auto got = read_through_new_records(p, target, {{"Last-Event-ID", id}}, "formats.t", 2, fresh);
    EXPECT_EQ(got[0], only(fresh[0]));
    EXPECT_EQ(got[1], only(fresh[1]));
  }
  {
    // Timestamp only: looked up, and the mock answers "end". Its timestamp is carried into the
    // ids until the partition delivers a record.
    SCOPED_TRACE("timestamp only");
    const std::string id = R"([{"topic":"formats.t","partition":0,"timestamp":1500000000000}])";
    auto c = open_stream(port(), target, {{"Last-Event-ID", id}});
    auto first = p.produce("formats.t", 1, R"({"new":1})", new_ts + 1);
    ASSERT_TRUE(p.flush());
    ASSERT_TRUE(c->read_events(1)) << describe(*c);
    auto high0 = p.record(fresh[0]).offset + 1;
    EXPECT_TRUE(id_equals(c->events()[0].id, {{"formats.t", 0, high0, 1500000000000},
                                              {"formats.t", 1, p.record(first).offset + 1,
                                               p.record(first).timestamp}}));
    auto second = p.produce("formats.t", 0, R"({"new":2})", new_ts + 2);
    ASSERT_TRUE(p.flush());
    ASSERT_TRUE(c->read_events(2)) << describe(*c);
    EXPECT_EQ(parse_json(c->events()[1].data), expected_data(p.record(second)));
    EXPECT_EQ(c->events().size(), 2u);
  }
}

TEST_F(StartRules, SinceIsLookedUpInKafkaAndAnEndAnswerStartsAtTheEnd) {
  test_producer p(cluster_->bootstrap());
  produce_old(p, "since.t", 5, 3);
  const auto log_before = daemon_->stderr_text().size();
  std::vector<std::size_t> fresh;
  // On real Kafka this would start at the old records; the mock's lookup answers "end".
  auto got = read_through_new_records(p, "/v2/stream/since?since=" + std::to_string(old_ts - 1000),
                                      {}, "since.t", 5, fresh);
  for (int part = 0; part < 5; ++part)
    EXPECT_EQ(got[part], std::vector<std::int64_t>{p.record(fresh[part]).offset}) << part;
  // The daemon's real librdkafka lookup ran (5 = the partitions of since.t). It was logged before
  // the stream started, which it did above: the 5 s wait only rereads the log.
  EXPECT_TRUE(wait_for(
      [&] {
        return daemon_->stderr_text().find("kafka timestamp lookup for 5 partitions", log_before) !=
               std::string::npos;
      },
      5s))
      << daemon_->stderr_text().substr(log_before);
}

TEST_F(StartRules, OffsetsOutsideTheRetainedRangeStartAtTheEndOrTheEarliest) {
  test_producer p(cluster_->bootstrap());
  // The mock keeps about 5 MB per partition: 7 MB moves the low watermark past 0.
  const std::string big = R"({"pad":")" + std::string(100 * 1024, 'x') + "\"}";
  for (int i = 0; i < 70; ++i)
    p.produce("range.t", 0, big, old_ts + i);
  ASSERT_TRUE(p.flush(60s));  // 7 MB to the mock: well under a second; 60 s ends a failing test
  auto [low, high] = cluster_->watermarks("range.t", 0);
  ASSERT_GT(low, 0) << "the mock kept every record; high " << high;
  std::vector<std::size_t> fresh;
  auto header = [](std::int64_t offset, const std::string& extra) {
    return header_list{{"Last-Event-ID", R"([{"topic":"range.t","partition":0,"offset":)" +
                                             std::to_string(offset) + extra + "}]"}};
  };
  {
    SCOPED_TRACE("beyond the end");
    auto got = read_through_new_records(p, "/v2/stream/range", header(high + 1000, ""), "range.t",
                                        1, fresh);
    EXPECT_EQ(got[0], std::vector<std::int64_t>{p.record(fresh[0]).offset});
  }
  {
    SCOPED_TRACE("below the range, with a timestamp: by time (the mock answers the end)");
    auto got = read_through_new_records(p, "/v2/stream/range", header(0, R"(,"timestamp":1)"),
                                        "range.t", 1, fresh);
    EXPECT_EQ(got[0], std::vector<std::int64_t>{p.record(fresh[0]).offset});
  }
  {
    // Nothing is written meanwhile: an append could make the mock drop more old records.
    SCOPED_TRACE("below the range: the earliest retained record");
    std::tie(low, high) = cluster_->watermarks("range.t", 0);
    auto c = open_stream(port(), "/v2/stream/range", header(0, ""));
    // The gap event (gap_test.cpp checks it), then ~50 events of 100 KB from the retained
    // range: a fraction of a second.
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(high - low) + 1, 30s)) << describe(*c);
    EXPECT_EQ(c->events().front().type, "gap");
    std::int64_t next = low;
    for (std::size_t i = 1; i < c->events().size(); ++i)
      EXPECT_EQ(parse_json(c->events()[i].data)["meta"]["offset"], next++);
    EXPECT_EQ(next, high);
  }
}

}  // namespace
}  // namespace eventstreams::test

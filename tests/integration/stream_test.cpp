// Event delivery: order, data, ids, multi-stream requests, canary and non-JSON records.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

constexpr std::int64_t base_ts = 1700000000000;  // create times given to the records

// A JSON object with a meta the daemon must keep, and text that must survive the splice.
std::string payload(const std::string& topic, std::int32_t partition, int seq) {
  nlohmann::ordered_json j;
  j["$schema"] = "/test/event/1.0.0";
  j["meta"] = {{"domain", "test.example.org"},
               {"dt", "2024-01-01T00:00:00Z"},
               {"stream", "rc"},
               {"topic", "wrong-topic-replaced-by-the-daemon"}};
  j["seq"] = seq;
  j["where"] = topic + "/" + std::to_string(partition);
  j["text"] = "h\u00e9llo \"quoted\" back\\slash tab\t \U0001F389";
  j["nested"] = {{"a", {1, 2, {{"b", nullptr}}}}, {"meta", {{"offset", -5}}}};
  return j.dump();
}

// Checks every event of `c` against the records `p` produced and the position model `model`
// (updated as events are consumed).
void check_events(const sse_client& c, const test_producer& p, std::vector<position>& model) {
  std::map<std::tuple<std::string, std::int32_t, std::int64_t>, std::size_t> by_position;
  for (std::size_t i = 0; i < p.records().size(); ++i) {
    const auto& r = p.records()[i];
    by_position[{r.topic, r.partition, r.offset}] = i;
  }
  for (std::size_t i = 0; i < c.events().size(); ++i) {
    const auto& ev = c.events()[i];
    SCOPED_TRACE("event " + std::to_string(i) + ": id " + ev.id);
    EXPECT_EQ(ev.type, "message");
    ASSERT_TRUE(ev.has_id);
    auto data = parse_json(ev.data);
    ASSERT_FALSE(data.is_discarded()) << "data is not JSON: " << ev.data;
    ASSERT_TRUE(data.is_object());
    ASSERT_TRUE(data["meta"].is_object());
    const auto& meta = data["meta"];
    ASSERT_TRUE(meta["topic"].is_string() && meta["partition"].is_number_integer() &&
                meta["offset"].is_number_integer())
        << ev.data;
    std::string topic = meta["topic"];
    std::int32_t partition = meta["partition"];
    std::int64_t offset = meta["offset"];
    auto it = by_position.find({topic, partition, offset});
    ASSERT_NE(it, by_position.end())
        << "no record was produced at " << topic << "/" << partition << "@" << offset;
    const auto& rec = p.record(it->second);
    EXPECT_EQ(data, expected_data(rec));
    int idx = find_position(model, topic, partition);
    ASSERT_GE(idx, 0) << topic << "/" << partition << " is not in the model";
    auto& pos = model[static_cast<std::size_t>(idx)];
    // Per-partition order: exactly the next offset, none skipped, none repeated.
    ASSERT_EQ(offset, pos.offset) << "in " << topic << "/" << partition;
    pos.offset = offset + 1;
    pos.timestamp = rec.timestamp;
    ASSERT_TRUE(id_equals(ev.id, model));
  }
}

TEST(Stream, OrderedPerPartitionWithExactDataAndIds) {
  const std::vector<std::string> topics{"eqiad.test.rc", "codfw.test.rc"};
  daemon_config cfg;
  cfg.partitions = 3;
  cfg.streams = {{"rc", topics, {}, false}};
  daemon_process d(cfg);
  auto c = open_stream(d.port(), "/v2/stream/rc");
  ASSERT_EQ(c->comments(), std::vector<std::string>{"ok"});

  test_producer p(d.bootstrap());
  constexpr int per_partition = 40;
  for (int i = 0; i < per_partition; ++i) {
    for (const auto& t : topics) {
      for (std::int32_t part = 0; part < 3; ++part) {
        p.produce(t, part, payload(t, part, i), base_ts + i * 10 + part);
      }
    }
  }
  ASSERT_TRUE(p.flush());
  const std::size_t total = 6 * per_partition;
  // 240 small events arrive in well under a second; 30 s only ends a failing test.
  ASSERT_TRUE(c->read_events(total, 30s)) << describe(*c);
  EXPECT_EQ(c->events().size(), total);
  EXPECT_TRUE(c->protocol_error().empty()) << c->protocol_error();

  auto model = fresh_positions(topics, 3);  // fresh topics: every partition starts at 0
  check_events(*c, p, model);
  for (const auto& pos : model) {
    EXPECT_EQ(pos.offset, per_partition) << pos.topic << "/" << pos.partition << " incomplete";
  }
}

TEST(Stream, UntouchedPartitionsCarryTheirEndOffsetFromConnectTime) {
  const std::vector<std::string> topics{"eqiad.test.rc", "codfw.test.rc"};
  daemon_config cfg;
  cfg.partitions = 3;
  cfg.streams = {{"rc", topics, {}, false}};
  daemon_process d(cfg);
  test_producer p(d.bootstrap());
  // Records that exist before the client connects: the stream starts after them.
  for (int i = 0; i < 5; ++i)
    p.produce("eqiad.test.rc", 0, payload("e", 0, i), base_ts + i);
  for (int i = 0; i < 2; ++i)
    p.produce("eqiad.test.rc", 1, payload("e", 1, i), base_ts + i);
  for (int i = 0; i < 4; ++i)
    p.produce("codfw.test.rc", 2, payload("c", 2, i), base_ts + i);
  ASSERT_TRUE(p.flush());

  auto c = open_stream(d.port(), "/v2/stream/rc");
  auto first = p.produce("codfw.test.rc", 0, payload("c", 0, 100), base_ts + 1000);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(1)) << describe(*c);
  EXPECT_EQ(p.record(first).offset, 0);
  std::vector<position> model{
      {"eqiad.test.rc", 0, 5, std::nullopt}, {"eqiad.test.rc", 1, 2, std::nullopt},
      {"eqiad.test.rc", 2, 0, std::nullopt}, {"codfw.test.rc", 0, 1, base_ts + 1000},
      {"codfw.test.rc", 1, 0, std::nullopt}, {"codfw.test.rc", 2, 4, std::nullopt}};
  EXPECT_TRUE(id_equals(c->events()[0].id, model));
  EXPECT_EQ(parse_json(c->events()[0].data), expected_data(p.record(first)));

  // A partition with old records continues exactly after them.
  auto second = p.produce("eqiad.test.rc", 0, payload("e", 0, 101), base_ts + 2000);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(2)) << describe(*c);
  EXPECT_EQ(c->events().size(), 2u);
  EXPECT_EQ(p.record(second).offset, 5);
  model[0] = {"eqiad.test.rc", 0, 6, base_ts + 2000};
  EXPECT_TRUE(id_equals(c->events()[1].id, model));
  EXPECT_EQ(parse_json(c->events()[1].data), expected_data(p.record(second)));
}

TEST(Stream, CommaListReadsSeveralStreamsInRequestOrderAndAliasesWork) {
  daemon_config cfg;
  cfg.streams = {{"alpha", {"alpha.events"}, {"al"}, false}, {"beta", {"beta.events"}, {}, false}};
  daemon_process d(cfg);
  auto both = open_stream(d.port(), "/v2/stream/alpha,beta");
  auto reversed = open_stream(d.port(), "/v2/stream/beta,al");
  auto alias = open_stream(d.port(), "/v2/stream/al");
  auto dedup = open_stream(d.port(), "/v2/stream/alpha,al");
  auto encoded = open_stream(d.port(), "/v2/stream/alpha%2Cbeta");

  test_producer p(d.bootstrap());
  for (int i = 0; i < 3; ++i) {
    p.produce("alpha.events", 0, R"({"from":"alpha","i":)" + std::to_string(i) + "}", base_ts + i);
    p.produce("beta.events", 0, R"({"from":"beta","i":)" + std::to_string(i) + "}", base_ts + i);
  }
  ASSERT_TRUE(p.flush());

  struct expectation {
    sse_client* client;
    std::vector<std::string> topics;
  };
  std::vector<expectation> cases{{both.get(), {"alpha.events", "beta.events"}},
                                 {reversed.get(), {"beta.events", "alpha.events"}},
                                 {alias.get(), {"alpha.events"}},
                                 {dedup.get(), {"alpha.events"}},
                                 {encoded.get(), {"alpha.events", "beta.events"}}};
  for (auto& [client, want_topics] : cases) {
    SCOPED_TRACE("topics " + want_topics.front() + "...");
    std::size_t want = 3 * want_topics.size();
    ASSERT_TRUE(client->read_events(want)) << describe(*client);
    EXPECT_EQ(client->events().size(), want);
    auto model = fresh_positions(want_topics, 1);
    check_events(*client, p, model);
    for (const auto& pos : model)
      EXPECT_EQ(pos.offset, 3) << pos.topic;
  }
}

TEST(Stream, CanaryEventsAreDroppedByDefaultButStillAdvanceThePosition) {
  daemon_config cfg;
  cfg.partitions = 2;
  cfg.streams = {{"plain", {"canary.plain"}, {}, false}, {"probes", {"canary.probes"}, {}, true}};
  daemon_process d(cfg);
  auto plain = open_stream(d.port(), "/v2/stream/plain");
  auto probes = open_stream(d.port(), "/v2/stream/probes");

  const std::string normal = R"({"meta":{"domain":"en.wikipedia.org"},"n":1})";
  const std::string canary = R"({"meta":{"domain":"canary","dt":"x"},"n":2})";
  // "canary" outside meta.domain is an ordinary event.
  const std::string lookalike = R"({"domain":"canary","meta":{"domain":"canary.example"},"n":3})";
  test_producer p(d.bootstrap());
  for (const auto* topic : {"canary.plain", "canary.probes"}) {
    p.produce(topic, 0, normal, base_ts + 1);
    p.produce(topic, 0, canary, base_ts + 2);
    p.produce(topic, 0, lookalike, base_ts + 3);
  }
  ASSERT_TRUE(p.flush());

  ASSERT_TRUE(probes->read_events(3)) << describe(*probes);
  auto probes_model = fresh_positions({"canary.probes"}, 2);
  check_events(*probes, p, probes_model);
  EXPECT_EQ(parse_json(probes->events()[1].data)["meta"]["domain"], "canary");

  ASSERT_TRUE(plain->read_events(2)) << describe(*plain);
  ASSERT_EQ(plain->events().size(), 2u);
  EXPECT_EQ(parse_json(plain->events()[0].data), expected_data(p.record(0)));
  EXPECT_EQ(parse_json(plain->events()[1].data), expected_data(p.record(2)));
  // The dropped canary (offset 1) is behind the position: the second event's id says offset 3.
  EXPECT_TRUE(id_equals(plain->events()[1].id, {{"canary.plain", 0, 3, base_ts + 3},
                                                {"canary.plain", 1, 0, std::nullopt}}));

  // A canary that is the last record of its partition: it is never delivered, yet the ids of
  // events from the other partition must come to show partition 0 past it (offset 4).
  auto last_canary = p.produce("canary.plain", 0, canary, base_ts + 4);
  ASSERT_TRUE(p.flush());
  ASSERT_EQ(p.record(last_canary).offset, 3);
  bool advanced = wait_for(
      [&] {
        std::size_t before = plain->events().size();
        p.produce("canary.plain", 1, normal, base_ts + 5);
        if (!p.flush() || !plain->read_events(before + 1))
          return true;  // fails below
        auto id = parse_json(plain->events().back().id);
        return id.is_array() && id.size() == 2 && id[0]["offset"] == 4;
      },
      10s, 20ms);  // a few rounds of milliseconds each; 10 s only ends a failing test
  EXPECT_TRUE(advanced) << describe(*plain);
  for (const auto& ev : plain->events()) {
    EXPECT_NE(parse_json(ev.data)["meta"]["domain"], "canary") << ev.data;
  }
  auto id = parse_json(plain->events().back().id);
  EXPECT_EQ(id[0]["offset"], 4) << id.dump();
  EXPECT_EQ(id[1]["offset"], static_cast<std::int64_t>(plain->events().size()) - 2) << id.dump();
}

TEST(Stream, RecordsThatAreNotJsonObjectsAreSkippedAndTheStreamGoesOn) {
  daemon_config cfg;
  cfg.streams = {{"mixed", {"mixed.events"}, {}, false}};
  daemon_process d(cfg);
  auto c = open_stream(d.port(), "/v2/stream/mixed");

  test_producer p(d.bootstrap());
  std::vector<std::size_t> valid;
  valid.push_back(p.produce("mixed.events", 0, R"({"n":0})", base_ts));
  for (const char* junk : {"not json", "[1,2]", "\"str\"", "", "42", "{\"a\":1", "{\"a\":1} {}",
                           "{\"a\":1}x", "null"}) {
    p.produce("mixed.events", 0, junk, base_ts);
  }
  p.produce("mixed.events", 0, "", base_ts, /*null_value=*/true);
  valid.push_back(p.produce("mixed.events", 0, "{}", base_ts + 1));
  valid.push_back(
      p.produce("mixed.events", 0, "{\r\n  \"n\": 2,\r\n  \"s\": \"a b\"\r\n}", base_ts + 2));
  valid.push_back(p.produce("mixed.events", 0, R"({"n":3})", base_ts + 3));
  ASSERT_TRUE(p.flush());

  ASSERT_TRUE(c->read_events(valid.size())) << describe(*c);
  ASSERT_EQ(c->events().size(), valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto& rec = p.record(valid[i]);
    const auto& ev = c->events()[i];
    EXPECT_EQ(parse_json(ev.data), expected_data(rec)) << ev.data;
    EXPECT_EQ(ev.data.find('\r'), std::string::npos) << "raw CR in data";
    EXPECT_TRUE(id_equals(ev.id, {{"mixed.events", 0, rec.offset + 1, rec.timestamp}}));
  }
  EXPECT_EQ(p.record(valid[1]).offset, 11);  // 10 skipped records before it
  EXPECT_FALSE(c->eof());

  // Still streaming afterwards.
  auto later = p.produce("mixed.events", 0, R"({"n":4})", base_ts + 4);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(valid.size() + 1)) << describe(*c);
  EXPECT_EQ(parse_json(c->events().back().data), expected_data(p.record(later)));
}

// librdkafka 2.0 parks a consumer's fetchers once its queue holds queued.max.messages.kbytes and
// looks again only about once a second; the daemon restarts them when the reader has caught
// up. Here every Fetch (up to 32 KB) overshoots the 16 KB cap, so the fetchers park after each
// one: without the restarts a client resuming 3 MB behind gets a few hundred events in 15 s
// (measured); with them, the whole backlog in order, exactly once, in well under a second.
TEST(Stream, BacklogFarLargerThanThePrefetchCapArrivesWithoutStallsExactlyOnce) {
  const std::vector<std::string> topics{"eqiad.test.backlog"};
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.partitions = 4;
  cfg.streams = {{"backlog", topics, {}, false}};
  cfg.kafka_properties = {{"queued.max.messages.kbytes", "16"},
                          {"fetch.max.bytes", "32768"},
                          {"message.max.bytes", "32768"}};
  daemon_process d(cfg);

  test_producer p(d.bootstrap());
  const std::string filler(900, 'x');
  constexpr int per_partition = 750;
  // Small batches (one flush per 20 records): the embedded cluster answers a Fetch with one
  // producer batch per partition, so each Fetch brings about 20-40 KB.
  for (int i = 0; i < per_partition; i += 5) {
    for (int j = i; j < i + 5; ++j) {
      for (std::int32_t part = 0; part < 4; ++part) {
        nlohmann::json v{{"seq", j}, {"partition", part}, {"filler", filler}};
        p.produce(topics[0], part, v.dump(), base_ts + j);
      }
    }
    ASSERT_TRUE(p.flush());
  }
  // Resume from the start of every partition: the whole backlog is there at connect.
  auto model = fresh_positions(topics, 4);
  auto started = std::chrono::steady_clock::now();
  auto c = open_stream(d.port(), "/v2/stream/backlog", {{"Last-Event-ID", id_json(model).dump()}});
  const std::size_t total = 4 * per_partition;
  // With the restarts the 3 MB arrive in about 50 ms (measured); without them a few hundred of
  // the 3,000 events arrive in 15 s. 15 s is 300 times the first and a tenth of the second. How
  // fast a reader catches up is a benchmark figure (bench/run, throughput), not a bound here.
  ASSERT_TRUE(c->read_events(total, 15s)) << describe(*c) << "\nafter " << c->events().size();
  EXPECT_EQ(c->events().size(), total);
  check_events(*c, p, model);
  for (const auto& pos : model)
    EXPECT_EQ(pos.offset, per_partition) << pos.topic << "/" << pos.partition << " incomplete";
  if (cfg.fanout_mode == "shared") {
    // The shared consumer read the backlog as it came: the resume is replayed from its rings
    // (docs/api.md §11), with no consumer of its own to restart.
    EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 1);
  } else {
    auto restarts = metric_sum(d.port(), "eventstreams_kafka_fetch_restarts_total");
    EXPECT_GT(restarts, 0) << "the fetchers were never restarted";  // the counter is exact
  }
  trace("3 MB backlog through a 16 KB cap", started);
}

}  // namespace
}  // namespace eventstreams::test

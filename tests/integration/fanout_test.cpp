// The shared delivery mode (docs/api.md §11) against the per-connection one: the same bytes for
// the same requests, one splice per record whatever the number of clients, which requests the
// hub serves, and a client far behind its group ended after a complete event without loss.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "tcp_diag.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using namespace std::chrono_literals;

// A recentchange-like record; every 17th a canary, every 29th not JSON at all.
std::string value_for(int n, const std::string& where) {
  if (n % 29 == 28)
    return "not json " + std::to_string(n);
  nlohmann::ordered_json j;
  j["$schema"] = "/test/event/1.0.0";
  j["meta"] = {{"domain", n % 17 == 16 ? "canary" : "en.wikipedia.org"}, {"stream", "rc"}};
  j["n"] = n;
  j["where"] = where;
  j["wiki"] = "w" + std::to_string(n % 7);
  j["text"] = std::string(static_cast<std::size_t>(50 + n % 200), 'x') + " h\u00e9llo \"q\"";
  return j.dump();
}

bool is_event(int n) {
  return n % 29 != 28 && n % 17 != 16;
}

daemon_config on(const mock_cluster& cluster, const std::string& mode,
                 std::vector<stream_def> streams) {
  auto cfg = on_cluster(cluster.bootstrap(), std::move(streams));
  cfg.brokers = 1;
  cfg.fanout_mode = mode;
  return cfg;
}

// The daemon's YAML with `settings` (lines indented by two) added to its fanout: section.
std::string with_fanout(const daemon_config& cfg, const std::string& settings) {
  auto yaml = cfg.to_yaml();
  auto at = yaml.find("fanout:\n");
  if (at == std::string::npos)
    throw std::runtime_error("no fanout: section in\n" + yaml);
  yaml.insert(at + 8, settings);
  return yaml;
}

// The positions an id block holds, as a model.
std::vector<position> positions_of(const std::string& id) {
  std::vector<position> out;
  auto j = parse_json(id);
  for (const auto& e : j) {
    position p{e["topic"], e["partition"], e["offset"], std::nullopt};
    if (e.contains("timestamp"))
      p.timestamp = e["timestamp"].get<std::int64_t>();
    out.push_back(p);
  }
  return out;
}

// A request's filter, as a model of the event (empty: none).
using filter_model = std::function<bool(const nlohmann::json&)>;

// Whether a stream reading `topic` skips this record (not JSON, a canary of a topic whose
// stream drops them, or one its filter does not match) rather than sending it.
bool skipped(const produced_record& r, bool pass_canary, const filter_model& filter) {
  auto j = parse_json(r.value);
  if (!j.is_object())
    return true;
  if (!pass_canary && j["meta"]["domain"] == "canary")
    return true;
  return filter && !filter(j);
}

using per_partition = std::map<std::pair<std::string, int>, std::vector<std::int64_t>>;

// Per partition, the offsets of the events `c` received. Checks that every id equals the
// positions implied by the start block and the records before it on that connection: the
// event's own partition at its offset + 1 with its timestamp, every other partition moved
// only over records the stream skips (docs/api.md §5.2).
per_partition check_ids(const sse_client& c, const test_producer& p,
                        const std::string& canary_topic, const filter_model& filter = {}) {
  per_partition got;
  if (c.id_blocks().empty()) {
    ADD_FAILURE() << "no start block: " << describe(c);
    return got;
  }
  std::map<std::tuple<std::string, int, std::int64_t>, const produced_record*> produced;
  for (const auto& r : p.records())
    produced[{r.topic, r.partition, r.offset}] = &r;
  auto moved_over_skipped_only = [&](const position& from, const position& to) {
    for (auto o = from.offset; o < to.offset; ++o) {
      auto it = produced.find({from.topic, from.partition, o});
      if (it == produced.end() || !skipped(*it->second, from.topic == canary_topic, filter))
        return false;
    }
    if (to.offset == from.offset)
      return to.timestamp == from.timestamp;
    return to.timestamp == produced.at({to.topic, to.partition, to.offset - 1})->timestamp;
  };
  auto before = positions_of(c.id_blocks()[0]);
  for (const auto& ev : c.events()) {
    auto data = parse_json(ev.data);
    std::string topic = data["meta"]["topic"];
    int partition = data["meta"]["partition"];
    std::int64_t offset = data["meta"]["offset"];
    got[{topic, partition}].push_back(offset);
    auto id = positions_of(ev.id);
    if (id.size() != before.size()) {
      ADD_FAILURE() << "id " << ev.id;
      return got;
    }
    for (std::size_t i = 0; i < id.size(); ++i) {
      bool own = id[i].topic == topic && id[i].partition == partition;
      auto from = before[i];
      if (own) {
        // Skipped records before the event, then the event.
        auto event_pos = id[i];
        event_pos.offset = offset;
        event_pos.timestamp = offset > from.offset
                                  ? produced.at({topic, partition, offset - 1})->timestamp
                                  : from.timestamp;
        if (id[i].offset != offset + 1 ||
            id[i].timestamp != produced.at({topic, partition, offset})->timestamp ||
            !moved_over_skipped_only(from, event_pos)) {
          ADD_FAILURE() << "id " << ev.id << " after " << topic << "/" << partition << "@"
                        << offset;
          return got;
        }
      } else if (!moved_over_skipped_only(from, id[i])) {
        ADD_FAILURE() << "id " << ev.id << ": " << id[i].topic << "/" << id[i].partition
                      << " moved over an event";
        return got;
      }
    }
    before = id;
  }
  return got;
}

TEST(Fanout, SinglePartitionStreamIsByteForByteTheSameInBothModes) {
  mock_cluster cluster(1);
  cluster.create_topic("diff.one", 1);
  const std::vector<stream_def> streams{{"one", {"diff.one"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  daemon_process shared(on(cluster, "shared", streams));
  auto a = open_stream(per.port(), "/v2/stream/one");
  auto b = open_stream(shared.port(), "/v2/stream/one");
  auto a10 = open_stream(per.port(), "/v2/stream/one", {}, 10);  // HTTP/1.0: no chunking
  auto b10 = open_stream(shared.port(), "/v2/stream/one", {}, 10);
  test_producer p(cluster.bootstrap());
  constexpr int total = 3000;
  int events = 0;
  for (int n = 0; n < total; ++n) {
    p.produce("diff.one", 0, value_for(n, "one"), 1700000000000 + n);
    events += is_event(n);
    if (n % 500 == 499) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  for (auto* c : {a.get(), b.get(), a10.get(), b10.get()})
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(events), 60s)) << describe(*c);
  // The same start block, the same events, the same ids, byte for byte.
  EXPECT_EQ(a->body(), b->body());
  EXPECT_EQ(a10->body(), b10->body());
  EXPECT_EQ(a->body(), a10->body());
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_streams_opened_total", "mode=\"shared\""), 2);
  EXPECT_EQ(metric_sum(per.port(), "eventstreams_streams_opened_total", "mode=\"shared\""), 0);
}

// Filtered streams (docs/api.md §11, "Filters in the shared mode"): the hub evaluates each
// distinct filter once per record, only those its equality index leaves, and steps the groups of
// those that match; the others' positions catch up before their next event. The bytes, ids
// included, are those of per-connection streams with the same filters.
TEST(Fanout, FilteredStreamsAreByteForByteTheSameInBothModes) {
  mock_cluster cluster(1);
  cluster.create_topic("diff.f", 1);
  const std::vector<stream_def> streams{{"f", {"diff.f"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  daemon_process shared(on(cluster, "shared", streams));
  struct case_t {
    std::string filter;  // as sent (percent-encoded where needed)
    std::function<bool(int)> matches;
  };
  // Two the index serves (one value, two values and a second predicate), two it cannot (an OR,
  // a negation): evaluated on every record.
  const std::vector<case_t> cases = {
      {"wiki=w3", [](int n) { return n % 7 == 3; }},
      {"wiki=w1,w2;n%3E100", [](int n) { return (n % 7 == 1 || n % 7 == 2) && n > 100; }},
      {"n%3E=2000|wiki=w5", [](int n) { return n >= 2000 || n % 7 == 5; }},
      {"!(wiki=w0)", [](int n) { return n % 7 != 0; }},
  };
  struct clients {
    std::unique_ptr<sse_client> per, shared, shared_too;
    std::size_t events = 0;
  };
  std::vector<clients> open;
  for (const auto& c : cases) {
    const auto target = "/v2/stream/f?filter=" + c.filter;
    open.push_back({open_stream(per.port(), target), open_stream(shared.port(), target),
                    open_stream(shared.port(), target)});
  }
  test_producer p(cluster.bootstrap());
  constexpr int total = 3000;
  for (int n = 0; n < total; ++n) {
    p.produce("diff.f", 0, value_for(n, "f"), 1700000000000 + n);
    for (std::size_t i = 0; i < cases.size(); ++i)
      open[i].events += is_event(n) && cases[i].matches(n);
    if (n % 500 == 499) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].filter);
    auto& o = open[i];
    for (auto* c : {o.per.get(), o.shared.get(), o.shared_too.get()})
      ASSERT_TRUE(c->read_events(o.events, 60s)) << describe(*c);
    EXPECT_EQ(o.per->events().size(), o.events);
    EXPECT_EQ(o.per->body(), o.shared->body());
    EXPECT_EQ(o.shared->body(), o.shared_too->body());
  }
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_streams_opened_total", "mode=\"shared\""),
            2.0 * static_cast<double>(cases.size()));
  // Each JSON record: the two filters the index cannot rule out, and at most one of the other
  // two (a record has one wiki). Without the index it would be four.
  const auto evaluations =
      metric_sum(shared.port(), "eventstreams_fanout_filter_evaluations_total");
  EXPECT_GE(evaluations, 2.0 * total * 28 / 29);
  EXPECT_LE(evaluations, 3.0 * total);
}

TEST(Fanout, StreamsOverSeveralPartitionsCarryTheSameEventsPerPartitionWithExactIds) {
  mock_cluster cluster(1);
  cluster.create_topics({{"diff.a", 3}, {"diff.b", 3}});
  const std::vector<stream_def> streams{{"a", {"diff.a"}, {}, false}, {"b", {"diff.b"}, {}, true}};
  daemon_process per(on(cluster, "per_connection", streams));
  daemon_process shared(on(cluster, "shared", streams));
  std::vector<std::unique_ptr<sse_client>> per_clients, shared_clients;
  for (auto* d : {&per, &shared}) {
    auto& list = d == &per ? per_clients : shared_clients;
    list.push_back(open_stream(d->port(), "/v2/stream/a,b"));
    list.push_back(open_stream(d->port(), "/v2/stream/b,a"));
    list.push_back(
        open_stream(d->port(), "/v2/stream/a,b", {{"Accept", "application/json"}}, 11, false));
  }
  test_producer p(cluster.bootstrap());
  constexpr int total = 3000;
  std::map<std::string, int> events;  // by topic: diff.b passes canaries
  for (int n = 0; n < total; ++n) {
    std::string topic = n % 2 ? "diff.b" : "diff.a";
    auto partition = (n / 2) % 3;
    p.produce(topic, partition, value_for(n, topic), 1700000000000 + n);
    events[topic] += topic == "diff.b" ? n % 29 != 28 : is_event(n);
    if (n % 500 == 499) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  const auto all = static_cast<std::size_t>(events["diff.a"] + events["diff.b"]);
  for (auto* list : {&per_clients, &shared_clients}) {
    for (std::size_t i = 0; i < 2; ++i)
      ASSERT_TRUE((*list)[i]->read_events(all, 60s)) << describe(*(*list)[i]);
    ASSERT_TRUE(
        (*list)[2]->read_until([&](const sse_client& s) { return s.lines().size() >= all; }, 60s))
        << describe(*(*list)[2]);
  }
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    auto per_got = check_ids(*per_clients[i], p, "diff.b");
    auto shared_got = check_ids(*shared_clients[i], p, "diff.b");
    EXPECT_EQ(per_got, shared_got);  // each partition: the same events in the same order
    EXPECT_EQ(per_clients[i]->id_blocks()[0], shared_clients[i]->id_blocks()[0]);
  }
  // NDJSON: no ids; per partition the same lines in the same order.
  auto by_partition = [](const sse_client& c) {
    std::map<std::pair<std::string, int>, std::vector<std::string>> out;
    for (const auto& line : c.lines()) {
      auto j = parse_json(line);
      out[{j["meta"]["topic"], j["meta"]["partition"]}].push_back(line);
    }
    return out;
  };
  EXPECT_EQ(by_partition(*per_clients[2]), by_partition(*shared_clients[2]));
}

// Filtered streams over several partitions and topics: a group whose filter rejects records of
// one partition moves that partition's position before its next event on another (the hub
// brings it up to date then), so every id is exact.
TEST(Fanout, FilteredStreamsOverSeveralPartitionsCarryExactIds) {
  mock_cluster cluster(1);
  cluster.create_topics({{"fdiff.a", 3}, {"fdiff.b", 2}});
  const std::vector<stream_def> streams{{"a", {"fdiff.a"}, {}, false},
                                        {"b", {"fdiff.b"}, {}, true}};
  daemon_process per(on(cluster, "per_connection", streams));
  daemon_process shared(on(cluster, "shared", streams));
  struct case_t {
    std::string filter;
    filter_model model;
  };
  const std::vector<case_t> cases = {
      {"wiki=w3", [](const nlohmann::json& j) { return j["wiki"] == "w3"; }},
      {"!(wiki=w0)", [](const nlohmann::json& j) { return j["wiki"] != "w0"; }},
  };
  std::vector<std::unique_ptr<sse_client>> per_clients, shared_clients;
  for (const auto& c : cases) {
    per_clients.push_back(open_stream(per.port(), "/v2/stream/a,b?filter=" + c.filter));
    shared_clients.push_back(open_stream(shared.port(), "/v2/stream/a,b?filter=" + c.filter));
  }
  test_producer p(cluster.bootstrap());
  constexpr int total = 3000;
  std::vector<std::size_t> events(cases.size(), 0);
  for (int n = 0; n < total; ++n) {
    std::string topic = n % 3 ? "fdiff.a" : "fdiff.b";
    auto partition = topic == "fdiff.a" ? (n / 3) % 3 : (n / 3) % 2;
    auto at = p.produce(topic, partition, value_for(n, topic), 1700000000000 + n);
    for (std::size_t i = 0; i < cases.size(); ++i)
      events[i] += !skipped(p.record(at), topic == "fdiff.b", cases[i].model);
    if (n % 500 == 499) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].filter);
    ASSERT_TRUE(per_clients[i]->read_events(events[i], 60s)) << describe(*per_clients[i]);
    ASSERT_TRUE(shared_clients[i]->read_events(events[i], 60s)) << describe(*shared_clients[i]);
    auto per_got = check_ids(*per_clients[i], p, "fdiff.b", cases[i].model);
    auto shared_got = check_ids(*shared_clients[i], p, "fdiff.b", cases[i].model);
    EXPECT_EQ(per_got, shared_got);
    EXPECT_EQ(per_clients[i]->id_blocks()[0], shared_clients[i]->id_blocks()[0]);
  }
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_streams_opened_total", "mode=\"shared\""),
            static_cast<double>(cases.size()));
}

// The records a filter rejected on one partition are in the id of the next event on another,
// in both modes: the hub brings a group's positions up to date before it steps an event.
TEST(Fanout, AFilteredEventsIdCoversTheRecordsRejectedBeforeItOnOtherPartitions) {
  mock_cluster cluster(1);
  cluster.create_topic("fskip.t", 2);
  const std::vector<stream_def> streams{{"s", {"fskip.t"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  daemon_process shared(on(cluster, "shared", streams));
  auto a = open_stream(per.port(), "/v2/stream/s?filter=wiki=w3");
  auto b = open_stream(shared.port(), "/v2/stream/s?filter=wiki=w3");
  test_producer p(cluster.bootstrap());
  constexpr int rejected = 50;
  for (int k = 0; k < rejected; ++k)
    p.produce("fskip.t", 0, value_for(7 * k, "s"), 1700000000000 + k);  // wiki w0
  ASSERT_TRUE(p.flush());
  // Both have read them (bounded: a fetch round trip).
  ASSERT_TRUE(wait_for(
      [&] {
        return metric_sum(per.port(), "eventstreams_events_skipped_total") >= rejected &&
               metric_sum(shared.port(), "eventstreams_fanout_records_total") >= rejected;
      },
      10s));
  p.produce("fskip.t", 1, value_for(3, "s"), 1700000001000);  // wiki w3
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(a->read_events(1, 10s)) << describe(*a);
  ASSERT_TRUE(b->read_events(1, 10s)) << describe(*b);
  const std::vector<position> want{{"fskip.t", 0, rejected, 1700000000000 + rejected - 1},
                                   {"fskip.t", 1, 1, 1700000001000}};
  EXPECT_TRUE(positions_of(a->events()[0].id) == want) << a->events()[0].id;
  EXPECT_EQ(b->events()[0].id, a->events()[0].id);
}

TEST(Fanout, EachRecordIsSplicedOnceWhateverTheNumberOfClients) {
  mock_cluster cluster(1);
  cluster.create_topic("once.t", 2);
  daemon_process d(on(cluster, "shared", {{"once", {"once.t"}, {}, false}}));
  std::vector<std::unique_ptr<sse_client>> clients;
  for (int i = 0; i < 20; ++i)
    clients.push_back(open_stream(d.port(), "/v2/stream/once"));
  test_producer p(cluster.bootstrap());
  constexpr int total = 400;
  int events = 0;
  for (int n = 0; n < total; ++n) {
    p.produce("once.t", n % 2, value_for(n, "once"), 1700000000000 + n);
    events += is_event(n);
  }
  ASSERT_TRUE(p.flush());
  for (auto& c : clients)
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(events), 30s)) << describe(*c);
  for (auto& c : clients)
    EXPECT_EQ(c->body(), clients[0]->body());
  // One consumer read each record once for 20 clients, and they shared one group.
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_records_total"), total);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_cohorts"), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_opened_total", "mode=\"shared\""), 20);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_events_sent_total"), 20.0 * events);
  // Every client was woken to write (one write per wake), at most once per record.
  const double wakes = metric_sum(d.port(), "eventstreams_fanout_wakes_total");
  EXPECT_GE(wakes, 20);
  EXPECT_LE(wakes, 20.0 * total);
}

TEST(Fanout, WithAFlushDelayEveryEventStillArrivesAndTheBytesAreTheSame) {
  // fanout.flush_delay holds the shards' wake-ups to batch writes: nothing may be held forever
  // or lost, and the bytes do not change.
  mock_cluster cluster(1);
  cluster.create_topic("delay.t", 2);
  const std::vector<stream_def> streams{{"delay", {"delay.t"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  auto yaml = with_fanout(on(cluster, "shared", streams), "  flush_delay: 50ms\n");
  daemon_process shared(yaml);
  auto a = open_stream(per.port(), "/v2/stream/delay");
  std::vector<std::unique_ptr<sse_client>> delayed;
  for (int i = 0; i < 3; ++i)
    delayed.push_back(open_stream(shared.port(), "/v2/stream/delay"));
  test_producer p(cluster.bootstrap());
  int events = 0;
  for (int n = 0; n < 600; ++n) {
    p.produce("delay.t", 0, value_for(n, "delay"), 1700000000000 + n);  // one partition: one order
    events += is_event(n);
    if (n % 100 == 99) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(a->read_events(static_cast<std::size_t>(events), 30s)) << describe(*a);
  for (auto& c : delayed) {
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(events), 30s)) << describe(*c);
    EXPECT_EQ(c->body(), a->body());
  }
  // The delay gathered the events of several records into each write: fewer wakes than events
  // (records came in bursts of 100, each read in a few Fetches, each wake held 50 ms).
  const double wakes = metric_sum(shared.port(), "eventstreams_fanout_wakes_total");
  EXPECT_GT(wakes, 0);
  EXPECT_LT(wakes, metric_sum(shared.port(), "eventstreams_events_sent_total"));
}

TEST(Fanout, RequestsMixingModesAreServedPerConnectionAndResumesByTheSharedConsumer) {
  mock_cluster cluster(1);
  cluster.create_topics({{"mix.s", 1}, {"mix.p", 1}});
  auto cfg =
      on(cluster, "per_connection", {{"s", {"mix.s"}, {}, false}, {"p", {"mix.p"}, {}, false}});
  // One stream shared, the other per connection (docs/api.md §11).
  auto yaml = cfg.to_yaml();
  auto at = yaml.find("  s:\n");
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.insert(at + 5, "    fanout: shared\n");
  daemon_process d(yaml);
  auto shared = open_stream(d.port(), "/v2/stream/s");
  auto mixed = open_stream(d.port(), "/v2/stream/s,p");
  // Both start where the shared consumer started (the topic is empty): its rings serve them.
  auto resumed =
      open_stream(d.port(), "/v2/stream/s",
                  {{"Last-Event-ID", R"([{"topic":"mix.s","partition":0,"offset":0}])"}});
  auto since = open_stream(d.port(), "/v2/stream/s?since=1700000000000");
  // A filtered resume too, unless its filter reads $key: the rings keep no record keys, so
  // that one is served per connection.
  const header_list at_zero{{"Last-Event-ID", R"([{"topic":"mix.s","partition":0,"offset":0}])"}};
  auto filtered = open_stream(d.port(), "/v2/stream/s?filter=n=0", at_zero);
  auto keyed = open_stream(d.port(), "/v2/stream/s?filter=$key!=zz", at_zero);
  test_producer p(cluster.bootstrap());
  p.produce("mix.s", 0, value_for(0, "s"), 1700000000000);
  ASSERT_TRUE(p.flush());
  const std::vector<sse_client*> resumes{resumed.get(), since.get(), filtered.get(), keyed.get()};
  for (auto* c : {shared.get(), mixed.get()})
    ASSERT_TRUE(c->read_events(1, 20s)) << describe(*c);
  for (auto* c : resumes)
    ASSERT_TRUE(c->read_events(1, 20s)) << describe(*c);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_opened_total", "mode=\"shared\""), 4);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_opened_total", "mode=\"per_connection\""),
            2);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 3);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 1);
  EXPECT_EQ(shared->events()[0].data, mixed->events()[0].data);
  for (auto* c : resumes)
    EXPECT_EQ(shared->events()[0].data, c->events()[0].data);
}

// Resumes (Last-Event-ID) whose records the shared consumer's rings hold are replayed from them
// (docs/api.md §11): the same events and ids as a per-connection stream from the same id, byte
// for byte on one partition and per partition on several, through many pulls of a small window.
TEST(Fanout, ResumesInsideTheRingsAreReplayedFromThemWithThePerConnectionBytes) {
  mock_cluster cluster(1);
  cluster.create_topics({{"rr.one", 1}, {"rr.a", 3}, {"rr.b", 2}});
  const std::vector<stream_def> streams{
      {"one", {"rr.one"}, {}, false}, {"a", {"rr.a"}, {}, false}, {"b", {"rr.b"}, {}, true}};
  daemon_process per(on(cluster, "per_connection", streams));
  auto yaml = with_fanout(on(cluster, "shared", streams),
                          "  cohort_window: 64KiB\n");  // a replay of ~600 KB: many pulls
  daemon_process shared(yaml);
  auto one = open_stream(per.port(), "/v2/stream/one");
  auto ab = open_stream(per.port(), "/v2/stream/a,b");
  // The shared consumer reads from its start; a live client shows it is up.
  auto live = open_stream(shared.port(), "/v2/stream/one");
  test_producer p(cluster.bootstrap());
  constexpr int total = 4500;
  std::size_t one_events = 0, ab_events = 0;
  for (int n = 0; n < total; ++n) {
    if (n % 3 == 0) {
      p.produce("rr.one", 0, value_for(n, "one"), 1700000000000 + n);
      one_events += is_event(n);
    } else {
      std::string topic = n % 3 == 1 ? "rr.a" : "rr.b";
      p.produce(topic, (n / 3) % (topic == "rr.a" ? 3 : 2), value_for(n, topic), 1700000000000 + n);
      ab_events += topic == "rr.b" ? n % 29 != 28 : is_event(n);
    }
    if (n % 500 == 499) {
      ASSERT_TRUE(p.flush());
    }
  }
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(one->read_events(one_events, 60s)) << describe(*one);
  ASSERT_TRUE(ab->read_events(ab_events, 60s)) << describe(*ab);
  ASSERT_TRUE(live->read_events(one_events, 60s)) << describe(*live);

  int resumes = 0;
  // One partition: from the start block and from events at the start, middle and end.
  for (std::size_t k :
       {std::size_t{0}, std::size_t{1}, one_events / 3, one_events - 1, one_events}) {
    SCOPED_TRACE("one, after event " + std::to_string(k));
    auto id = k == 0 ? one->id_blocks()[0] : one->events()[k - 1].id;
    auto a = open_stream(per.port(), "/v2/stream/one", {{"Last-Event-ID", id}});
    auto b = open_stream(shared.port(), "/v2/stream/one", {{"Last-Event-ID", id}});
    ++resumes;
    for (auto* c : {a.get(), b.get()})
      ASSERT_TRUE(c->read_events(one_events - k, 60s)) << describe(*c);
    // A keepalive's id-only block may follow; the start block and every event are the same.
    ASSERT_EQ(a->events().size(), b->events().size());
    for (std::size_t i = 0; i < a->events().size(); ++i) {
      ASSERT_EQ(a->events()[i].id, b->events()[i].id) << i;
      ASSERT_EQ(a->events()[i].data, b->events()[i].data) << i;
    }
    EXPECT_EQ(a->id_blocks()[0], b->id_blocks()[0]);
  }
  // Several partitions of two topics: per partition the same events, every id exact.
  for (std::size_t k : {std::size_t{0}, ab_events / 2, ab_events - 1}) {
    SCOPED_TRACE("a,b, after event " + std::to_string(k));
    auto id = k == 0 ? ab->id_blocks()[0] : ab->events()[k - 1].id;
    auto a = open_stream(per.port(), "/v2/stream/a,b", {{"Last-Event-ID", id}});
    auto b = open_stream(shared.port(), "/v2/stream/a,b", {{"Last-Event-ID", id}});
    ++resumes;
    for (auto* c : {a.get(), b.get()})
      ASSERT_TRUE(c->read_events(ab_events - k, 60s)) << describe(*c);
    EXPECT_EQ(check_ids(*a, p, "rr.b"), check_ids(*b, p, "rr.b"));
    EXPECT_EQ(a->id_blocks()[0], b->id_blocks()[0]);
  }
  // With a filter: the events it matches, with the ids a per-connection stream with that filter
  // sends (its positions move past the records it rejects), from the start block and from an
  // event in the middle. The shared consumer evaluates the filter on the replayed records.
  const std::string filtered = "/v2/stream/one?filter=wiki=w3";
  const double evaluations =
      metric_sum(shared.port(), "eventstreams_fanout_filter_evaluations_total");
  for (std::size_t k : {std::size_t{0}, one_events / 2}) {
    SCOPED_TRACE("one?filter=wiki=w3, after event " + std::to_string(k));
    auto id = k == 0 ? one->id_blocks()[0] : one->events()[k - 1].id;
    const int after = k == 0 ? -1 : parse_json(one->events()[k - 1].data)["n"].get<int>();
    std::size_t matching = 0;
    for (int n = after + 1; n < total; ++n)
      matching += n % 3 == 0 && is_event(n) && n % 7 == 3;
    ASSERT_GT(matching, 10u);
    auto a = open_stream(per.port(), filtered, {{"Last-Event-ID", id}});
    auto b = open_stream(shared.port(), filtered, {{"Last-Event-ID", id}});
    ++resumes;
    for (auto* c : {a.get(), b.get()})
      ASSERT_TRUE(c->read_events(matching, 60s)) << describe(*c);
    ASSERT_EQ(a->events().size(), b->events().size());
    for (std::size_t i = 0; i < a->events().size(); ++i) {
      ASSERT_EQ(a->events()[i].id, b->events()[i].id) << i;
      ASSERT_EQ(a->events()[i].data, b->events()[i].data) << i;
    }
    EXPECT_EQ(a->id_blocks()[0], b->id_blocks()[0]);
  }
  EXPECT_GT(metric_sum(shared.port(), "eventstreams_fanout_filter_evaluations_total"),
            evaluations + total / 3);
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""),
            resumes);
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 0);
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_streams_opened_total", "mode=\"shared\""),
            resumes + 1);
  EXPECT_GT(metric_sum(shared.port(), "eventstreams_fanout_replayed_records_total"), total);
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_internal_errors_total"), 0);
}

// Resumes with the same id moments apart (a storm after a restart: clients that were in one
// group hold the same last id) read one replay: the rings are read once for all of them.
TEST(Fanout, ResumesWithTheSameIdShareOneReplay) {
  mock_cluster cluster(1);
  cluster.create_topic("same.t", 1);
  daemon_process d(on(cluster, "shared", {{"same", {"same.t"}, {}, false}}));
  auto live = open_stream(d.port(), "/v2/stream/same");
  test_producer p(cluster.bootstrap());
  constexpr int total = 100;
  for (int n = 0; n < total; ++n)
    p.produce("same.t", 0, R"({"n":)" + std::to_string(n) + "}", 1700000000000 + n);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(live->read_events(total, 30s)) << describe(*live);
  live->close();  // no live group left for the replays to merge into
  ASSERT_TRUE(wait_for([&] { return metric_sum(d.port(), "eventstreams_fanout_cohorts") == 0; },
                       10s, 10ms));
  const header_list id{{"Last-Event-ID", live->events()[49].id}};
  std::vector<std::unique_ptr<sse_client>> resumed;
  for (int i = 0; i < 5; ++i)
    resumed.push_back(open_stream(d.port(), "/v2/stream/same", id));
  for (auto& c : resumed) {
    ASSERT_TRUE(c->read_events(total - 50, 30s)) << describe(*c);
    EXPECT_EQ(c->body(), resumed[0]->body());
    EXPECT_EQ(parse_json(c->events()[0].data)["n"], 50);
  }
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_replayed_records_total"), total - 50);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 5);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_cohorts"), 1);
}

// Resumes whose every start the rings hold are placed by the rings alone (docs/api.md §11):
// no Kafka lookup per client, which a reconnect storm would make by the thousand. What the rings
// cannot place is looked up as before: a start from before them, a `since` over CreateTime
// records (the producer's clock: a record before the rings may carry any time).
TEST(Fanout, ResumesTheRingsHoldArePlacedWithoutAKafkaLookup) {
  mock_cluster cluster(1);
  cluster.create_topics({{"place.a", 2}, {"place.b", 1}});
  auto cfg = on(cluster, "shared", {{"ab", {"place.a", "place.b"}, {}, false}});
  cfg.kafka_settings = {{"metadata_cache_ttl", "1h"}};  // the counts stay cached for the test
  daemon_process d(
      with_fanout(cfg, "  ring:\n    max_bytes: 96KiB\n    max_bytes_per_partition: 32KiB\n"));
  auto live = open_stream(d.port(), "/v2/stream/ab");
  test_producer p(cluster.bootstrap());
  const std::string filler(300, 'f');
  constexpr int total = 600;  // ~80 KB per partition: the rings keep the last ~32 KB of each
  for (int n = 0; n < total; ++n) {
    const std::string topic = n % 3 == 2 ? "place.b" : "place.a";
    p.produce(topic, topic == "place.b" ? 0 : n % 3,
              R"({"n":)" + std::to_string(n) + R"(,"f":")" + filler + "\"}", 1700000000000 + n);
  }
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(live->read_events(total, 30s)) << describe(*live);
  const double looked_up = metric_sum(d.port(), "eventstreams_start_lookups_total");
  EXPECT_GE(looked_up, 1);  // the live stream's ends (and the partition counts, cached)

  // Every partition: the offsets from the id's position to the last one produced.
  auto rest = [&](const std::string& id) {
    per_partition out;
    for (const auto& at : positions_of(id)) {
      for (auto o = at.offset; o <= p.ranges().at({at.topic, at.partition}).last; ++o)
        out[{at.topic, at.partition}].push_back(o);
    }
    return out;
  };
  for (int k : {total - 1, total - 30, total - 60}) {
    SCOPED_TRACE("after event " + std::to_string(k));
    const auto id = live->events()[static_cast<std::size_t>(k)].id;
    auto c = open_stream(d.port(), "/v2/stream/ab", {{"Last-Event-ID", id}});
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(total - 1 - k), 30s)) << describe(*c);
    EXPECT_EQ(check_ids(*c, p, ""), rest(id));
    EXPECT_EQ(c->id_blocks()[0], id);
  }
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_start_lookups_total"), looked_up);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 3);

  // From the start: before the rings, looked up (once) and read by its own consumer.
  const auto start = live->id_blocks()[0];
  auto old = open_stream(d.port(), "/v2/stream/ab", {{"Last-Event-ID", start}});
  ASSERT_TRUE(old->read_events(total, 30s)) << describe(*old);
  EXPECT_EQ(check_ids(*old, p, ""), rest(start));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_start_lookups_total"), looked_up + 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 1);
  // `since` over CreateTime records: looked up (the mock cluster answers "the end").
  auto since = open_stream(d.port(), "/v2/stream/ab?since=1700000000300");
  ASSERT_TRUE(since->read_until([](const sse_client& c) { return !c.id_blocks().empty(); }, 30s))
      << describe(*since);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_start_lookups_total"), looked_up + 2);
}

// A resume from before what the rings hold is served by its own consumer, without loss.
TEST(Fanout, AResumeFromBeforeTheRingsIsServedByItsOwnConsumer) {
  mock_cluster cluster(1);
  cluster.create_topic("old.t", 1);
  auto yaml = with_fanout(on(cluster, "shared", {{"old", {"old.t"}, {}, false}}),
                          "  ring:\n    max_bytes: 64KiB\n    max_bytes_per_partition: 48KiB\n");
  daemon_process d(yaml);
  auto c = open_stream(d.port(), "/v2/stream/old");
  test_producer p(cluster.bootstrap());
  const std::string filler(1000, 'o');
  constexpr int total = 300;  // 300 KB: the rings keep the last 48 KB
  for (int n = 0; n < total; ++n)
    p.produce("old.t", 0, R"({"n":)" + std::to_string(n) + R"(,"f":")" + filler + "\"}",
              1700000000000 + n);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(total, 30s)) << describe(*c);
  auto from_start = open_stream(d.port(), "/v2/stream/old", {{"Last-Event-ID", c->id_blocks()[0]}});
  auto recent =
      open_stream(d.port(), "/v2/stream/old", {{"Last-Event-ID", c->events()[total - 11].id}});
  ASSERT_TRUE(from_start->read_events(total, 30s)) << describe(*from_start);
  ASSERT_TRUE(recent->read_events(10, 30s)) << describe(*recent);
  for (int n = 0; n < total; ++n)
    ASSERT_EQ(from_start->events()[static_cast<std::size_t>(n)].data,
              c->events()[static_cast<std::size_t>(n)].data);
  for (int n = 0; n < 10; ++n)
    ASSERT_EQ(recent->events()[static_cast<std::size_t>(n)].data,
              c->events()[static_cast<std::size_t>(total - 10 + n)].data);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 1);
}

// A node that starts reads fanout.ring.warm_records back into its rings before /readyz says
// ready (docs/api.md §11): clients that reconnect to it with recent ids are replayed from
// memory, older ones get their own consumer, live clients start at the end; nothing is lost.
TEST(Fanout, AStartingNodeReadsRecentRecordsBackAndReplaysResumesFromThem) {
  mock_cluster cluster(1);
  cluster.create_topic("warm.t", 2);
  const std::vector<stream_def> streams{{"warm", {"warm.t"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  auto before = open_stream(per.port(), "/v2/stream/warm");
  test_producer p(cluster.bootstrap());
  constexpr int total = 200;  // 100 per partition, all events
  for (int n = 0; n < total; ++n)
    p.produce("warm.t", n % 2, R"({"n":)" + std::to_string(n) + "}", 1700000000000 + n);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(before->read_events(total, 30s)) << describe(*before);

  auto yaml = with_fanout(on(cluster, "shared", streams),
                          "  ring:\n    warm_records: 60\n");  // offsets 40..99 of each partition
  daemon_process shared(yaml);
  ASSERT_TRUE(
      wait_for([&] { return http_get(shared.port(), "/readyz").head.status == 200; }, 30s, 20ms));
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_fanout_records_total"), 120);
  // The events after each id, per partition (the order across partitions may differ).
  auto rest_after = [&](std::size_t k) {
    std::map<int, std::vector<std::string>> out;
    for (std::size_t i = k; i < before->events().size(); ++i)
      out[parse_json(before->events()[i].data)["meta"]["partition"].get<int>()].push_back(
          before->events()[i].data);
    return out;
  };
  auto by_partition = [](const sse_client& c) {
    std::map<int, std::vector<std::string>> out;
    for (const auto& ev : c.events())
      out[parse_json(ev.data)["meta"]["partition"].get<int>()].push_back(ev.data);
    return out;
  };
  auto live = open_stream(shared.port(), "/v2/stream/warm");
  auto recent =
      open_stream(shared.port(), "/v2/stream/warm", {{"Last-Event-ID", before->events()[149].id}});
  auto old =
      open_stream(shared.port(), "/v2/stream/warm", {{"Last-Event-ID", before->events()[19].id}});
  ASSERT_TRUE(recent->read_events(total - 150, 30s)) << describe(*recent);
  ASSERT_TRUE(old->read_events(total - 20, 30s)) << describe(*old);
  EXPECT_EQ(by_partition(*recent), rest_after(150));
  EXPECT_EQ(by_partition(*old), rest_after(20));
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 1);
  EXPECT_EQ(metric_sum(shared.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 1);
  // The live client starts at the end: the next record is its first event.
  p.produce("warm.t", 0, R"({"n":200})", 1700000000200);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(live->read_events(1, 30s)) << describe(*live);
  EXPECT_EQ(parse_json(live->events()[0].data)["n"], 200);
  for (auto* c : {recent.get(), old.get()}) {
    ASSERT_TRUE(c->read_events(c->events().size() + 1, 30s)) << describe(*c);
    EXPECT_EQ(parse_json(c->events().back().data)["n"], 200);
  }
}

// Resumes the rings cannot serve (here: from before the shared consumer's start, with no
// records read back) get a Kafka consumer of their own, at most fanout.catchup.readers_max at
// once; the next waits in line for a slot, up to server.kafka_timeout, then 503 (docs/api.md §11).
// A reader keeps its slot until it hands its stream over to the rings.
TEST(Fanout, ResumesTheRingsCannotServeTakeACatchUpReaderOrWaitInLineForOne) {
  mock_cluster cluster(1);
  cluster.create_topic("cu.t", 1);
  test_producer p(cluster.bootstrap());
  for (int n = 0; n < 10; ++n)
    p.produce("cu.t", 0, R"({"n":)" + std::to_string(n) + "}", 1700000000000 + n);
  ASSERT_TRUE(p.flush());
  auto cfg = on(cluster, "shared", {{"cu", {"cu.t"}, {}, false}});
  cfg.server_settings = {{"kafka_timeout", "2s"}};
  auto yaml = with_fanout(cfg, "  ring:\n    warm_records: 0\n  catchup:\n    readers_max: 1\n");
  daemon_process d(yaml);
  // The shared consumer reads: the requests below are refused for want of a reader, not of it.
  ASSERT_TRUE(
      wait_for([&] { return http_get(d.port(), "/readyz").head.status == 200; }, 30s, 20ms));
  const header_list from_start{{"Last-Event-ID", R"([{"topic":"cu.t","partition":0,"offset":0}])"}};
  // A filter that reads $key: the rings keep no keys, so this reader never hands over.
  auto first = open_stream(d.port(), "/v2/stream/cu?filter=$key!=zz", from_start);
  ASSERT_TRUE(first->read_events(10, 20s)) << describe(*first);
  auto active = [&] {
    return metric_sum(d.port(), "eventstreams_fanout_catchup_readers", "state=\"active\"");
  };
  auto queued = [&] {
    return metric_sum(d.port(), "eventstreams_fanout_catchup_readers", "state=\"queued\"");
  };
  EXPECT_EQ(active(), 1);
  // The second waits server.kafka_timeout (2 s), then is told to retry.
  sse_client second(d.port());
  second.send_request("GET", "/v2/stream/cu", from_start);
  ASSERT_TRUE(second.read_head(20s)) << describe(second);
  EXPECT_EQ(second.head().status, 503);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_refused_total", "reason=\"catchup_limit\""),
            1);
  EXPECT_EQ(queued(), 0);  // it left the line when it gave up
  // The third waits for the first's reader.
  sse_client third(d.port());
  third.send_request("GET", "/v2/stream/cu", from_start);
  ASSERT_TRUE(wait_for([&] { return queued() == 1; }, 10s, 10ms));
  EXPECT_FALSE(third.read_head(100ms)) << describe(third);
  first->close();
  ASSERT_TRUE(third.read_head(10s) && third.head().status == 200) << describe(third);
  ASSERT_TRUE(third.read_events(10, 20s)) << describe(third);
  EXPECT_EQ(queued(), 0);
  // Having read what Kafka had, its reader handed the stream over to the rings, and its slot
  // is free.
  ASSERT_TRUE(wait_for([&] { return active() == 0; }, 10s, 10ms));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_handovers_total"), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 2);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_open", "mode=\"per_connection\""), 0);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_streams_open", "mode=\"shared\""), 1);
  // The third got every record from its id, once, and the next through the shared consumer.
  p.produce("cu.t", 0, R"({"n":10})", 1700000000010);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(third.read_events(11, 20s)) << describe(third);
  for (int n = 0; n < 11; ++n)
    EXPECT_EQ(parse_json(third.events()[static_cast<std::size_t>(n)].data)["n"], n);
}

// A catch-up reader that has read what Kafka had hands its stream over to the rings at its
// positions (docs/api.md §11): its Kafka consumer goes, and the stream goes on with the shared
// consumer's records, with the bytes and ids of a per-connection stream from the same id,
// filtered or not; nothing is lost or repeated at the switch.
TEST(Fanout, ACatchUpReaderHandsItsStreamOverToTheRingsWithoutLossOrRepeat) {
  mock_cluster cluster(1);
  cluster.create_topic("ho.t", 1);
  test_producer p(cluster.bootstrap());
  int events = 0, matching = 0;
  auto write = [&](int from, int to) {
    for (int n = from; n < to; ++n) {
      p.produce("ho.t", 0, value_for(n, "ho"), 1700000000000 + n);
      events += is_event(n);
      matching += is_event(n) && n % 7 == 3;
    }
    return p.flush();
  };
  ASSERT_TRUE(write(0, 600));
  const std::vector<stream_def> streams{{"ho", {"ho.t"}, {}, false}};
  daemon_process per(on(cluster, "per_connection", streams));
  // The shared consumer starts at the end: every resume from before it takes a reader.
  daemon_process shared(
      with_fanout(on(cluster, "shared", streams), "  ring:\n    warm_records: 0\n"));
  ASSERT_TRUE(
      wait_for([&] { return http_get(shared.port(), "/readyz").head.status == 200; }, 30s, 20ms));
  const header_list from_start{{"Last-Event-ID", R"([{"topic":"ho.t","partition":0,"offset":0}])"}};
  const std::string filtered = "/v2/stream/ho?filter=wiki=w3";
  auto a = open_stream(per.port(), "/v2/stream/ho", from_start);
  auto b = open_stream(shared.port(), "/v2/stream/ho", from_start);
  auto fa = open_stream(per.port(), filtered, from_start);
  auto fb = open_stream(shared.port(), filtered, from_start);
  for (auto* c : {a.get(), b.get()})
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(events), 30s)) << describe(*c);
  for (auto* c : {fa.get(), fb.get()})
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(matching), 30s)) << describe(*c);
  const auto metric = [&](const char* name, const char* labels = "") {
    return metric_sum(shared.port(), name, labels);
  };
  ASSERT_TRUE(
      wait_for([&] { return metric("eventstreams_fanout_handovers_total") == 2; }, 10s, 10ms))
      << shared.stderr_text();
  EXPECT_EQ(metric("eventstreams_fanout_catchup_readers", "state=\"active\""), 0);
  EXPECT_EQ(metric("eventstreams_streams_open", "mode=\"shared\""), 2);
  EXPECT_EQ(metric("eventstreams_streams_open", "mode=\"per_connection\""), 0);
  EXPECT_EQ(metric("eventstreams_fanout_resumes_total", "from=\"kafka\""), 2);

  ASSERT_TRUE(write(600, 1200));
  for (auto* c : {a.get(), b.get()})
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(events), 30s)) << describe(*c);
  for (auto* c : {fa.get(), fb.get()})
    ASSERT_TRUE(c->read_events(static_cast<std::size_t>(matching), 30s)) << describe(*c);
  for (auto [x, y] : {std::pair{a.get(), b.get()}, std::pair{fa.get(), fb.get()}}) {
    ASSERT_EQ(x->events().size(), y->events().size());
    for (std::size_t i = 0; i < x->events().size(); ++i) {
      ASSERT_EQ(x->events()[i].id, y->events()[i].id) << i;
      ASSERT_EQ(x->events()[i].data, y->events()[i].data) << i;
    }
    EXPECT_EQ(x->id_blocks()[0], y->id_blocks()[0]);
  }
  // After the switch, the shared consumer's groups serve them: no Kafka reader came back.
  EXPECT_EQ(metric("eventstreams_fanout_catchup_readers", "state=\"active\""), 0);
  EXPECT_EQ(metric("eventstreams_internal_errors_total"), 0);
}

TEST(Fanout, TheRingsKeepRecentRecordsWithinTheirBounds) {
  mock_cluster cluster(1);
  cluster.create_topic("ring.t", 2);
  auto cfg = on(cluster, "shared", {{"ring", {"ring.t"}, {}, false}});
  cfg.heartbeat_interval = "2s";  // progress ticks every second
  daemon_process d(
      with_fanout(cfg, "  ring:\n    max_bytes: 64KiB\n    max_bytes_per_partition: 48KiB\n"));
  auto c = open_stream(d.port(), "/v2/stream/ring");
  test_producer p(cluster.bootstrap());
  const std::string filler(1000, 'r');
  constexpr int total = 1000;  // 1 MB: sixteen times the process-wide cap
  for (int n = 0; n < total; ++n)
    p.produce("ring.t", n % 2, R"({"f":")" + filler + "\"}", 1700000000000 + n);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(total, 30s)) << describe(*c);
  auto kept = metric_sum(d.port(), "eventstreams_fanout_ring_bytes");
  EXPECT_GT(kept, 0);
  EXPECT_LE(kept, 64 * 1024);
  // Per partition, set at the shared consumer's progress ticks.
  auto kept_by = [&](int partition) {
    return metric_sum(d.port(), "eventstreams_fanout_ring_partition_bytes",
                      "partition=\"" + std::to_string(partition) + "\"");
  };
  ASSERT_TRUE(wait_for([&] { return kept_by(0) > 0 && kept_by(1) > 0; }, 20s, 50ms));
  EXPECT_LE(kept_by(0), 48 * 1024);
  EXPECT_LE(kept_by(1), 48 * 1024);
  EXPECT_LE(kept_by(0) + kept_by(1), 64 * 1024);
  EXPECT_GE(metric_sum(d.port(), "eventstreams_fanout_ring_age_seconds"), 0);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_internal_errors_total"), 0);
}

// A client that reads far slower than its group (12 MB produced while it reads nothing: more than
// the kernel's socket buffers, 4 MB send and the client's receive buffer, and the daemon's 64 KiB
// hold) falls more than fanout.cohort_window behind it. Produced in rounds that the reader reads
// before the next one: whatever the machine's speed, the reader is never a round behind, the
// slow client never reads. Returns the slow client, still open.
struct far_behind {
  std::unique_ptr<sse_client> reader, slow;
  static constexpr int total = 12000;
};

void fall_far_behind(daemon_process& d, const mock_cluster& cluster, const std::string& topic,
                     int partitions, far_behind& out) {
  out.reader = open_stream(d.port(), "/v2/stream/lag");
  out.slow = open_stream(d.port(), "/v2/stream/lag");
  test_producer p(cluster.bootstrap());
  const std::string filler(1000, 'f');
  constexpr int round = 50;  // 50 KB, under the window
  for (int n = 0; n < far_behind::total; ++n) {
    p.produce(topic, n % partitions, R"({"n":)" + std::to_string(n) + R"(,"f":")" + filler + "\"}",
              1700000000000 + n);
    if (n % round == round - 1) {
      ASSERT_TRUE(p.flush());
      ASSERT_TRUE(out.reader->read_events(static_cast<std::size_t>(n + 1), 30s))
          << describe(*out.reader);
    }
  }
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(out.reader->read_events(static_cast<std::size_t>(far_behind::total), 30s))
      << describe(*out.reader);
}

// Each record once over the clients' events, by the "n" of its JSON.
void expect_each_once(const std::vector<const sse_client*>& clients, int total) {
  std::vector<int> seen(static_cast<std::size_t>(total), 0);
  for (const auto* c : clients) {
    for (const auto& ev : c->events())
      ++seen.at(parse_json(ev.data)["n"].get<std::size_t>());
  }
  for (int n = 0; n < total; ++n)
    ASSERT_EQ(seen[static_cast<std::size_t>(n)], 1) << "record " << n;
}

// Per partition (of one topic) the events' offsets follow on from 0, and every event's id names
// the offsets after its record.
void expect_exact_ids(const sse_client& c) {
  std::map<int, std::int64_t> next;
  for (const auto& ev : c.events()) {
    auto data = parse_json(ev.data);
    const int part = data["meta"]["partition"].get<int>();
    const auto offset = data["meta"]["offset"].get<std::int64_t>();
    ASSERT_EQ(offset, next[part]) << ev.data;
    next[part] = offset + 1;
    auto id = parse_json(ev.id);
    for (const auto& e : id)
      ASSERT_EQ(e["offset"].get<std::int64_t>(), next[e["partition"].get<int>()]) << ev.id;
  }
}

std::string lag_daemon_yaml(const mock_cluster& cluster, const std::string& fanout_extra) {
  auto cfg = on(cluster, "shared", {{"lag", {"lag.t"}, {}, false}});
  cfg.server_settings = {{"max_buffered_bytes", "65536"}};
  return with_fanout(cfg, "  cohort_window: 64KiB\n" + fanout_extra);
}

// Where the rings still hold its positions, it is demoted: it continues from them in a group of
// its own, never slowing the others, and gets every event once, without a reconnect
// (docs/api.md §11).
TEST(Fanout, AClientFarBehindItsGroupIsDemotedToTheRingsAndMissesNothing) {
  mock_cluster cluster(1);
  constexpr int partitions = 4;
  cluster.create_topic("lag.t", partitions);
  daemon_process d(lag_daemon_yaml(cluster, ""));  // rings of 32 MiB per partition
  far_behind fb;
  fall_far_behind(d, cluster, "lag.t", partitions, fb);
  ASSERT_TRUE(fb.slow->read_events(static_cast<std::size_t>(far_behind::total), 60s))
      << describe(*fb.slow);
  EXPECT_FALSE(fb.slow->eof());
  EXPECT_FALSE(fb.slow->terminator_received());
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_demotions_total"), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_clients_disconnected_total", "reason=\"overrun\""),
            0);
  expect_each_once({fb.slow.get()}, far_behind::total);
  // Its ids are those of the client that kept up, event for event.
  for (std::size_t i = 0; i < fb.slow->events().size(); ++i)
    ASSERT_EQ(fb.slow->events()[i].id, fb.reader->events()[i].id) << i;
}

// Where they do not hold them long enough (rings of 64 KiB per partition), it is ended after a
// complete event (reason "overrun"): demoted when it falls behind (the rings still hold its
// positions then), it stalls on, the rings move past it, and its next pull finds them gone. It
// resumes with its last id, served by its own consumer, without losing or repeating anything.
// Where the rings no longer hold its positions either, it goes on from Kafka with a catch-up
// reader of its own (fanout.catchup.readers_max allowing), without a reconnect; once the rings
// hold its positions again, the stream goes back to them (docs/api.md §11).
TEST(Fanout, AClientFarBehindItsGroupAndTheRingsGoesOnFromKafkaAndMissesNothing) {
  mock_cluster cluster(1);
  constexpr int partitions = 4;
  cluster.create_topic("lag.t", partitions);
  daemon_process d(lag_daemon_yaml(
      cluster, "  ring:\n    max_bytes: 256KiB\n    max_bytes_per_partition: 64KiB\n"));
  far_behind fb;
  fall_far_behind(d, cluster, "lag.t", partitions, fb);
  ASSERT_TRUE(fb.slow->read_events(static_cast<std::size_t>(far_behind::total), 60s))
      << describe(*fb.slow);
  EXPECT_FALSE(fb.slow->eof());
  EXPECT_FALSE(fb.slow->terminator_received());
  expect_each_once({fb.slow.get()}, far_behind::total);
  expect_exact_ids(*fb.slow);
  const auto metric = [&](const char* name, const char* labels = "") {
    return metric_sum(d.port(), name, labels);
  };
  EXPECT_EQ(metric("eventstreams_fanout_demotions_total"), 1);
  EXPECT_EQ(metric("eventstreams_fanout_demotions_to_kafka_total"), 1);
  EXPECT_EQ(metric("eventstreams_clients_disconnected_total", "reason=\"overrun\""), 0);
  // Back to the rings once its reader caught up: no reader is left.
  ASSERT_TRUE(
      wait_for([&] { return metric("eventstreams_fanout_handovers_total") == 1; }, 10s, 10ms));
  EXPECT_EQ(metric("eventstreams_fanout_catchup_readers", "state=\"active\""), 0);
  EXPECT_EQ(metric("eventstreams_streams_open", "mode=\"shared\""), 2);
  // And it gets what comes next from there.
  test_producer p(cluster.bootstrap());
  p.produce("lag.t", 0, R"({"n":12000})", 1700000012000);
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(fb.slow->read_events(far_behind::total + 1, 30s)) << describe(*fb.slow);
  EXPECT_EQ(parse_json(fb.slow->events().back().data)["n"], 12000);
}

// A catch-up reader hands its stream over to the rings partition by partition (docs/api.md
// §11): a partition whose records the rings hold from its position goes on from them while the
// others still catch up from Kafka, goes back to Kafka if the rings lose it first, and the
// stream joins a group once the rings hold every position. Nothing is lost or repeated.
TEST(Fanout, ACatchUpReaderReadsFromTheRingsThePartitionsTheyHoldAndFromKafkaTheRest) {
  mock_cluster cluster(1);
  constexpr int partitions = 4;  // 0-2 far behind the rings, 3 inside them
  constexpr int far = 3 * 4000;
  cluster.create_topic("lag.t", partitions);
  test_producer p(cluster.bootstrap());
  int n = 0;
  const std::string filler(1000, 'f');
  auto write = [&](int partition, int count, bool large) {
    for (int k = 0; k < count; ++k, ++n) {
      p.produce("lag.t", partition,
                R"({"n":)" + std::to_string(n) + (large ? R"(,"f":")" + filler + R"("})" : "}"),
                1700000000000 + n);
    }
    return p.flush();
  };
  // 3 × 4.2 MB (the mock keeps ~5 MB per partition): at each stall below, more than the daemon's
  // send buffer (at most /proc/sys/net/ipv4/tcp_wmem's 4 MiB here), its 64 KiB write buffer and
  // a 4 KB receive buffer hold is left behind the rings.
  for (int part = 0; part < 3; ++part)
    ASSERT_TRUE(write(part, far / 3, true));
  ASSERT_TRUE(write(3, 20, false));
  daemon_process d(lag_daemon_yaml(
      cluster, "  ring:\n    max_bytes: 512KiB\n    max_bytes_per_partition: 64KiB\n"));
  ASSERT_TRUE(wait_for([&] { return http_get(d.port(), "/readyz").head.status == 200; }, 30s, 20ms))
      << d.stderr_text();
  const auto metric = [&](const char* name, const char* labels = "") {
    return metric_sum(d.port(), name, labels);
  };
  auto c = open_stream(d.port(), "/v2/stream/lag",
                       {{"Last-Event-ID", R"([{"topic":"lag.t","partition":0,"offset":0},)"
                                          R"({"topic":"lag.t","partition":1,"offset":0},)"
                                          R"({"topic":"lag.t","partition":2,"offset":0},)"
                                          R"({"topic":"lag.t","partition":3,"offset":0}])"}},
                       11, true, 4096);
  ASSERT_TRUE(c->read_events(100, 30s)) << describe(*c);
  EXPECT_EQ(metric("eventstreams_fanout_resumes_total", "from=\"kafka\""), 1);
  std::array<std::size_t, partitions> partition_counts{};
  std::size_t counted = 0;
  const auto events_of = [&](int partition) {
    for (; counted < c->events().size(); ++counted)
      ++partition_counts.at(
          parse_json(c->events()[counted].data)["meta"]["partition"].get<std::size_t>());
    return partition_counts.at(static_cast<std::size_t>(partition));
  };

  // The client stops reading. Partition 3's records are in its ring: it goes on from there.
  ASSERT_TRUE(wait_for(
      [&] { return metric("eventstreams_fanout_partition_handovers_total", "to=\"ring\"") >= 1; },
      20s, 20ms))
      << d.stderr_text();
  const double replayed = metric("eventstreams_fanout_replayed_records_total");
  ASSERT_TRUE(write(3, 20, false));
  // Its new records reach the client from the rings while the others still catch up from Kafka.
  ASSERT_TRUE(c->read_until([&](const sse_client&) { return events_of(3) == 40; }, 30s))
      << describe(*c);
  EXPECT_LT(events_of(0) + events_of(1) + events_of(2), static_cast<std::size_t>(far));
  EXPECT_EQ(metric("eventstreams_fanout_handovers_total"), 0);
  EXPECT_GE(metric("eventstreams_fanout_replayed_records_total"), replayed + 20);

  // The client stops again, until the daemon's socket to it is full. 300 KB more in partition
  // 3 then push its position out of its 64 KiB ring, the hub having queued a 64 KiB window
  // (fanout.cohort_window) of them for the stalled reader, which learns of the loss after them.
  ASSERT_TRUE(wait_for(
      [&] {
        auto mem = tcp_socket_memory(d.port(), c->local_port());
        return mem && mem->send_full();
      },
      20s, 20ms));
  ASSERT_TRUE(write(3, 300, true));

  // The client reads again: every record once, per partition in offset order, and every id
  // names the offsets after its record. Partition 3 went back to Kafka.
  ASSERT_TRUE(c->read_events(static_cast<std::size_t>(n), 60s)) << describe(*c);
  EXPECT_GE(metric("eventstreams_fanout_partition_handovers_total", "to=\"kafka\""), 1);
  expect_each_once({c.get()}, n);
  expect_exact_ids(*c);
  // Once the rings held every position, the stream went over to them: no reader is left, and
  // the next record comes through the shared consumer.
  ASSERT_TRUE(
      wait_for([&] { return metric("eventstreams_fanout_handovers_total") == 1; }, 10s, 10ms));
  EXPECT_EQ(metric("eventstreams_fanout_catchup_readers", "state=\"active\""), 0);
  EXPECT_EQ(metric("eventstreams_streams_open", "mode=\"shared\""), 1);
  ASSERT_TRUE(write(3, 1, false));
  ASSERT_TRUE(c->read_events(static_cast<std::size_t>(n), 30s)) << describe(*c);
  EXPECT_EQ(parse_json(c->events().back().data)["n"], n - 1);
  EXPECT_EQ(metric("eventstreams_internal_errors_total"), 0);
}

// Without a catch-up reader free, it is ended after a complete event instead, and resumes with
// its id.
TEST(Fanout, AClientFarBehindItsGroupAndTheRingsEndsAfterACompleteEventAndResumesWithoutLoss) {
  mock_cluster cluster(1);
  constexpr int partitions = 4;
  cluster.create_topic("lag.t", partitions);
  daemon_process d(lag_daemon_yaml(cluster,
                                   "  ring:\n    max_bytes: 256KiB\n    max_bytes_per_partition: "
                                   "64KiB\n  catchup:\n    readers_max: 1\n"));
  // The one reader is taken: a filter that reads $key keeps its own consumer for good.
  auto holder = open_stream(d.port(), "/v2/stream/lag?filter=$key!=zz",
                            {{"Last-Event-ID", R"([{"topic":"lag.t","partition":0,"offset":0},)"
                                               R"({"topic":"lag.t","partition":1,"offset":0},)"
                                               R"({"topic":"lag.t","partition":2,"offset":0},)"
                                               R"({"topic":"lag.t","partition":3,"offset":0}])"}});
  ASSERT_TRUE(holder->read_head(10s) && holder->head().status == 200) << describe(*holder);
  ASSERT_EQ(metric_sum(d.port(), "eventstreams_fanout_catchup_readers", "state=\"active\""), 1);
  far_behind fb;
  fall_far_behind(d, cluster, "lag.t", partitions, fb);
  // The slow client now reads: what it was sent, then the end of its stream.
  ASSERT_TRUE(fb.slow->read_to_end(30s)) << describe(*fb.slow);
  EXPECT_TRUE(fb.slow->terminator_received());
  ASSERT_LT(fb.slow->events().size(), static_cast<std::size_t>(far_behind::total))
      << "it was not behind";
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_clients_disconnected_total", "reason=\"overrun\""),
            1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_demotions_total"), 1);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_demotions_to_kafka_total"), 0);
  // It resumes with its last id: the rest, nothing twice (its resume waits for the reader).
  holder->close();
  auto resumed = open_stream(d.port(), "/v2/stream/lag", {{"Last-Event-ID", fb.slow->last_id()}});
  auto rest = far_behind::total - fb.slow->events().size();
  ASSERT_TRUE(resumed->read_events(rest, 30s)) << describe(*resumed);
  expect_each_once({fb.slow.get(), resumed.get()}, far_behind::total);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""), 2);
}

}  // namespace
}  // namespace eventstreams::test

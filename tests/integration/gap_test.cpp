// Gaps are said, not silent (API.md §5.4): a Last-Event-ID offset that retention removed starts
// the stream with one `gap` event, then the events from the earliest retained record.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// The mock cluster keeps about 5 MB per partition and drops older batches (PLATFORM.md): 128
// records of 64 KB (8 MB) move the low watermark well past 0.
constexpr int padded_records = 128;
constexpr std::size_t pad_bytes = 64 * 1024;

// The offsets of the message events' records (meta.offset), in order.
std::vector<std::int64_t> message_offsets(const std::vector<sse_event>& events) {
  std::vector<std::int64_t> out;
  for (const auto& ev : events) {
    if (ev.type == "message")
      out.push_back(parse_json(ev.data)["meta"]["offset"].get<std::int64_t>());
  }
  return out;
}

std::vector<std::int64_t> offsets_between(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto o = from; o < to; ++o)
    out.push_back(o);
  return out;
}

TEST(Gaps, AnOffsetRetentionRemovedStartsWithAGapEventThenTheEarliestRetainedRecord) {
  mock_cluster cluster(1);
  cluster.create_topics({{"gap.t", 1}, {"gap.quiet", 1}});
  auto cfg = on_cluster(cluster.bootstrap(), {{"gap", {"gap.t", "gap.quiet"}, {}, false}});
  // The shared mode: rings that keep 1 KiB of a partition, less than one of the large records
  // below, which they drop once read. An offset Kafka removed is then never in the rings,
  // however far the shared consumer got (rings that held it would serve it, with no gap,
  // docs/api.md §11, and end the stream at the consumer's ring break).
  cfg.fanout_settings = "  ring:\n    max_bytes_per_partition: 1KiB\n";
  daemon_process d(cfg);

  test_producer p(cluster.bootstrap());
  const std::string pad(pad_bytes, 'x');
  for (int i = 0; i < padded_records; ++i)
    p.produce("gap.t", 0, R"({"n":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}");
  ASSERT_TRUE(p.flush());
  const auto [low, high] = cluster.watermarks("gap.t", 0);
  ASSERT_GT(low, 0) << "the mock kept every record: produce more";
  ASSERT_EQ(high, padded_records);

  // gap.t asks for offset 0, which is gone; gap.quiet for 0, which is its (empty) range.
  const header_list resume{
      {"Last-Event-ID",
       R"([{"topic":"gap.t","partition":0,"offset":0},{"topic":"gap.quiet","partition":0,"offset":0}])"}};
  const std::vector<position> after_jump{{"gap.t", 0, low, std::nullopt},
                                         {"gap.quiet", 0, 0, std::nullopt}};
  const auto before = metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")");

  auto c = open_stream(d.port(), "/v2/stream/gap", resume);
  const auto all = static_cast<std::size_t>(high - low);
  // Until the last record; what came before it is checked below.
  const auto last_arrived = [&](const sse_client& s) {
    return !s.events().empty() && s.events().back().type == "message" &&
           parse_json(s.events().back().data)["meta"]["offset"] == high - 1;
  };
  ASSERT_TRUE(c->read_until(last_arrived, 60s)) << describe(*c);
  const auto& events = c->events();
  // First, in place of the start block: the gap, with the positions after the jump as its id.
  ASSERT_EQ(events[0].type, "gap") << describe(*c);
  EXPECT_TRUE(c->id_blocks().empty()) << "the gap event replaces the start id-only block";
  EXPECT_TRUE(id_equals(events[0].id, after_jump));
  const auto gap = parse_json(events[0].data);
  ASSERT_TRUE(gap.is_object()) << events[0].data;
  ASSERT_EQ(gap["partitions"].size(), 1u) << events[0].data;  // only the partition that jumped
  const auto& part = gap["partitions"][0];
  EXPECT_EQ(part["topic"], "gap.t");
  EXPECT_EQ(part["partition"], 0);
  EXPECT_EQ(part["requested"], 0);
  EXPECT_EQ(part["resumed"], low);
  EXPECT_EQ(part["missing"], low);
  EXPECT_EQ(part["reason"], "retention");
  // Then every retained record, from the earliest, in order, none before the gap.
  EXPECT_EQ(message_offsets(events), offsets_between(low, high));
  EXPECT_EQ(events.size(), all + 1);
  for (std::size_t i = 1; i < events.size(); ++i)
    EXPECT_EQ(events[i].type, "message") << i;
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")"), before + 1);

  // Resuming from an id after the gap gets no gap again: the start block, then the new record.
  const auto resumed_id = c->last_id();
  c->close();
  auto again = open_stream(d.port(), "/v2/stream/gap", {{"Last-Event-ID", resumed_id}});
  const auto fresh = p.produce("gap.t", 0, R"({"fresh":true})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(again->read_events(1)) << describe(*again);
  EXPECT_EQ(again->events()[0].type, "message");
  EXPECT_EQ(message_offsets(again->events()), std::vector<std::int64_t>{p.record(fresh).offset});
  EXPECT_EQ(again->id_blocks().size(), 1u);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")"), before + 1);

  // NDJSON: the same records from the earliest retained one, and no gap line (still counted).
  auto nd = open_stream(d.port(), "/v2/stream/gap", {resume[0], {"Accept", "application/json"}}, 11,
                        false);
  const auto nd_all = all + 1;  // and the fresh record
  ASSERT_TRUE(nd->read_until([&](const sse_client& s) { return s.lines().size() >= nd_all; }, 60s))
      << describe(*nd);
  std::vector<std::int64_t> nd_offsets;
  for (const auto& line : nd->lines()) {
    const auto j = parse_json(line);
    ASSERT_TRUE(j.is_object() && j.contains("meta")) << line.substr(0, 200);
    EXPECT_FALSE(j.contains("partitions")) << line.substr(0, 200);
    nd_offsets.push_back(j["meta"]["offset"].get<std::int64_t>());
  }
  EXPECT_EQ(nd_offsets, offsets_between(low, high + 1));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")"), before + 2);
}

// /proc/sys/net/ipv4/tcp_wmem's maximum: how far the kernel grows the daemon's send buffer.
std::size_t max_send_buffer() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  std::size_t min = 0, def = 0, max = 4u << 20;
  in >> min >> def >> max;
  return max;
}

// The shared mode: an offset that retention removed from Kafka but the rings still hold is served
// from them, with no gap: nothing is lost (docs/api.md §11).
TEST(Gaps, InTheSharedModeRecordsTheRingsHoldAreServedAfterKafkaRemovedThem) {
  mock_cluster cluster(1);
  cluster.create_topics({{"kept.t", 1}});
  auto cfg = on_cluster(cluster.bootstrap(), {{"kept", {"kept.t"}, {}, false}});
  cfg.fanout_mode = "shared";
  daemon_process d(cfg);
  auto live = open_stream(d.port(), "/v2/stream/kept");
  test_producer p(cluster.bootstrap());
  const std::string pad(pad_bytes, 'x');
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i)
      p.produce("kept.t", 0, R"({"n":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}");
    return p.flush();
  };
  // 1 MB at a time, each read by the shared consumer (a live client got it) before the next:
  // every record reaches the rings before Kafka removes it (the mock keeps ~5 MB).
  constexpr int step = 16;
  for (int n = 0; n < padded_records; n += step) {
    ASSERT_TRUE(produce(n, n + step));
    ASSERT_TRUE(live->read_events(static_cast<std::size_t>(n + step), 30s)) << describe(*live);
  }
  const auto [low, high] = cluster.watermarks("kept.t", 0);
  ASSERT_GT(low, 0) << "the mock kept every record: produce more";

  const auto gaps = metric_sum(d.port(), "eventstreams_gaps_total");
  auto c = open_stream(d.port(), "/v2/stream/kept",
                       {{"Last-Event-ID", R"([{"topic":"kept.t","partition":0,"offset":0}])"}});
  ASSERT_TRUE(c->read_events(padded_records, 60s)) << describe(*c);
  EXPECT_EQ(message_offsets(c->events()), offsets_between(0, high));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total"), gaps);
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_fanout_resumes_total", R"(from="ring")"), 1);
}

TEST(Gaps, AStreamThatFallsBehindRetentionSaysSoBeforeItsNextEvent) {
  mock_cluster cluster(1);
  cluster.create_topics({{"behind.t", 1}});
  auto cfg = on_cluster(cluster.bootstrap(), {{"behind", {"behind.t"}, {}, false}});
  // The shared mode's consumer does not tell its streams of a jump yet (docs/api.md "Gaps").
  cfg.fanout_mode = "per_connection";
  // Small buffers: a client that stops reading soon stops its consumer, far behind the end.
  cfg.server_settings = {{"stall_timeout", "1h"}, {"max_buffered_bytes", "65536"}};
  cfg.kafka_properties = {{"queued.max.messages.kbytes", "256"},
                          {"fetch.max.bytes", "131072"},
                          {"message.max.bytes", "131072"}};
  daemon_process d(cfg);
  auto c = open_stream(d.port(), "/v2/stream/behind");  // starts at the end: offset 0

  // The stream holds at most its socket (the daemon's send buffer, a few KB at the client that
  // does not read), the session's buffer and the consumer's prefetch; what is produced past
  // that and the mock's ~5 MB of retention is removed before the consumer gets there.
  const auto bytes = max_send_buffer() + (16u << 20);
  const auto records = static_cast<int>(bytes / pad_bytes);
  test_producer p(cluster.bootstrap());
  const std::string pad(pad_bytes, 'x');
  for (int i = 0; i < records; ++i)
    p.produce("behind.t", 0, R"({"n":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}");
  ASSERT_TRUE(p.flush(60s));
  const auto [low, high] = cluster.watermarks("behind.t", 0);
  ASSERT_EQ(high, records);
  const auto before = metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")");

  // The client reads again: what the stream held, then the gap, then from the earliest record.
  const auto last_arrived = [&](const sse_client& s) {
    return !s.events().empty() && s.events().back().type == "message" &&
           parse_json(s.events().back().data)["meta"]["offset"] == high - 1;
  };
  ASSERT_TRUE(c->read_until(last_arrived, 120s)) << describe(*c);
  const auto& events = c->events();
  std::size_t gap_at = events.size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].type == "gap") {
      EXPECT_EQ(gap_at, events.size()) << "a second gap at event " << i;
      gap_at = i;
    }
  }
  ASSERT_LT(gap_at, events.size()) << "no gap event";
  const auto before_gap = message_offsets({events.begin(), events.begin() + gap_at});
  const auto after_gap = message_offsets({events.begin() + gap_at + 1, events.end()});
  const auto expected_next = static_cast<std::int64_t>(before_gap.size());
  EXPECT_EQ(before_gap, offsets_between(0, expected_next));
  ASSERT_FALSE(after_gap.empty());
  const auto resumed = after_gap.front();
  EXPECT_GE(resumed, low);  // the earliest record then, or a later one once retention moved on
  EXPECT_EQ(after_gap, offsets_between(resumed, high));
  const auto part = parse_json(events[gap_at].data)["partitions"];
  ASSERT_EQ(part.size(), 1u) << events[gap_at].data;
  EXPECT_EQ(part[0]["topic"], "behind.t");
  EXPECT_EQ(part[0]["partition"], 0);
  EXPECT_EQ(part[0]["reason"], "retention");
  EXPECT_EQ(part[0]["requested"], expected_next);
  EXPECT_EQ(part[0]["resumed"], resumed);
  EXPECT_EQ(part[0]["missing"], resumed - expected_next);
  EXPECT_TRUE(id_equals(events[gap_at].id, {{"behind.t", 0, resumed, std::nullopt}}));
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="retention")"), before + 1);
}

TEST(Gaps, AnOffsetPastTheEndIsAResetGapThatResumesAtTheEnd) {
  mock_cluster cluster(1);
  cluster.create_topics({{"reset.t", 1}});
  auto cfg = on_cluster(cluster.bootstrap(), {{"reset", {"reset.t"}, {}, false}});
  daemon_process d(cfg);
  test_producer p(cluster.bootstrap());
  for (int i = 0; i < 3; ++i)
    p.produce("reset.t", 0, R"({"old":)" + std::to_string(i) + "}");
  ASSERT_TRUE(p.flush());

  // Offset 1000 of a partition that ends at 3: its log was truncated or replaced.
  auto c = open_stream(d.port(), "/v2/stream/reset",
                       {{"Last-Event-ID", R"([{"topic":"reset.t","partition":0,"offset":1000}])"}});
  const auto fresh = p.produce("reset.t", 0, R"({"new":true})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(c->read_events(2)) << describe(*c);
  const auto& events = c->events();
  ASSERT_EQ(events[0].type, "gap") << describe(*c);
  EXPECT_TRUE(id_equals(events[0].id, {{"reset.t", 0, 3, std::nullopt}}));
  const auto part = parse_json(events[0].data)["partitions"][0];
  EXPECT_EQ(part["reason"], "reset");
  EXPECT_EQ(part["requested"], 1000);
  EXPECT_EQ(part["resumed"], 3);
  EXPECT_EQ(part["missing"], 3);  // the current log's records before the start
  EXPECT_EQ(message_offsets(events), std::vector<std::int64_t>{p.record(fresh).offset});
  EXPECT_EQ(metric_sum(d.port(), "eventstreams_gaps_total", R"(reason="reset")"), 1);
}

}  // namespace
}  // namespace eventstreams::test

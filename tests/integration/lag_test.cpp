// Client lag (docs/api.md "Metrics"): a client that stops reading falls behind the end of its
// partitions, and the lag histograms, the lagging gauge and its close line say so; a client that
// reads everything shows no lag. Nothing here depends on the machine's speed: the slow client
// can hold at most the bytes of its socket buffers and the daemon's write buffer, so the records
// produced beyond that are behind, however long the test takes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "sse_client_pool.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using namespace std::chrono_literals;

constexpr int partitions = 4;
constexpr const char* topic = "lag.topic";
constexpr std::size_t record_bytes = 1024;
constexpr std::size_t max_buffered_bytes = 64u << 10;  // server.max_buffered_bytes
constexpr int slow_rcvbuf = 4096;                      // the kernel doubles it
// The mock broker keeps about 5 MB per partition: stay under 4 MB per partition.
constexpr std::size_t max_records = partitions * (4u << 20) / record_bytes;

// /proc/sys/net/ipv4/tcp_wmem's maximum: how far the kernel grows the daemon's send buffer.
std::size_t max_send_buffer() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  std::size_t min = 0, def = 0, max = 4u << 20;
  in >> min >> def >> max;
  return max;
}

// The histogram `family`'s cumulative buckets, by upper bound (+Inf included).
std::map<double, double> buckets(std::uint16_t port, const std::string& family) {
  std::map<double, double> out;
  std::istringstream in(http_get(port, "/metrics").body);
  static const std::regex bucket(R"re(^(\w+)_bucket\{le="([^"]+)"\} (\S+)$)re");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, bucket) && m[1] == family)
      out[m[2] == "+Inf" ? 1e300 : std::stod(m[2])] = std::stod(m[3]);
  }
  return out;
}

// Samples of the histogram `family` above `bound`: its count minus the bucket that holds the
// samples up to `bound` (`bound` must be one of its bounds).
double samples_above(const std::map<double, double>& h, double bound) {
  if (h.empty() || !h.contains(bound))
    return -1;
  return h.rbegin()->second - h.at(bound);
}

struct close_figures {
  std::uint64_t events = 0;
  std::int64_t lag_records = -1;
  double lag_seconds = -1;
};

std::vector<close_figures> close_lines(const std::string& log) {
  static const std::regex line(
      R"( close client=\S+ .* events=(\d+) .* lag_records=(\d+) lag_seconds=(\d+\.\d) reason=)");
  std::vector<close_figures> out;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, line))
      out.push_back({std::stoull(m[1]), std::stoll(m[2]), std::stod(m[3])});
  }
  return out;
}

// How many records the test writes, and how many of them the slow client is behind at least.
struct sizing {
  std::size_t total = 0;
  std::int64_t min_lag = 0;
};

// `overshoot`: the records the daemon may take for the slow client past its full write buffer
// (what one turn of draining adds before it sees the buffer full).
sizing size_for_this_machine(std::size_t overshoot) {
  // What the slow client can take in at most: its receive buffer, the daemon's send buffer and
  // write buffer, and the overshoot. Everything produced beyond that is behind for good.
  const std::size_t held_bytes = 2 * slow_rcvbuf + max_send_buffer() + max_buffered_bytes;
  const std::size_t held_records = held_bytes / record_bytes + overshoot;
  sizing s;
  s.total = std::min(max_records, held_records + 2000);
  s.min_lag = static_cast<std::int64_t>(s.total) - static_cast<std::int64_t>(held_records);
  return s;
}

daemon_config lag_config(const std::string& mode) {
  daemon_config cfg;
  cfg.streams = {{"lag", {topic}, {}, false}};
  cfg.brokers = 1;
  cfg.partitions = partitions;
  cfg.fanout_mode = mode;
  cfg.server_settings = {{"max_buffered_bytes", std::to_string(max_buffered_bytes)},
                         {"stall_timeout", "300s"}};
  cfg.kafka_properties = {{"queued.max.messages.kbytes", "256"}};
  return cfg;
}

// `total` records of record_bytes, an hour old, round-robin over the partitions; with `round`,
// in rounds of that many records, each flushed and then followed by `after_round(records so
// far)`, which stops the production when it returns false.
void produce_hour_old(const std::string& bootstrap, std::size_t total, std::size_t round = 0,
                      const std::function<bool(std::size_t)>& after_round = {}) {
  producer_options o;
  o.keep_records = false;
  o.linger_ms = 5;
  test_producer p(bootstrap, o);
  const auto hour_ago = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch() - 1h)
                            .count();
  for (std::size_t i = 0; i < total; ++i) {
    std::string v = R"({"i":)" + std::to_string(i) + R"(,"pad":")";
    v.append(record_bytes - v.size() - 2, 'x') += "\"}";
    p.produce(topic, static_cast<std::int32_t>(i % partitions), v, hour_ago);
    if (round != 0 && ((i + 1) % round == 0 || i + 1 == total)) {
      ASSERT_TRUE(p.flush(60s));
      if (!after_round(i + 1))
        return;
    }
  }
  // 60 s: the cluster acknowledges these megabytes in well under a second.
  ASSERT_TRUE(p.flush(60s));
}

pool_options client(std::uint16_t port, bool slow, const std::string& headers) {
  pool_options o;
  o.port = port;
  o.path = "/v2/stream/lag";
  o.partitions = partitions;
  o.headers = headers;
  if (slow) {
    o.rcvbuf = slow_rcvbuf;
    o.read = false;
  }
  return o;
}

// Once the fast client has read all `total` records and the slow one is stuck: the lag metrics
// and both close lines.
void expect_lag_figures(daemon_process& d, sse_client_pool& fast, sse_client_pool& slow,
                        const sizing& size) {
  // The fast client reads everything (seconds at loopback speed; 120 s only ends a failing
  // test).
  ASSERT_TRUE(wait_for([&] { return fast.total_events() >= size.total; }, 120s, 20ms))
      << fast.total_events() << " of " << size.total;

  // Sampled once a second: the slow client is counted as more than 10 s behind, the fast one
  // (caught up) is not; a few samples each, 30 s only ends a failing test.
  double lagging = -1;
  EXPECT_TRUE(wait_for(
      [&] { return (lagging = metric_sum(d.port(), "eventstreams_clients_lagging")) == 1; }, 30s,
      50ms))
      << "eventstreams_clients_lagging " << lagging;
  std::map<double, double> records, seconds;
  const double records_bound = size.min_lag > 10000 ? 10000 : size.min_lag > 1000 ? 1000 : 100;
  EXPECT_TRUE(wait_for(
      [&] {
        records = buckets(d.port(), "eventstreams_client_lag_records");
        seconds = buckets(d.port(), "eventstreams_client_lag_seconds");
        // The fast client's samples once it caught up are 0; the slow one's are far behind.
        return records[0] >= 1 && samples_above(records, records_bound) >= 1 && seconds[0] >= 1 &&
               samples_above(seconds, 10) >= 1;
      },
      30s, 100ms))
      << "lag records samples: <=0 " << records[0] << ", >" << records_bound << " "
      << samples_above(records, records_bound) << "; lag seconds samples: <=0 " << seconds[0]
      << ", >10 " << samples_above(seconds, 10);

  fast.stop();
  slow.stop();
  std::vector<close_figures> closes;
  ASSERT_TRUE(wait_for([&] { return (closes = close_lines(d.stderr_text())).size() == 2; }, 15s))
      << d.stderr_text();
  std::sort(closes.begin(), closes.end(),
            [](const auto& a, const auto& b) { return a.events > b.events; });
  EXPECT_EQ(closes[0].events, size.total);
  EXPECT_EQ(closes[0].lag_records, 0) << "the client that read everything";
  EXPECT_EQ(closes[0].lag_seconds, 0.0);
  EXPECT_GE(closes[1].lag_records, size.min_lag) << "the client that stopped reading";
  EXPECT_EQ(static_cast<std::int64_t>(closes[1].events) + closes[1].lag_records,
            static_cast<std::int64_t>(size.total))
      << "every record is either sent or behind";
  EXPECT_GT(closes[1].lag_seconds, 10.0);
  // Both gone: nobody lags.
  EXPECT_TRUE(
      wait_for([&] { return metric_sum(d.port(), "eventstreams_clients_lagging") == 0; }, 10s));
}

TEST(Lag, PerConnectionAClientThatStopsReadingShowsLagAndOneThatReadsDoesNot) {
  // A turn polls at most 64 records at a time from the consumer.
  const auto size = size_for_this_machine(64);
  ASSERT_GT(size.min_lag, 1000) << "this machine's tcp_wmem allows too large a send buffer";
  daemon_process d(lag_config("per_connection"));
  // The backlog, an hour old, before either client connects: both start at the earliest record
  // (Last-Event-ID), so the slow one is never caught up and the oldest record it has not
  // received is an hour old.
  produce_hour_old(d.bootstrap(), size.total);
  const std::string from_earliest =
      std::string("Last-Event-ID: [{\"topic\":\"") + topic + "\",\"offset\":-2}]\r\n";
  sse_client_pool fast(client(d.port(), false, from_earliest));
  sse_client_pool slow(client(d.port(), true, from_earliest));
  slow.start(1);
  fast.start(1);
  expect_lag_figures(d, fast, slow, size);
}

TEST(Lag, SharedAClientThatStopsReadingShowsLagAndOneThatReadsDoesNot) {
  // The shared consumer's batches (one chunk each) hold what arrived since its last batch: with
  // the records produced in rounds that the fast client reads before the next round, a chunk
  // holds at most a round, and a turn of draining takes at most 16 chunks past the full buffer.
  constexpr std::size_t round = 50;
  const auto size = size_for_this_machine(17 * round);
  ASSERT_GT(size.min_lag, 1000) << "this machine's tcp_wmem allows too large a send buffer";
  // Both clients in one group, which keeps the whole test's bytes for the slow one (no
  // overrun).
  auto yaml = lag_config("shared").to_yaml();
  auto at = yaml.find("fanout:\n");
  ASSERT_NE(at, std::string::npos);
  yaml.insert(at + 8, "  cohort_window: 64MiB\n");
  daemon_process d(yaml);
  sse_client_pool fast(client(d.port(), false, ""));
  sse_client_pool slow(client(d.port(), true, ""));
  slow.start(1);
  fast.start(1);
  // Both streaming from the end before the records come (milliseconds; 30 s only ends a
  // failing test).
  ASSERT_TRUE(wait_for(
      [&] { return metric_sum(d.port(), "eventstreams_streams_opened_total", "shared") == 2; }, 30s,
      20ms));
  produce_hour_old(d.bootstrap(), size.total, round, [&](std::size_t produced) {
    // Milliseconds at loopback speed; 30 s only ends a failing test.
    bool read = wait_for([&] { return fast.total_events() >= produced; }, 30s, 1ms);
    EXPECT_TRUE(read) << fast.total_events() << " of " << produced;
    return read;
  });
  expect_lag_figures(d, fast, slow, size);
}

}  // namespace
}  // namespace eventstreams::test

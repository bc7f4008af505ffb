// Slow clients (API.md §7): a client that stops reading never holds an I/O thread (readers of
// the same stream keep receiving every event while 20 such clients' sockets are full), the
// daemon's memory stays within what its settings allow, and the stalled clients are
// disconnected after server.stall_timeout. Nothing here depends on the machine's speed: what a
// stalled client costs readers in latency, and the daemon in memory, under load, is a benchmark
// figure (bench/run --scenarios stalled).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "sanitized.hpp"
#include "sse_client_pool.hpp"
#include "stream_checks.hpp"
#include "tcp_diag.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

using namespace std::chrono_literals;

constexpr int slow_partitions = 4;
constexpr int stalled_count = 20;
constexpr const char* slow_topic = "slow.topic";
constexpr std::size_t record_bytes = 1024;  // the value of every record produced
// The mock broker keeps about 5 MB per partition: every batch below stays under 4 MB per
// partition, so a reader that lags never loses a record, however slow the machine.
constexpr std::size_t max_records = slow_partitions * (4u << 20) / record_bytes;

// The settings the memory bound is computed from (daemon and consumers).
constexpr std::size_t max_buffered_bytes = 64u << 10;  // server.max_buffered_bytes
constexpr std::size_t prefetch_kbytes = 256;           // queued.max.messages.kbytes
constexpr std::size_t fetch_max_bytes = 128u << 10;    // fetch.max.bytes (and message.max.bytes)
// The producer sends batches of at most 16 records: a Fetch of the mock (one batch per
// partition) brings at most 4 x 16 KiB, below fetch.max.bytes.
constexpr int batch_records = 16;

// The shared mode's settings (fanout.*). The rings hold every record produced here (16 MiB of
// values, ~21 MB with the spliced meta and descriptors): a reader more than the window behind
// its group continues from them, and one that fell behind what they keep would be ended as an
// overrun (docs/api.md §11), which on a loaded machine a reader of a 10 MB burst can (with
// rings of 8 MiB it was, once). How far a reader lags is the machine's; what the test asserts
// must not be.
constexpr std::size_t cohort_window = 64u << 10;
constexpr std::size_t ring_max_bytes = 32u << 20;

// The daemon on a test-owned cluster (so that its memory is its own, not the cluster's log);
// `shared`: in the shared delivery mode, with the fanout settings above.
struct slow_env {
  mock_cluster cluster{1};
  std::unique_ptr<daemon_process> daemon;
  explicit slow_env(const std::string& stall_timeout, bool shared = false) {
    cluster.create_topic(slow_topic, slow_partitions);
    daemon_config cfg;
    cfg.bootstrap_servers = cluster.bootstrap();
    cfg.brokers = 1;
    cfg.threads = 2;  // two I/O threads: two stalled clients holding one each would stop all
    cfg.streams = {{"slow", {slow_topic}, {}, false}};
    cfg.server_settings = {{"stall_timeout", stall_timeout},
                           {"max_buffered_bytes", std::to_string(max_buffered_bytes)},
                           {"max_connections", "100"}};
    cfg.kafka_properties = {{"queued.max.messages.kbytes", std::to_string(prefetch_kbytes)},
                            {"fetch.max.bytes", std::to_string(fetch_max_bytes)},
                            {"message.max.bytes", std::to_string(fetch_max_bytes)}};
    if (!shared) {
      daemon = std::make_unique<daemon_process>(cfg);
      return;
    }
    cfg.fanout_mode = "shared";
    auto yaml = cfg.to_yaml();
    auto at = yaml.find("fanout:\n");
    if (at == std::string::npos)
      throw std::runtime_error("no fanout: section in\n" + yaml);
    yaml.insert(at + 8, "  cohort_window: " + std::to_string(cohort_window) +
                            "\n  ring:\n    max_bytes: " + std::to_string(ring_max_bytes) +
                            "\n    max_bytes_per_partition: " +
                            std::to_string(ring_max_bytes / slow_partitions) + "\n");
    daemon = std::make_unique<daemon_process>(yaml);
  }
  std::uint16_t port() const { return daemon->port(); }
};

pool_options clients(std::uint16_t port, bool stalled) {
  pool_options o;
  o.port = port;
  o.path = "/v2/stream/slow";
  o.partitions = slow_partitions;  // a fresh topic: every partition starts at offset 0
  if (stalled) {
    o.rcvbuf = 4096;  // fills after a few KB
    o.read = false;   // never reads (until resume_reading)
  }
  return o;
}

// Writes `count` records of record_bytes round-robin over the partitions and waits for their
// acknowledgements.
void produce(test_producer& p, int count) {
  for (int i = 0; i < count; ++i) {
    std::string v = R"({"i":)" + std::to_string(i) + R"(,"pad":")";
    v.append(record_bytes - v.size() - 2, 'x') += "\"}";
    p.produce(slow_topic, i % slow_partitions, v);
  }
  // 60 s: the cluster acknowledges these megabytes in well under a second.
  ASSERT_TRUE(p.flush(60s));
}

producer_options batching() {
  producer_options o;
  o.keep_records = false;
  o.linger_ms = 5;
  o.properties = {{"batch.num.messages", std::to_string(batch_records)}};
  return o;
}

// Every client is streaming (its start position fixed) before the first record is produced:
// set-ups take milliseconds; 30 s covers a sanitizer build on a loaded machine many times.
void wait_streaming(std::uint16_t port, double clients) {
  double connected = -1;
  ASSERT_TRUE(wait_for(
      [&] { return (connected = metric_sum(port, "eventstreams_connected_clients")) == clients; },
      30s, 50ms))
      << connected << " of " << clients << " clients streaming";
}

// The stalled clients and `reader_count` readers, all streaming once constructed (a fatal
// gtest failure otherwise).
struct streaming_clients {
  streaming_clients(std::uint16_t port, int reader_count)
      : stalled(clients(port, true)), readers(clients(port, false)) {
    stalled.start(stalled_count);
    readers.start(reader_count);
    wait_streaming(port, stalled_count + reader_count);
  }
  sse_client_pool stalled;
  sse_client_pool readers;
};

// Waits until the readers got `events` each. The bound only ends a test that is failing: 20
// readers take in ~16 MB each at loopback speed in a few seconds (measured: 2-4 s on 2 loaded
// cores); a reader stuck behind a stalled client would never get them.
::testing::AssertionResult readers_receive(const sse_client_pool& readers, int n,
                                           std::uint64_t events) {
  // A reader that ended gets nothing more: the wait ends with it.
  if (wait_for(
          [&] {
            return readers.ended_count() > 0 ||
                   readers.total_events() >= events * static_cast<std::uint64_t>(n);
          },
          120s, 20ms) &&
      readers.ended_count() == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "readers got " << readers.total_events() << " of "
                                       << events * static_cast<std::uint64_t>(n) << " events; "
                                       << readers.ended_count() << " ended";
}

// Each reader got every record of every partition, in order, exactly once.
void expect_complete(const sse_client_pool& readers, const test_producer& p) {
  for (std::size_t i = 0; i < readers.stats().size(); ++i) {
    const auto& st = readers.stats()[i];
    SCOPED_TRACE("reader " + std::to_string(i) + (st.error.empty() ? "" : ": " + st.error));
    EXPECT_FALSE(st.ended);
    EXPECT_EQ(st.events, p.delivered());
    EXPECT_EQ(st.gaps, 0u);
    EXPECT_EQ(st.bad_events + st.id_mismatch, 0u);
    for (int part = 0; part < slow_partitions; ++part) {
      auto range = p.ranges().find({slow_topic, part});
      ASSERT_NE(range, p.ranges().end());
      EXPECT_EQ(st.next_offset[static_cast<std::size_t>(part)], range->second.last + 1)
          << "partition " << part;
    }
  }
}

// /proc/sys/net/ipv4/tcp_wmem's maximum: how far the kernel grows a socket's send buffer.
std::size_t max_send_buffer() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  std::size_t min = 0, def = 0, max = 4u << 20;
  in >> min >> def >> max;
  return max;
}

// How many stalled clients have a full socket on the daemon's side: its next write would wait.
int full_sockets(const sse_client_pool& stalled, std::uint16_t port) {
  int full = 0;
  for (std::size_t i = 0; i < stalled_count; ++i) {
    auto mem = tcp_socket_memory(port, stalled.local_port(i));
    full += mem && mem->send_full();
  }
  return full;
}

// First batch: more than a stalled client's socket can hold (its send buffer grows to at most
// tcp_wmem's maximum, its receive buffer holds a few KB), so each stalled client's session is
// left with a write that cannot complete; the readers get it all. Second batch, produced while
// all 20 stalled sockets are full: the readers get it all, the stalled sockets stay full, and
// no client was disconnected.
void fill_stalled_then_produce(const slow_env& env, streaming_clients& all, int reader_count,
                               test_producer& p) {
  auto& [stalled, readers] = all;
  const auto fill = static_cast<int>(
      std::min(max_records * 3 / 4, (max_send_buffer() + (2u << 20)) / record_bytes));
  ASSERT_GE(static_cast<std::size_t>(fill) * record_bytes, max_send_buffer() + (1u << 20))
      << "tcp_wmem's maximum is too large for the cluster's retention; use more partitions";
  produce(p, fill);
  if (::testing::Test::HasFatalFailure())
    return;
  // Until every stalled socket is full. 60 s: each needs at most ~4 MB written into the
  // kernel, which takes milliseconds; a daemon that starved them would never fill them.
  int full = 0;
  EXPECT_TRUE(wait_for([&] { return (full = full_sockets(stalled, env.port())) == stalled_count; },
                       60s, 50ms))
      << full << " of " << stalled_count << " stalled sockets full";
  ASSERT_TRUE(readers_receive(readers, reader_count, p.delivered()));
  produce(p, static_cast<int>(max_records) - fill);
  if (::testing::Test::HasFatalFailure())
    return;
  ASSERT_TRUE(readers_receive(readers, reader_count, p.delivered()));
  EXPECT_EQ(full_sockets(stalled, env.port()), stalled_count) << "a stalled socket drained";
  EXPECT_EQ(metric_sum(env.port(), "eventstreams_clients_disconnected_total"), 0)
      << metric_sum(env.port(), "eventstreams_clients_disconnected_total", "reason=\"overrun\"")
      << " overruns";
}

// 20 stalled clients beside 20 readers, through fill_stalled_then_produce (a fatal gtest failure
// if a step fails).
struct stalled_beside_readers {
  static constexpr int reader_count = 20;
  stalled_beside_readers(const slow_env& env)
      : all(env.port(), reader_count), p(env.cluster.bootstrap(), batching()) {
    if (!::testing::Test::HasFatalFailure())
      fill_stalled_then_produce(env, all, reader_count, p);
  }
  streaming_clients all;
  test_producer p;
};

TEST(SlowClients, StalledSocketsNeverHoldAnIoThreadAndMemoryStaysWithinTheSettings) {
  // stall_timeout far beyond the test: nothing disconnects the stalled clients while it runs,
  // so the readers' events below cannot have waited for them to be cut off.
  slow_env env("1h");
  const pid_t pid = env.daemon->pid();
  const std::size_t rss_idle = rss_bytes(pid);
  stalled_beside_readers run(env);
  if (HasFatalFailure())
    return;
  auto& readers = run.all.readers;
  const auto& p = run.p;
  constexpr int reader_count = stalled_beside_readers::reader_count;
  EXPECT_EQ(metric_sum(env.port(), "eventstreams_connected_clients"), stalled_count + reader_count);

  // Memory: the peak RSS (VmHWM) stays within what the settings let each connection hold, plus
  // a fixed allowance. Per connection: the session's pending and in-flight buffers (2 x
  // max_buffered_bytes), the consumer's prefetch queue (queued.max.messages.kbytes, overshot by
  // one Fetch, x2 for librdkafka's per-record structures and malloc's rounding), a Fetch
  // response being read (2 x fetch.max.bytes), and the consumer itself: 4 threads, their
  // buffers and sockets (measured ~200 KiB by bench/run's idle scenario; 1 MiB allowed). Fixed:
  // the daemon's idle RSS and 32 MiB of malloc arenas and thread caches. A session that kept
  // what it cannot send would hold the stream less what the kernel took: ~12 of the 16 MiB per
  // stalled client, 240 MiB here, twice the bound.
  const std::size_t per_connection = 2 * max_buffered_bytes +
                                     2 * (prefetch_kbytes * 1024 + fetch_max_bytes) +
                                     2 * fetch_max_bytes + (1u << 20);
  std::size_t bound = rss_idle + (32u << 20) + (stalled_count + reader_count) * per_connection;
  // ASan: redzones, shadow memory and per-thread allocator caches (the daemon's growth here is
  // about 6x the default build's: 3x the whole bound leaves room), and its quarantine of freed
  // memory (256 MiB by default), which the hundreds of MB of records freed here fill.
  if (sanitized_build)
    bound = 3 * bound + (256u << 20);
  readers.stop();
  const std::size_t peak = peak_rss_bytes(pid);
  if (std::getenv("EVENTSTREAMS_IT_TRACE"))
    std::fprintf(stderr, "[trace] slow clients: idle %zu KiB, peak %zu KiB, bound %zu KiB\n",
                 rss_idle >> 10, peak >> 10, bound >> 10);
  EXPECT_LE(peak, bound) << "peak RSS " << (peak >> 20) << " MiB, bound " << (bound >> 20)
                         << " MiB (idle " << (rss_idle >> 20) << " MiB)";
  expect_complete(readers, p);
}

// The same in the shared mode (docs/api.md §11): the stalled clients fall more than
// fanout.cohort_window behind the readers' group and are demoted to the rings, where each keeps
// at most a window ahead of what its full socket took; the group, the shared consumer and the
// readers never wait for them, none is disconnected, and the rings stay within their bound.
TEST(SlowClients, InTheSharedModeStalledClientsAreDemotedAndReadersGetEverything) {
  slow_env env("1h", true);
  stalled_beside_readers run(env);
  if (HasFatalFailure())
    return;
  auto& readers = run.all.readers;
  EXPECT_EQ(metric_sum(env.port(), "eventstreams_streams_open", "mode=\"shared\""),
            stalled_count + stalled_beside_readers::reader_count);
  // Every stalled client was demoted (once: a demoted client's group keeps within its window);
  // readers that fell a window behind on these loaded cores were too, and caught up.
  EXPECT_GE(metric_sum(env.port(), "eventstreams_fanout_demotions_total"), stalled_count);
  // What the shared consumer keeps stays within its settings, whatever the stalled clients do:
  // the rings within fanout.ring.max_bytes (the daemon's RSS under this load is a benchmark
  // figure: bench/run --scenarios stalled --mode shared).
  EXPECT_LE(metric_sum(env.port(), "eventstreams_fanout_ring_bytes"),
            static_cast<double>(ring_max_bytes));
  readers.stop();
  expect_complete(readers, run.p);
}

TEST(SlowClients, StalledClientsAreDisconnectedAfterTheStallTimeoutAndReadersAreNot) {
  // 5 s: a reader is never cut. Its writes complete as fast as its thread reads (its receive
  // window is megabytes), so one would need its thread starved for 5 s, ~1000x its turns.
  slow_env env("5s");
  constexpr int reader_count = 4;
  streaming_clients all(env.port(), reader_count);
  if (HasFatalFailure())
    return;
  auto& [stalled, readers] = all;

  test_producer p(env.cluster.bootstrap(), batching());
  produce(p, static_cast<int>(max_records / 2));
  if (HasFatalFailure())
    return;
  // stall_timeout after each stalled socket filled, nothing else ends them. 60 s: the 5 s of
  // the timeout plus filling (well under a second), with a margin for a loaded machine.
  double cut = -1;
  EXPECT_TRUE(wait_for(
      [&] {
        cut =
            metric_sum(env.port(), "eventstreams_clients_disconnected_total", "reason=\"stalled\"");
        return cut >= stalled_count;
      },
      60s, 100ms))
      << cut << " of " << stalled_count << " stalled clients disconnected";
  ASSERT_TRUE(readers_receive(readers, reader_count, p.delivered()));
  EXPECT_EQ(metric_sum(env.port(), "eventstreams_clients_disconnected_total"), stalled_count)
      << "a reader was disconnected";
  EXPECT_EQ(metric_sum(env.port(), "eventstreams_connected_clients"), reader_count);

  // The stalled clients, reading at last, find what the kernel still held and then the end.
  // 30 s: draining a few KB each takes milliseconds.
  stalled.resume_reading();
  EXPECT_TRUE(wait_for([&] { return stalled.ended_count() == stalled_count; }, 30s, 20ms))
      << stalled.ended_count() << " of " << stalled_count << " stalled connections ended";
  readers.stop();
  stalled.stop();
  for (const auto& st : stalled.stats()) {
    EXPECT_EQ(st.status, 200);
    EXPECT_TRUE(st.ended);
    EXPECT_LT(st.events, p.delivered()) << "a stalled client got every event";
  }
  expect_complete(readers, p);
}

}  // namespace
}  // namespace eventstreams::test

// Many SSE clients on one epoll thread, for load: the load benchmark and the heavy integration
// tests. Non-blocking sockets, the SSE clients' decoder (sse_parser.hpp) keeping nothing, and
// per-connection counters: events, per-partition offset continuity, id checks and (optionally)
// produce-to-receive latency samples, from cheap scans of each event rather than a JSON DOM.
// (sse_client is the blocking client that keeps every byte, for tests that check exact
// responses.)
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "sse_parser.hpp"

namespace eventstreams::test {

struct pool_options {
  std::uint16_t port = 0;  // on 127.0.0.1
  std::string path;        // e.g. "/v2/stream/bench"
  int partitions = 1;      // of the stream's one topic (of each of `topics`)
  // A stream of several topics: their names, each with `partitions` partitions; offsets and
  // ids are checked per topic and partition. Empty: one topic, whatever its name.
  std::vector<std::string> topics = {};
  std::int64_t first_offset = 0;  // expected first offset in every partition (fresh topic)
  // Keep now - data.bench_sent_ns (CLOCK_REALTIME ns, the first member of the event) for every
  // event: produce-to-receive latency.
  bool record_latency = false;
  // SO_RCVBUF set before connecting (0 = the system's default, which grows on demand): a small
  // one makes a client that does not read fill its window after a few KB.
  int rcvbuf = 0;
  // false: the clients send their request and then read nothing until resume_reading().
  bool read = true;
  // More request header lines, each ending in "\r\n" (e.g. a Last-Event-ID).
  std::string headers = {};
  // Per-client targets: when not empty, client i requests paths[i % paths.size()] instead of
  // `path` (e.g. a different `?filter=` for each client).
  std::vector<std::string> paths = {};
  // When not empty, every event's `data` at client i must contain expect_data[i % size] (e.g.
  // the `"title":"..."` its filter selects); events without it count in unexpected_data.
  std::vector<std::string> expect_data = {};
  // At most this many connections between connect and preamble (or, not reading, request
  // sent): the daemon answers 503 to streams beyond the 64 it sets up on its blocking pool at
  // once (server.max_starting_streams), so patient clients open a few at a time. A reconnect
  // storm of resumes the rings place (no set-up on the pool) opens many more.
  int max_starting = 32;
  // Sampling, for many connections on few cores: only every sample_every-th connection (by
  // index_base + its index) decodes its events (offsets, ids, latency, expect_data); the others
  // count them (sse_parser's count mode: no copy of the body, no field scan).
  int sample_every = 1;
  // The first connection's index in a set split over several pools (bench/client_fleet.hpp):
  // it chooses paths, expect_data and the sampled connections as one pool of them all would.
  std::size_t index_base = 0;
  // The local address the connections are bound to before connecting ("" = the kernel's
  // choice), e.g. 127.0.0.2: each source address has its own ~28,000 ephemeral ports.
  std::string source_address = {};
  // After a wait that found some connections ready (and not a full set), sleep this long before
  // waiting again, so that what arrives meanwhile is read in one pass (0 = never). On loopback
  // the sending process pays for waking a sleeping reader; a reader that naps is not woken.
  // Latency is measured at the read, so it includes the nap (bench/README.md "The load client").
  int gather_us = 0;
};

struct connection_stats {
  std::uint64_t events = 0;
  std::uint64_t gaps = 0;         // events whose offset is not the partition's previous + 1
  std::uint64_t bad_events = 0;   // frames without id, or without meta.partition/offset
  bool sampled = true;            // its events were decoded (pool_options::sample_every)
  std::uint64_t id_checked = 0;   // events whose id entry for their partition was checked
  std::uint64_t id_mismatch = 0;  // ... and did not say offset + 1
  std::uint64_t id_blocks = 0;    // blocks with an id and no data (positions, API.md §5.1)
  // Events without their client's pool_options::expect_data.
  std::uint64_t unexpected_data = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t bytes = 0;     // body bytes after de-chunking (the SSE text)
  int status = 0;              // the response's HTTP status, 0 before its header
  bool ok = false;             // the ":ok" preamble arrived
  bool ended = false;          // the connection closed
  std::string error;           // why it ended, if it did ("" after the chunked terminator)
  std::uint64_t retries = 0;   // `retry:` fields received
  std::int64_t retry_ms = -1;  // the last one's value, -1 if none
  // The connection ended with the body inside an SSE block (cut in the middle of an event).
  bool ended_inside_block = false;
  std::int64_t ended_ns = 0;        // steady clock, when the connection ended
  std::int64_t first_event_ns = 0;  // steady clock, at the read that brought the event
  std::int64_t last_event_ns = 0;
  // Per partition: the offset expected next (sampled connections only).
  std::vector<std::int64_t> next_offset;
};

class sse_client_pool {
 public:
  explicit sse_client_pool(pool_options opts);
  ~sse_client_pool();
  sse_client_pool(const sse_client_pool&) = delete;
  sse_client_pool& operator=(const sse_client_pool&) = delete;

  // Starts the I/O thread and opens `n` connections, at most max_starting (32) of them waiting
  // for their response at any time (the daemon refuses more than 64 stream set-ups at once with
  // 503); returns once every request is sent, or after start_bound(n) (for a daemon that stopped
  // answering, when it opens the rest at once). Call once.
  void start(int n);
  // How long opening `n` connections may take: 60 s, and 1 s more per 1,000 beyond 60,000 (far
  // above the ~1 ms each set-up takes; 100,000 streams of 32 partitions over 6 daemons took
  // 50-70 s on a busy 2-core host, 2026-12-02).
  static std::chrono::milliseconds start_bound(int n) {
    return std::max<std::chrono::milliseconds>(std::chrono::seconds(60),
                                               std::chrono::milliseconds(n));
  }
  // With pool_options::read false: starts reading every connection.
  void resume_reading();
  // Stops the I/O thread and closes every socket. Idempotent.
  void stop();

  // Thread-safe while running.
  std::uint64_t total_events() const { return total_events_.load(std::memory_order_relaxed); }
  int ok_count() const { return ok_count_.load(std::memory_order_relaxed); }
  int ended_count() const { return ended_count_.load(std::memory_order_relaxed); }
  int requests_sent() const { return requests_sent_.load(std::memory_order_relaxed); }
  // The local (client) port of connection i, 0 if it has none.
  std::uint16_t local_port(std::size_t i) const;

  // Only after stop().
  const std::vector<connection_stats>& stats() const { return stats_; }
  std::vector<std::int64_t>& latencies_ns() { return latencies_; }
  // Parallel to latencies_ns(): each sample's bench_sent_ns (when the event was produced).
  const std::vector<std::int64_t>& sent_ns() const { return sent_; }

 private:
  struct connection;
  void run();
  void on_event(connection& c, std::uint32_t events);
  void on_block(connection& c, const sse_parser::block& b);
  void on_comment(connection& c, std::string_view text);
  void count_event(connection_stats& st);
  void finish(connection& c, const std::string& error);

  pool_options opts_;
  int epoll_fd_ = -1;
  std::vector<connection> conns_;
  std::vector<connection_stats> stats_;
  std::vector<std::int64_t> latencies_;
  std::vector<std::int64_t> sent_;
  std::vector<char> read_buffer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> resume_{false};
  std::atomic<std::uint64_t> total_events_{0};
  std::atomic<int> ok_count_{0};
  std::atomic<int> ended_count_{0};
  std::atomic<int> requests_sent_{0};
  std::int64_t now_steady_ns_ = 0;  // time of the current read
  std::int64_t now_real_ns_ = 0;
};

// CLOCK_REALTIME and CLOCK_MONOTONIC in nanoseconds.
std::int64_t realtime_ns();
std::int64_t steady_ns();

}  // namespace eventstreams::test

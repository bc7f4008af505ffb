// Many SSE clients on one epoll thread: non-blocking sockets, a minimal chunked + SSE parser,
// per-partition offset checks and (optionally) produce-to-receive latency samples.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace bench {

struct client_options {
  std::uint16_t port = 0;         // on 127.0.0.1
  std::string path;               // e.g. "/v2/stream/bench"
  int partitions = 1;             // of the stream's one topic
  std::int64_t first_offset = 0;  // expected first offset in every partition (fresh topic)
  bool record_latency = false;    // keep now - data.bench_sent_ns for every event
};

struct connection_stats {
  std::uint64_t events = 0;
  std::uint64_t gaps = 0;         // events whose offset is not the partition's previous + 1
  std::uint64_t bad_events = 0;   // frames without id, or without meta.partition/offset
  std::uint64_t id_checked = 0;   // events whose id entry for their partition was checked
  std::uint64_t id_mismatch = 0;  // ... and did not say offset + 1
  std::uint64_t heartbeats = 0;
  std::uint64_t bytes = 0;          // body bytes after de-chunking
  bool ok = false;                  // the ":ok" preamble arrived
  bool ended = false;               // the connection closed
  std::string error;                // why it failed, if it did
  std::int64_t first_event_ns = 0;  // steady clock, at the read that brought the event
  std::int64_t last_event_ns = 0;
};

class sse_client_pool {
 public:
  explicit sse_client_pool(client_options opts);
  ~sse_client_pool();
  sse_client_pool(const sse_client_pool&) = delete;
  sse_client_pool& operator=(const sse_client_pool&) = delete;

  // Starts the I/O thread and opens `n` connections, at most 32 of them waiting for their
  // preamble at any time; returns when all are open (or after 60 s). Call once.
  void start(int n);
  // Stops the I/O thread and closes every socket. Idempotent.
  void stop();

  // Thread-safe while running.
  std::uint64_t total_events() const { return total_events_.load(std::memory_order_relaxed); }
  int ok_count() const { return ok_count_.load(std::memory_order_relaxed); }
  int ended_count() const { return ended_count_.load(std::memory_order_relaxed); }

  // Only after stop().
  const std::vector<connection_stats>& stats() const { return stats_; }
  std::vector<std::int64_t>& latencies_ns() { return latencies_; }

 private:
  struct connection;
  void run();
  void on_event(connection& c, std::uint32_t events);
  void feed_headers(connection& c, const char* p, std::size_t n);
  void feed_body(connection& c, const char* p, std::size_t n);
  void parse_frames(connection& c);
  void handle_frame(connection& c, const char* f, std::size_t n);
  void finish(connection& c, const std::string& error);

  client_options opts_;
  int epoll_fd_ = -1;
  std::vector<connection> conns_;
  std::vector<connection_stats> stats_;
  std::vector<std::int64_t> latencies_;
  std::vector<char> read_buffer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> total_events_{0};
  std::atomic<int> ok_count_{0};
  std::atomic<int> ended_count_{0};
  std::int64_t now_steady_ns_ = 0;  // time of the current read
  std::int64_t now_real_ns_ = 0;
};

// CLOCK_REALTIME and CLOCK_MONOTONIC in nanoseconds.
std::int64_t realtime_ns();
std::int64_t steady_ns();

}  // namespace bench

// The load benchmark's SSE clients, on one epoll thread in this process or spread over several
// client processes (bench/README.md "The load client"). With one process, the connections are
// an sse_client_pool (tests/support) on a thread of load_bench; with N > 1, load_bench runs N
// copies of itself as client processes (`load_bench --client-process FILE`), each with one
// sse_client_pool of a contiguous share of the connections, bound to its own source address
// (127.0.0.2 to 127.0.0.9: ~28,000 ephemeral ports each), so that the clients use both cores
// and more descriptors than one process may hold. Their counters are read live from a shared
// memory page; their statistics and latency samples are collected when they stop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sse_client_pool.hpp"

namespace bench {

struct fleet_options {
  int processes = 1;     // client processes; 1: in this process, on one thread
  std::string work_dir;  // where the client processes' option and result files go
};

class client_fleet {
 public:
  client_fleet(eventstreams::test::pool_options pool, fleet_options fleet);
  ~client_fleet();
  client_fleet(const client_fleet&) = delete;
  client_fleet& operator=(const client_fleet&) = delete;

  // As sse_client_pool::start: opens `n` connections (each process its share, with its share of
  // pool_options::max_starting) and returns once every request is sent or after 70 s.
  void start(int n);
  void resume_reading();
  // Stops every client and collects their statistics. Idempotent.
  void stop();

  std::uint64_t total_events() const;
  int ok_count() const;
  int ended_count() const;
  int requests_sent() const;

  // Only after stop(): per connection, in the order of their indexes over all processes.
  const std::vector<eventstreams::test::connection_stats>& stats() const;
  std::vector<std::int64_t>& latencies_ns();
  const std::vector<std::int64_t>& sent_ns() const;

 private:
  struct child;
  std::int64_t sum(int counter) const;  // over the client processes' shared counters
  eventstreams::test::pool_options pool_options_;
  fleet_options fleet_;
  std::unique_ptr<eventstreams::test::sse_client_pool> local_;
  std::vector<std::unique_ptr<child>> children_;
  std::vector<eventstreams::test::connection_stats> stats_;
  std::vector<std::int64_t> latencies_;
  std::vector<std::int64_t> sent_;
  bool stopped_ = false;
};

// The client process's main (`load_bench --client-process FILE`): runs the pool that FILE
// describes until its parent says stop (or goes away), then writes its results beside FILE.
int run_client_process(const std::string& file);

}  // namespace bench

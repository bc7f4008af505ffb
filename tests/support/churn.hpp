// Connection churn, shared by the soak tests and the load benchmark's churn scenario: client
// threads open and close stream connections as fast as they can, each with a random
// Last-Event-ID (one seen before, malformed, foreign, empty or none) and a random way of leaving
// (mid-request, before the response, after its header, inside an event's bytes, after 1-3
// events; SSE or NDJSON, HTTP/1.1 or 1.0), and check every answer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_process.hpp"  // stream_def

namespace eventstreams::test {

// The streams a churn runs against: "soak" (soak.a, soak.b) and "other" (other.topic), each
// topic with one partition.
std::vector<stream_def> churn_streams();
std::vector<std::pair<std::string, int>> churn_topics();  // for mock_cluster::create_topics

// ~40 records/s alternately into soak.a and soak.b, every 16th with a 64 KB field (so that a
// client can leave in the middle of an event's bytes), from a thread, until destroyed.
class churn_feed {
 public:
  explicit churn_feed(const std::string& bootstrap);
  ~churn_feed();
  churn_feed(const churn_feed&) = delete;
  churn_feed& operator=(const churn_feed&) = delete;

 private:
  std::jthread thread_;
};

class churn_driver {
 public:
  explicit churn_driver(std::uint16_t port, int client_threads = 4);
  ~churn_driver();
  churn_driver(const churn_driver&) = delete;
  churn_driver& operator=(const churn_driver&) = delete;

  // Runs `count` connection cycles over the client threads, the random choices seeded with
  // `seed`; returns when they are done, or early once 5 cycles failed.
  void run(int count, unsigned seed);

  int failures() const noexcept { return failures_.load(); }
  std::string first_error() const;
  std::uint64_t cycles() const noexcept { return cycles_.load(); }  // completed or failed

  struct state;  // public for the cycle function; opaque

 private:
  std::unique_ptr<state> state_;
  int client_threads_;
  std::atomic<int>& failures_;
  std::atomic<std::uint64_t>& cycles_;
};

}  // namespace eventstreams::test

// One seeded "resume without loss" scenario: while a background producer writes records, a
// client reads a random number of events, drops the connection at a random point (often in the
// middle of an event on the wire), reconnects with the id of its last complete event as
// Last-Event-ID, a few times, possibly to another daemon instance; at the end, per partition, what
// it kept must be exactly the records from its start point on: no gap, no duplicate, in order,
// with exact data and ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eventstreams::test {

struct resume_scenario {
  std::uint64_t seed = 0;
  std::vector<std::uint16_t> ports;  // daemon instances; with several, connections alternate
  std::string stream;                // requested as /v2/stream/{stream}
  std::vector<std::string> topics;   // the stream's topics, in order
  std::int32_t partitions = 3;       // per topic
  std::string bootstrap;             // where the producer writes
};

// Runs the scenario with gtest assertions; on failure the messages carry the seed and a
// transcript of the connections.
void run_resume_scenario(const resume_scenario& s);

}  // namespace eventstreams::test

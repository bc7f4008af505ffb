// One seeded "resume without loss" scenario: while a background producer writes records, a
// client reads a random number of blocks, drops the connection at a random point (often in the
// middle of a block on the wire), reconnects with the id of its last complete block (an event's,
// or an id-only block's, as an EventSource does) as Last-Event-ID, a few times, possibly to
// another daemon instance; at the end, per partition, the events it kept must be exactly the
// records from its start point on that the stream's filter (if any) lets through: no gap, no
// duplicate, in order, with exact data and ids.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "test_producer.hpp"

namespace eventstreams::test {

struct resume_scenario {
  std::uint64_t seed = 0;
  std::vector<std::uint16_t> ports;  // daemon instances; with several, connections alternate
  std::string stream;                // requested as /v2/stream/{stream}
  std::vector<std::string> topics;   // the stream's topics, in order
  std::int32_t partitions = 3;       // per topic
  std::string bootstrap;             // where the producer writes
  // A server-side filter, as it goes into the URL (/v2/stream/{stream}?filter={filter}); ""
  // for none. `matches` tells which produced records it lets through (required with a filter).
  std::string filter;
  std::function<bool(const produced_record&)> matches;
};

// Where the scenario's resumes started from, so that a test can tell that its runs reached a case.
struct resume_stats {
  int resumes = 0;               // connections that sent a Last-Event-ID
  int from_event = 0;            // ... the id of an event
  int from_start_block = 0;      // ... the id of a connection's start block
  int from_keepalive_block = 0;  // ... the id of a later id-only block (a keepalive)
  resume_stats& operator+=(const resume_stats& o);
};

// Runs the scenario with gtest assertions; on failure the messages carry the seed and a
// transcript of the connections. Adds what the resumes started from to `*stats` if given.
void run_resume_scenario(const resume_scenario& s, resume_stats* stats = nullptr);

}  // namespace eventstreams::test

// Helpers shared by the integration tests: opening a stream, the expected SSE id of a position
// model, and the expected `data` of a produced record.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sse_client.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {

// How many times `needle` occurs in `text` (overlapping occurrences count).
std::size_t occurrences(const std::string& text, const std::string& needle);

// One entry of an SSE id, as the tests expect it.
struct position {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::int64_t> timestamp;
  bool operator==(const position&) const = default;
};

// The model of a connection's positions: every partition of `topics` (in order) with
// `partitions` partitions each, all at offset 0 with no timestamp.
std::vector<position> fresh_positions(const std::vector<std::string>& topics,
                                      std::int32_t partitions);
// Index of (topic, partition) in `positions`, or -1.
int find_position(const std::vector<position>& positions, const std::string& topic,
                  std::int32_t partition);
// The JSON array an id should be for these positions.
nlohmann::json id_json(const std::vector<position>& positions);

// Succeeds if `id_text` parses as a JSON array equal to id_json(expected).
::testing::AssertionResult id_equals(const std::string& id_text,
                                     const std::vector<position>& expected);

// What `data` must be for this record: its value with meta.topic/partition/offset set.
nlohmann::json expected_data(const produced_record& rec);

// Parses JSON, or returns a discarded value (is_discarded()) if it is not JSON.
nlohmann::json parse_json(const std::string& text);

// Connects, sends GET `target` and reads the response header and, for SSE, the ":ok" preamble.
// Throws std::runtime_error (with what was received) unless the answer is a 200 stream.
// `rcvbuf`: as sse_client's.
std::unique_ptr<sse_client> open_stream(std::uint16_t port, const std::string& target,
                                        const header_list& headers = {}, unsigned version = 11,
                                        bool expect_ok = true, int rcvbuf = 0);

// Sum of every sample of the metric `name` in the daemon's /metrics whose line contains
// `filter` (e.g. a label); 0 when there is none.
double metric_sum(std::uint16_t port, const std::string& name, const std::string& filter = "");

// Short description of a client's state for failure messages (last bytes received).
std::string describe(const sse_client& c);

// A stopped daemon's log shows an orderly stop ("stopped"), or one that its deadline watchdog
// ended, naming what it waited for: the daemon's own bound on its exit (docs/api.md §5.5).
void expect_stopped_by_the_deadline(const std::string& log);

}  // namespace eventstreams::test

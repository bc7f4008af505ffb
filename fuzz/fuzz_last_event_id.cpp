// Fuzzes parse_last_event_id (the Last-Event-ID header parser) and, for every entry it accepts,
// plan_start: checks the documented ranges of the entries and of the resulting start plans.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "eventstreams/resume.hpp"

namespace {

using namespace eventstreams;

using eventstreams::fuzz::check;
using eventstreams::fuzz::fail;

bool is_blank(std::string_view s) {
  for (const char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return false;
    }
  }
  return true;
}

void check_plan(const start_plan& plan, const last_event_entry& entry, partition_bounds bounds,
                resume_policy policy) {
  switch (plan.kind) {
    case start_kind::offset:
      check(plan.value >= bounds.low && plan.value <= bounds.high, "offset plan out of bounds");
      check(entry.offset && *entry.offset == plan.value, "offset plan not from the entry");
      break;
    case start_kind::timestamp:
      check(plan.value >= 0, "negative timestamp plan");
      break;
    case start_kind::earliest:
      check(plan.value == bounds.low, "earliest plan is not bounds.low");
      break;
    case start_kind::end:
      check(plan.value == bounds.high, "end plan is not bounds.high");
      break;
  }
  check(plan.carried_timestamp == entry.timestamp, "carried timestamp differs from the entry's");
  // A gap exactly when an offset >= 0 is out of range and was not overridden by a timestamp
  // (docs/api.md "Gaps").
  const bool by_timestamp_policy = policy == resume_policy::timestamp && entry.timestamp;
  const bool out_of_range = entry.offset && *entry.offset >= 0 &&
                            (*entry.offset < bounds.low || *entry.offset > bounds.high);
  check(plan.gap.has_value() == (out_of_range && !by_timestamp_policy), "gap flag is wrong");
  if (plan.gap) {
    check(plan.requested == *entry.offset, "gap's requested offset is not the entry's");
    check(*plan.gap == (*entry.offset < bounds.low ? eventstreams::gap_reason::retention
                                                   : eventstreams::gap_reason::reset),
          "gap reason is wrong");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const auto result = parse_last_event_id(header);

  if (const auto* error = std::get_if<last_event_id_error>(&result)) {
    check(!error->detail.empty(), "empty error detail");
    check(error->detail.size() < 256, "error detail too long (echoes input?)");
    for (const char c : error->detail) {
      check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "control byte in error detail");
    }
    return 0;
  }

  const auto& entries = std::get<std::vector<last_event_entry>>(result);
  check(size <= max_last_event_id_bytes, "accepted an over-long header");
  if (is_blank(header)) {
    check(entries.empty(), "blank header yielded entries");
    return 0;
  }
  // Differential: an accepted header is a JSON array with one entry per element.
  const auto doc = nlohmann::json::parse(header.begin(), header.end(), nullptr, false);
  check(!doc.is_discarded() && doc.is_array(), "accepted a header that is not a JSON array");
  check(doc.size() == entries.size(), "entry count differs from the array size");

  const partition_bounds bounds_list[] = {{0, 0}, {0, 100}, {50, 1000}, {7, 7}};
  for (const auto& entry : entries) {
    check(!entry.topic.empty(), "entry with an empty topic");
    check(!entry.partition || *entry.partition >= 0, "entry with a negative partition");
    check(!entry.offset || *entry.offset >= -2, "entry with an offset below -2");
    check(!entry.timestamp || *entry.timestamp >= 0, "entry with a negative timestamp");
    for (const auto bounds : bounds_list) {
      for (const auto policy : {resume_policy::offset, resume_policy::timestamp}) {
        check_plan(plan_start(&entry, std::nullopt, policy, bounds), entry, bounds, policy);
      }
    }
  }
  return 0;
}

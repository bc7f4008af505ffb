// The filter's field reader before simdjson On-Demand: the project's own one-pass scanner, kept
// as the reference that filter::extract() (src/filter/extract.cpp) must agree with slot for slot,
// for every payload, valid JSON or not. Used by the differential unit test
// (tests/unit/filter_extract_test.cpp), the filter fuzz target and bench/json_fields_bench.cpp
// (the "before" figure). Compiled into each of those, not into the daemon.
#pragma once

#include <string>

#include "filter/program.hpp"

namespace eventstreams::filter::reference {

// Fills work.slots / elements / decoded exactly as extract() does, with the old scanner.
void extract(const program& prog, const record_view& record, scratch::state& work);

// Empty when the slots of `prog` (values and array elements, every member of each value) are
// the same in `a` and `b`; otherwise the first difference, for a test message.
std::string slot_difference(const program& prog, const scratch::state& a, const scratch::state& b);

}  // namespace eventstreams::filter::reference

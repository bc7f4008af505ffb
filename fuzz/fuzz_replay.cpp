// Fuzzes the shared mode's resume path (docs/api.md §11) through the sans-io simulator of
// tests/unit/replay_simulator.hpp: the input is the schedule (each byte one choice: records,
// holes, evictions, joins, client speeds, windows). Every client's bytes must be a prefix of F's
// after every step, equal to them at the end, or end at an event boundary when the rings
// lapped it.
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "fuzz_check.hpp"
#include "replay_simulator.hpp"

namespace {

// Each byte is one choice; 0 once the input is used up.
class byte_choices final : public eventstreams::test::choices {
 public:
  byte_choices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  unsigned pick(unsigned n) override { return at_ < size_ ? data_[at_++] % n : 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_choices ch(data, size);
  eventstreams::test::replay_scope scope;
  scope.steps = 60;
  auto report = eventstreams::test::simulate_replay(ch, scope);
  if (!report.failure.empty()) {
    std::fprintf(stderr, "%s\n", report.failure.c_str());
    eventstreams::fuzz::fail("a replayed client's bytes differ from F's");
  }
  return 0;
}

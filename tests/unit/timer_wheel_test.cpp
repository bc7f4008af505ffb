// Many deadlines behind one timer (include/eventstreams/timer_wheel.hpp): the shared mode's
// heartbeats (docs/api.md §5.1).
#include "eventstreams/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace eventstreams {
namespace {

using namespace std::chrono_literals;
using clock_type = timer_wheel::clock;

struct probe final : timer_wheel::entry {
  probe(std::string n, std::vector<std::string>& log) : name(std::move(n)), calls(log) {}
  void on_due() override {
    calls.push_back(name);
    if (then)
      then();
  }
  std::string name;
  std::vector<std::string>& calls;
  std::function<void()> then;  // what it does when called
};

const clock_type::time_point t0{std::chrono::seconds(1000)};

TEST(TimerWheel, EntriesDueAtOneInstantShareASlotAndRunOnceItPassed) {
  std::vector<std::string> calls;
  timer_wheel w;
  probe a("a", calls), b("b", calls), c("c", calls);
  w.schedule(a, t0 + 2s);
  w.schedule(b, t0 + 1s);
  w.schedule(c, t0 + 2s);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w.slots(), 2u);
  EXPECT_EQ(w.next_due(), t0 + 1s);
  EXPECT_EQ(w.run_due(t0 + 999ms), 0u);
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(w.run_due(t0 + 1s), 1u);
  EXPECT_EQ(calls, std::vector<std::string>{"b"});
  EXPECT_FALSE(b.scheduled());
  EXPECT_EQ(w.next_due(), t0 + 2s);
  EXPECT_EQ(w.run_due(t0 + 5s), 2u);
  EXPECT_EQ(calls.size(), 3u);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.slots(), 0u);
  EXPECT_FALSE(w.next_due());
}

TEST(TimerWheel, CancelledMovedAndDestroyedEntriesAreNotCalled) {
  std::vector<std::string> calls;
  timer_wheel w;
  probe a("a", calls), b("b", calls);
  w.schedule(a, t0 + 1s);
  w.schedule(b, t0 + 1s);
  {
    probe gone("gone", calls);
    w.schedule(gone, t0 + 1s);
    EXPECT_EQ(w.size(), 3u);
  }  // destroyed: out of the wheel
  EXPECT_EQ(w.size(), 2u);
  a.cancel();
  a.cancel();              // twice: nothing
  w.schedule(b, t0 + 3s);  // moved: its old slot, now empty, goes
  EXPECT_EQ(w.slots(), 1u);
  EXPECT_EQ(w.run_due(t0 + 2s), 0u);
  EXPECT_EQ(w.run_due(t0 + 3s), 1u);
  EXPECT_EQ(calls, std::vector<std::string>{"b"});
}

TEST(TimerWheel, AnEntryMayCancelOrRescheduleOthersAndItselfWhileCalled) {
  std::vector<std::string> calls;
  timer_wheel w;
  probe a("a", calls), b("b", calls), c("c", calls), d("d", calls);
  a.then = [&] { b.cancel(); };
  c.then = [&] { w.schedule(c, t0 + 1s); };  // again at a passed instant
  d.then = [&] { w.schedule(d, t0 + 10s); };
  w.schedule(a, t0 + 1s);
  w.schedule(b, t0 + 1s);
  w.schedule(c, t0 + 1s);
  w.schedule(d, t0 + 1s);
  // In scheduling order; b was cancelled by a; c, scheduled again behind d, runs again within
  // the budget of 4 (the entries when the call began), then waits for the next call.
  EXPECT_EQ(w.run_due(t0 + 1s), 4u);
  EXPECT_EQ(calls, (std::vector<std::string>{"a", "c", "d", "c"}));
  EXPECT_TRUE(c.scheduled());
  EXPECT_EQ(d.due(), t0 + 10s);
  calls.clear();
  c.then = nullptr;
  EXPECT_EQ(w.run_due(t0 + 2s), 1u);
  EXPECT_EQ(calls, std::vector<std::string>{"c"});
  EXPECT_EQ(w.size(), 1u);  // d
}

TEST(TimerWheel, AWheelDestroyedFirstLeavesItsEntriesUnscheduled) {
  std::vector<std::string> calls;
  probe a("a", calls);
  {
    timer_wheel w;
    w.schedule(a, t0);
  }
  EXPECT_FALSE(a.scheduled());
  a.cancel();
}

TEST(TimerWheel, AnEntryMovesBetweenWheels) {
  std::vector<std::string> calls;
  timer_wheel w1, w2;
  probe a("a", calls);
  w1.schedule(a, t0);
  w2.schedule(a, t0);
  EXPECT_EQ(w1.size(), 0u);
  EXPECT_EQ(w2.size(), 1u);
  EXPECT_EQ(w1.run_due(t0), 0u);
  EXPECT_EQ(w2.run_due(t0), 1u);
}

}  // namespace
}  // namespace eventstreams

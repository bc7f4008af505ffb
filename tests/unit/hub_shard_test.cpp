// The shared mode's I/O shard (src/fanout/hub.hpp): its once-a-second lag pass counts members
// that are caught up without visiting them, and visits the others (docs/api.md "Metrics").
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "fanout/hub.hpp"
#include "metrics/metrics.hpp"

namespace eventstreams {
namespace {

using namespace std::chrono_literals;

// A member that says how often the pass visited it, with a lag of 5 records and 20 s.
struct visited_member final : fanout::shard_member {
  void on_advance(const framed_chunk&) override {}
  bool sample_lag(std::int64_t, lag_batch& batch) override {
    ++visits;
    batch.add(5, 20.0);
    return lagging;
  }
  int visits = 0;
  bool lagging = false;  // what the visit says of eventstreams_clients_lagging
};

// The value of an unlabelled sample of `name` in the metrics' text.
double value_of(const metrics& m, const std::string& name) {
  std::istringstream in(m.render());
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(name + " "))
      return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

struct shard_fixture {
  net::io_context io;
  metrics m;
  fanout::hub_shard shard{io, 0ms, m.fetch_restarts()};
  ~shard_fixture() { shard.release_executor(); }

  void pass() {
    shard.sample_lag(m);
    io.restart();
    io.run();
  }
  double samples() const { return value_of(m, "eventstreams_client_lag_records_count"); }
  double records() const { return value_of(m, "eventstreams_client_lag_records_sum"); }
};

TEST(HubShardLag, CaughtUpMembersAreCountedWithoutAVisitAndTheOthersAreVisited) {
  shard_fixture f;
  auto a = std::make_shared<framed_chunk>();
  auto b = std::make_shared<framed_chunk>();
  visited_member ahead, behind;
  f.shard.add(ahead, 1, a.get());
  f.shard.add(behind, 1, a.get());

  // New members are visited once: their lagging state is theirs.
  f.pass();
  EXPECT_EQ(ahead.visits, 1);
  EXPECT_EQ(behind.visits, 1);
  EXPECT_EQ(f.samples(), 2);

  // Both at the chain's end: two samples of 0, no visit.
  f.pass();
  EXPECT_EQ(ahead.visits, 1);
  EXPECT_EQ(behind.visits, 1);
  EXPECT_EQ(f.samples(), 4);
  EXPECT_EQ(f.records(), 10);  // only the visits' 5 + 5

  // The chain grows; one member takes the new chunk, the other does not: it is visited.
  a->link(b);
  f.shard.saw(ahead, b.get());
  f.pass();
  EXPECT_EQ(ahead.visits, 1);
  EXPECT_EQ(behind.visits, 2);
  EXPECT_EQ(f.samples(), 6);

  // A member whose visit says it lags is visited again even once caught up, until a visit
  // says it no longer lags.
  behind.lagging = true;
  f.pass();
  EXPECT_EQ(behind.visits, 3);
  f.shard.saw(behind, b.get());
  behind.lagging = false;
  f.pass();
  EXPECT_EQ(behind.visits, 4);
  f.pass();
  EXPECT_EQ(behind.visits, 4);
  EXPECT_EQ(f.samples(), 12);

  // A member without a cursor (overrun) is visited; one that left is not sampled.
  f.shard.saw(ahead, nullptr);
  f.shard.remove(behind);
  f.pass();
  EXPECT_EQ(ahead.visits, 2);
  EXPECT_EQ(behind.visits, 4);
  EXPECT_EQ(f.samples(), 13);
}

TEST(HubShardLag, AMemberThatMovesToAnotherCohortKeepsItsCursor) {
  shard_fixture f;
  auto a = std::make_shared<framed_chunk>();
  visited_member m;
  f.shard.add(m, 1, a.get());
  f.pass();  // the first visit
  f.shard.move(m, 2);
  f.pass();  // new in cohort 2's list: visited once
  f.pass();  // then caught up at `a`, which it still holds
  EXPECT_EQ(m.visits, 2);
  EXPECT_EQ(f.samples(), 3);
}

}  // namespace
}  // namespace eventstreams

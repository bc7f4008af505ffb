// Resume without loss (API.md §4, §5.3): a seeded property test of disconnects and resumes, and
// moving between two instances. (Where `since` and each Last-Event-ID form start reading:
// start_rules_test.cpp.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "daemon_process.hpp"
#include "mock_cluster.hpp"
#include "resume_scenario.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

namespace eventstreams::test {
namespace {

// EVENTSTREAMS_IT_SEED=N repeats a failed run (the failure message names N).
std::uint64_t base_seed() {
  if (const char* env = std::getenv("EVENTSTREAMS_IT_SEED"))
    return std::stoull(env);
  std::random_device rd;
  return (std::uint64_t{rd()} << 32 | rd()) & 0xffffffffffff;
}

// The property runs twice (a parameter, not a copy): on whole streams, and with a filter that
// lets one record in 8 through, in bursts (background_producer's "group"), where keepalives
// every 25 ms send id-only blocks between the bursts and the client resumes from those too.
struct property_variant {
  std::string name;
  std::string filter;  // as it goes into the URL; "" = none
  std::function<bool(const produced_record&)> matches;
  std::string heartbeat_interval;
};

std::ostream& operator<<(std::ostream& out, const property_variant& v) {
  return out << v.name;
}

class ResumeProperty : public ::testing::TestWithParam<property_variant> {};

TEST_P(ResumeProperty, NoLossAcrossRandomDisconnects) {
  const auto& variant = GetParam();
#if defined(__SANITIZE_THREAD__)
  // Under TSan this test looks for data races on the resume paths, which 10 runs reach; the
  // 50-seed property itself is checked by the default and ASan stages. (50 runs took 73-111 s
  // under TSan on 2 cores, too close to the 120 s test timeout.)
  constexpr int runs = 10;
#elif defined(__SANITIZE_ADDRESS__)
  // Under ASan this test looks for memory errors on the resume paths: 20 runs (each mode and
  // variant took 17-32 s with 50, one after another under the heavy lock: a tenth of the
  // stage); the default build checks the 50-seed property.
  constexpr int runs = 20;
#else
  constexpr int runs = 50;
#endif
  // One daemon for every run. Runs take turns on a few streams: a run's start is wherever its
  // first connection finds the end, so earlier runs' records do not matter. (Few topics: the
  // embedded cluster creates them one by one, up to a second each with librdkafka 2.0.2.)
  daemon_config cfg;
  cfg.partitions = 3;
  cfg.heartbeat_interval = variant.heartbeat_interval;
  for (int i = 0; i < 5; ++i) {
    auto name = "turn" + std::to_string(i);
    cfg.streams.push_back({name, {name + ".eqiad", name + ".codfw"}, {}, false});
  }
  // 60 s for start-up: the embedded cluster creates 10 topics, up to a second each with
  // librdkafka 2.0.2; a daemon not ready in 60 s is broken.
  daemon_process d(cfg.to_yaml(), 60s);
  const auto seed = base_seed();
  // One lane per stream, in parallel: a stream is only ever read and written by its own lane's
  // runs, one after the other, so lanes cannot disturb each other (and most of a run is waiting).
  std::vector<std::thread> lanes;
  std::vector<resume_stats> stats(cfg.streams.size());
  for (std::size_t lane = 0; lane < cfg.streams.size(); ++lane) {
    lanes.emplace_back([&, lane] {
      const auto& stream = cfg.streams[lane];
      for (auto r = lane; r < static_cast<std::size_t>(runs) && !HasFailure();
           r += cfg.streams.size()) {
        const auto run_seed = seed + static_cast<std::uint64_t>(r);
        run_resume_scenario({run_seed,
                             {d.port()},
                             stream.name,
                             stream.topics,
                             3,
                             d.bootstrap(),
                             variant.filter,
                             variant.matches},
                            &stats[lane]);
        if (HasFailure()) {
          ADD_FAILURE() << "run " << r << " (or a run beside it) failed; repeat it with "
                        << "EVENTSTREAMS_IT_SEED=" << run_seed;
        }
      }
    });
  }
  for (auto& t : lanes)
    t.join();
  resume_stats total;
  for (const auto& s : stats)
    total += s;
  std::cout << "# " << total.resumes << " resumes: from " << total.from_event << " events, "
            << total.from_start_block << " start blocks, " << total.from_keepalive_block
            << " keepalive id-only blocks\n";
  if (!variant.filter.empty() && !HasFailure()) {
    // The filtered runs did resume from positions that only an id-only block had given.
    EXPECT_GT(total.from_keepalive_block, 0);
  }
}

bool in_group_3(const produced_record& r) {
  return parse_json(r.value).value("group", -1) == 3;
}

INSTANTIATE_TEST_SUITE_P(
    Resume, ResumeProperty,
    ::testing::Values(property_variant{"Unfiltered", "", nullptr, "0"},
                      property_variant{"Filtered", "group=3", in_group_3, "25ms"}),
    [](const ::testing::TestParamInfo<property_variant>& variant) { return variant.param.name; });

// Six seeded runs of the resume scenario on `stream` (3 partitions per topic), every
// reconnection alternating between instances `a` and `b`: the id is the only state.
void alternate(const daemon_process& a, const daemon_process& b, const std::string& stream,
               const std::vector<std::string>& topics, const std::string& bootstrap) {
  const auto seed = base_seed();
  for (int r = 0; r < 6 && !::testing::Test::HasFailure(); ++r) {
    run_resume_scenario({seed + static_cast<std::uint64_t>(r),
                         {a.port(), b.port()},
                         stream,
                         topics,
                         3,
                         bootstrap,
                         "",
                         nullptr});
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "repeat with EVENTSTREAMS_IT_SEED=" << seed + static_cast<std::uint64_t>(r);
    }
  }
}

TEST(Resume, MovesBetweenTwoInstancesOnOneClusterWithoutLoss) {
  mock_cluster cluster(3);
  const std::vector<std::string> topics{"pair.eqiad", "pair.codfw"};
  cluster.create_topics({{topics[0], 3}, {topics[1], 3}});
  daemon_config cfg;
  cfg.bootstrap_servers = cluster.bootstrap();
  cfg.streams = {{"pair", topics, {}, false}};
  daemon_process a(cfg);
  daemon_process b(cfg);
  alternate(a, b, "pair", topics, cluster.bootstrap());
}

// The same between a per-connection instance and a shared one (docs/api.md §11): the shared
// instance replays from its rings the resumes they hold, and hands the older ones to their own
// consumers; either way the client loses and repeats nothing.
TEST(Resume, MovesBetweenAPerConnectionAndASharedInstanceWithoutLoss) {
  mock_cluster cluster(3);
  const std::vector<std::string> topics{"mixed.eqiad", "mixed.codfw"};
  cluster.create_topics({{topics[0], 3}, {topics[1], 3}});
  daemon_config cfg;
  cfg.bootstrap_servers = cluster.bootstrap();
  cfg.streams = {{"mixed", topics, {}, false}};
  daemon_process a(cfg);
  cfg.fanout_mode = "shared";
  daemon_process b(cfg);
  alternate(a, b, "mixed", topics, cluster.bootstrap());
  // The shared instance served resumes from its rings.
  EXPECT_GT(metric_sum(b.port(), "eventstreams_fanout_resumes_total", "from=\"ring\""), 0);
  EXPECT_EQ(metric_sum(b.port(), "eventstreams_streams_opened_total", "mode=\"per_connection\""),
            metric_sum(b.port(), "eventstreams_fanout_resumes_total", "from=\"kafka\""));
}

}  // namespace
}  // namespace eventstreams::test

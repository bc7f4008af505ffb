// Start-position resolution with an injected Kafka lookup (the embedded cluster answers every
// timestamp lookup with "end", so timestamp resolution is tested here).
#include <gtest/gtest.h>

#include <map>

#include "eventstreams/start_resolver.hpp"

namespace eventstreams {
namespace {

using namespace std::chrono_literals;

// A cluster in memory: per partition the retained range and the record timestamps.
class fake_lookup : public offset_lookup {
 public:
  struct partition_data {
    partition_bounds bounds;
    std::vector<std::int64_t> timestamps;  // timestamps[i] is the record at bounds.low + i
  };
  std::map<std::string, std::vector<partition_data>> topics;
  lookup_error fail_with;
  int timestamp_calls = 0;
  std::vector<std::int64_t> asked_times;

  lookup_error partition_counts(const std::vector<std::string>& names, std::chrono::milliseconds,
                                std::vector<int>& out) override {
    if (fail_with)
      return fail_with;
    out.clear();
    for (const auto& n : names) {
      auto it = topics.find(n);
      if (it == topics.end())
        return {lookup_error_kind::topic_missing, "topic " + n};
      out.push_back(static_cast<int>(it->second.size()));
    }
    return {};
  }
  lookup_error bounds(const std::vector<topic_partition>& ps, std::chrono::milliseconds,
                      std::vector<partition_bounds>& out) override {
    out.clear();
    for (const auto& p : ps)
      out.push_back(at(p).bounds);
    return {};
  }
  lookup_error offsets_for_times(const std::vector<topic_partition>& ps,
                                 const std::vector<std::int64_t>& times, std::chrono::milliseconds,
                                 std::vector<std::int64_t>& out) override {
    ++timestamp_calls;
    out.clear();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      asked_times.push_back(times[i]);
      const auto& d = at(ps[i]);
      std::int64_t found = -1;
      for (std::size_t r = 0; r < d.timestamps.size(); ++r) {
        if (d.timestamps[r] >= times[i]) {
          found = d.bounds.low + static_cast<std::int64_t>(r);
          break;
        }
      }
      out.push_back(found);
    }
    return {};
  }

 private:
  const partition_data& at(const topic_partition& p) {
    return topics.at(p.topic).at(static_cast<std::size_t>(p.partition));
  }
};

// Topic "a": 2 partitions; partition 0 holds offsets [10, 15) at times 1000..1004,
// partition 1 holds [0, 3) at times 2000, 2000, 2001 (same-millisecond records).
fake_lookup make_cluster() {
  fake_lookup f;
  f.topics["a"] = {{{10, 15}, {1000, 1001, 1002, 1003, 1004}}, {{0, 3}, {2000, 2000, 2001}}};
  f.topics["b"] = {{{5, 5}, {}}};  // empty partition
  return f;
}

std::vector<partition_position> resolve(fake_lookup& f, const std::vector<last_event_entry>& e,
                                        std::optional<std::int64_t> since = std::nullopt,
                                        resume_policy policy = resume_policy::offset) {
  std::vector<partition_position> out;
  auto err = resolve_start_positions(f, {"a", "b"}, e, since, policy, 1s, out);
  EXPECT_FALSE(err) << err.detail;
  return out;
}

TEST(StartResolver, NoEntryNoSinceStartsEveryPartitionAtItsConcreteEnd) {
  auto f = make_cluster();
  auto out = resolve(f, {});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].topic, "a");
  EXPECT_EQ(out[0].partition, 0);
  EXPECT_EQ(out[0].next_offset, 15);
  EXPECT_EQ(out[1].next_offset, 3);
  EXPECT_EQ(out[2].topic, "b");
  EXPECT_EQ(out[2].next_offset, 5);
  EXPECT_EQ(f.timestamp_calls, 0);
}

TEST(StartResolver, ExactOffsetsResumeExactlyAndCarryTheirTimestamp) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", 0, 12, 1001}, {"a", 1, 3, 2001}});
  EXPECT_EQ(out[0].next_offset, 12);
  EXPECT_EQ(out[0].timestamp, 1001);
  EXPECT_EQ(out[1].next_offset, 3);
  EXPECT_EQ(out[2].next_offset, 5);  // unlisted: end
  EXPECT_FALSE(out[2].timestamp.has_value());
}

std::vector<position_gap> resolve_gaps(fake_lookup& f, const std::vector<last_event_entry>& e,
                                       std::vector<partition_position>& out,
                                       resume_policy policy = resume_policy::offset) {
  std::vector<position_gap> gaps{{9, gap_reason::unknown, 1, 2, 3}};  // replaced, not appended to
  auto err = resolve_start_positions(f, {"a", "b"}, e, std::nullopt, policy, 1s, out, &gaps);
  EXPECT_FALSE(err) << err.detail;
  return gaps;
}

TEST(StartResolver, OffsetsBelowTheRetainedRangeAreRetentionGapsFromTheEarliestRecord) {
  auto f = make_cluster();
  std::vector<partition_position> out;
  auto gaps = resolve_gaps(f, {{"a", 0, 0, std::nullopt}, {"a", 1, 2, std::nullopt}}, out);
  EXPECT_EQ(out[0].next_offset, 10);  // the earliest retained record
  EXPECT_EQ(out[1].next_offset, 2);   // in range: exact, no gap
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].index, 0u);
  EXPECT_EQ(gaps[0].reason, gap_reason::retention);
  EXPECT_EQ(gaps[0].requested, 0);
  EXPECT_EQ(gaps[0].resumed, 10);
  EXPECT_EQ(gaps[0].missing, 10);
}

TEST(StartResolver, AGapWithATimestampResumesByItAndCountsFromTheRequestedOffset) {
  auto f = make_cluster();
  std::vector<partition_position> out;
  auto gaps = resolve_gaps(f, {{"a", 0, 3, 1003}}, out);
  EXPECT_EQ(out[0].next_offset, 13);  // the first record with ts >= 1003
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].reason, gap_reason::retention);
  EXPECT_EQ(gaps[0].resumed, 13);
  EXPECT_EQ(gaps[0].missing, 10);
}

TEST(StartResolver, OffsetsPastTheEndAreResetGapsCountingTheCurrentLogBeforeTheStart) {
  auto f = make_cluster();
  std::vector<partition_position> out;
  // a/0 ends at 15 and b/0 (empty) at 5: both were asked for offsets they never reached.
  auto gaps = resolve_gaps(f, {{"a", 0, 40, std::nullopt}, {"b", 0, 6, std::nullopt}}, out,
                           resume_policy::timestamp);  // no timestamp: the offset rules apply
  EXPECT_EQ(out[0].next_offset, 15);
  EXPECT_EQ(out[2].next_offset, 5);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].index, 0u);
  EXPECT_EQ(gaps[0].reason, gap_reason::reset);
  EXPECT_EQ(gaps[0].requested, 40);
  EXPECT_EQ(gaps[0].resumed, 15);
  EXPECT_EQ(gaps[0].missing, 5);  // [10, 15): the current log's records it starts after
  EXPECT_EQ(gaps[1].index, 2u);
  EXPECT_EQ(gaps[1].reason, gap_reason::reset);
  EXPECT_EQ(gaps[1].missing, 0);  // nothing retained
}

TEST(StartResolver, ExactAndLogicalStartsAreNoGaps) {
  auto f = make_cluster();
  std::vector<partition_position> out;
  auto gaps = resolve_gaps(
      f, {{"a", 0, 15, std::nullopt}, {"a", 1, -2, std::nullopt}, {"b", 0, std::nullopt, 1}}, out);
  EXPECT_TRUE(gaps.empty());
  // resume_by timestamp: a timestamp wins over an offset out of range, no gap.
  gaps = resolve_gaps(f, {{"a", 0, 0, 1001}}, out, resume_policy::timestamp);
  EXPECT_EQ(out[0].next_offset, 11);
  EXPECT_TRUE(gaps.empty());
}

TEST(StartResolver, SinceAppliesToUnlistedPartitionsThroughTheTimestampLookup) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", 0, 11, std::nullopt}}, 2000);
  EXPECT_EQ(out[0].next_offset, 11);  // listed: exact offset, since ignored
  EXPECT_EQ(out[1].next_offset, 0);   // first record with ts >= 2000 (two share that ms)
  EXPECT_EQ(out[2].next_offset, 5);   // empty partition: lookup says none -> end
  EXPECT_EQ(f.timestamp_calls, 1);
}

TEST(StartResolver, SinceOlderThanRetentionStartsAtEarliestAndNewerAtEnd) {
  auto f = make_cluster();
  auto old = resolve(f, {}, 1);
  EXPECT_EQ(old[0].next_offset, 10);
  EXPECT_EQ(old[1].next_offset, 0);
  auto future = resolve(f, {}, 999999);
  EXPECT_EQ(future[0].next_offset, 15);
  EXPECT_EQ(future[1].next_offset, 3);
}

TEST(StartResolver, OutOfRangeOffsetFallsBackToTimestampThenBounds) {
  auto f = make_cluster();
  // Below the range with a timestamp: resolved by time (1003 -> offset 13).
  auto out = resolve(f, {{"a", 0, 2, 1003}, {"a", 1, 99, std::nullopt}});
  EXPECT_EQ(out[0].next_offset, 13);
  EXPECT_EQ(out[1].next_offset, 3);  // above the range, no timestamp: end
  auto below = resolve(f, {{"a", 0, 2, std::nullopt}});
  EXPECT_EQ(below[0].next_offset, 10);  // below the range, no timestamp: earliest
}

TEST(StartResolver, TimestampOnlyAndOriginalServiceEntries) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", 0, std::nullopt, 1002}, {"a", 1, -2, std::nullopt}});
  EXPECT_EQ(out[0].next_offset, 12);
  EXPECT_EQ(out[1].next_offset, 0);  // -2: earliest
  auto end = resolve(f, {{"a", 0, -1, std::nullopt}});
  EXPECT_EQ(end[0].next_offset, 15);  // -1: end
}

TEST(StartResolver, WholeTopicEntryAppliesToEveryPartitionButExactEntriesWin) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", std::nullopt, std::nullopt, 1004}, {"a", 1, 1, std::nullopt}});
  EXPECT_EQ(out[0].next_offset, 14);
  EXPECT_EQ(out[1].next_offset, 1);
}

TEST(StartResolver, ResumeByTimestampMakesTimestampsWin) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", 0, 11, 1003}}, std::nullopt, resume_policy::timestamp);
  EXPECT_EQ(out[0].next_offset, 13);
  auto by_offset = resolve(f, {{"a", 0, 11, 1003}});
  EXPECT_EQ(by_offset[0].next_offset, 11);
}

TEST(StartResolver, EntriesForPartitionsThatDoNotExistAreIgnored) {
  auto f = make_cluster();
  auto out = resolve(f, {{"a", 7, 1, std::nullopt}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].next_offset, 15);
}

TEST(StartResolver, LookupErrorsAreReturned) {
  auto f = make_cluster();
  f.fail_with = {lookup_error_kind::unreachable, "Kafka metadata request failed"};
  std::vector<partition_position> out;
  auto err = resolve_start_positions(f, {"a"}, {}, std::nullopt, resume_policy::offset, 1s, out);
  EXPECT_EQ(err.kind, lookup_error_kind::unreachable);
  fake_lookup g = make_cluster();
  err = resolve_start_positions(g, {"missing"}, {}, std::nullopt, resume_policy::offset, 1s, out);
  EXPECT_EQ(err.kind, lookup_error_kind::topic_missing);
}

}  // namespace
}  // namespace eventstreams

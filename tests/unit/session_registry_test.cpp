// The registry of live streams (src/context/session_registry): limits, hand-over, and the
// members the server's once-a-second lag walk leaves to their shard (docs/api.md "Metrics").
#include "context/session_registry.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace eventstreams {
namespace {

struct member final : stream_member {
  void end(std::string, std::chrono::milliseconds, std::shared_ptr<void>) override {}
};

std::set<stream_member*> visited(const session_registry& r, bool all) {
  std::set<stream_member*> out;
  auto add = [&](std::shared_ptr<stream_member> s) { out.insert(s.get()); };
  if (all)
    r.for_each(add);
  else
    r.for_each_sampled_here(add);
  return out;
}

TEST(SessionRegistry, MembersSampledElsewhereAreLeftOutOfTheLagWalkOnly) {
  session_registry r;
  auto a = std::make_shared<member>(), b = std::make_shared<member>();
  ASSERT_EQ(r.try_join(a.get(), a, "10.0.0.1", 10, 0), session_registry::join_result::ok);
  ASSERT_EQ(r.try_join(b.get(), b, "10.0.0.1", 10, 0), session_registry::join_result::ok);
  r.sampled_elsewhere(b.get());
  EXPECT_EQ(visited(r, false), (std::set<stream_member*>{a.get()}));
  EXPECT_EQ(visited(r, true), (std::set<stream_member*>{a.get(), b.get()}));  // shutdown
  EXPECT_EQ(r.size(), 2u);
}

TEST(SessionRegistry, MembersSampledElsewhereCountForTheLimitsAndLeave) {
  session_registry r;
  auto a = std::make_shared<member>(), b = std::make_shared<member>(),
       c = std::make_shared<member>();
  ASSERT_EQ(r.try_join(a.get(), a, "10.0.0.1", 2, 2), session_registry::join_result::ok);
  ASSERT_EQ(r.try_join(b.get(), b, "10.0.0.1", 2, 2), session_registry::join_result::ok);
  r.sampled_elsewhere(a.get());
  r.sampled_elsewhere(b.get());
  EXPECT_EQ(r.try_join(c.get(), c, "10.0.0.2", 2, 2), session_registry::join_result::process_limit);
  EXPECT_EQ(r.try_join(c.get(), c, "10.0.0.1", 3, 2), session_registry::join_result::client_limit);
  r.leave(a.get());
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.departures(), 1u);
  // The client's count went down with it.
  EXPECT_EQ(r.try_join(c.get(), c, "10.0.0.1", 3, 2), session_registry::join_result::ok);
  EXPECT_EQ(visited(r, true), (std::set<stream_member*>{b.get(), c.get()}));
}

TEST(SessionRegistry, AHandOverFromAMemberSampledElsewhereIsSampledHereUntilToldOtherwise) {
  session_registry r;
  auto opener = std::make_shared<member>(), session = std::make_shared<member>();
  ASSERT_EQ(r.try_join(opener.get(), opener, "10.0.0.1", 10, 1), session_registry::join_result::ok);
  r.sampled_elsewhere(opener.get());
  r.hand_over(opener.get(), session.get(), session);
  EXPECT_EQ(visited(r, false), (std::set<stream_member*>{session.get()}));
  r.sampled_elsewhere(session.get());
  EXPECT_TRUE(visited(r, false).empty());
  EXPECT_EQ(r.size(), 1u);
  r.leave(session.get());
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace eventstreams

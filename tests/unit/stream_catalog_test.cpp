// stream_catalog: name/alias lookup and the topic selection of a request (API.md §4).
#include "eventstreams/stream_catalog.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace eventstreams {
namespace {

using strings = std::vector<std::string>;

stream_config make_stream(std::string name, strings topics, strings aliases = {},
                          canary_policy canary = canary_policy::drop) {
  stream_config s;
  s.name = std::move(name);
  s.topics = std::move(topics);
  s.aliases = std::move(aliases);
  s.canary_events = canary;
  return s;
}

// recentchange and rc-test share a topic; only rc-test passes canaries.
stream_catalog make_catalog() {
  return stream_catalog({
      make_stream("recentchange", {"eqiad.rc", "codfw.rc"}, {"rc", "recent"}),
      make_stream("page-create", {"eqiad.pc", "codfw.pc"}),
      make_stream("rc-test", {"codfw.rc", "test.rc"}, {"rct"}, canary_policy::pass),
      make_stream("mediawiki.page_change.v1", {"eqiad.page_change"}),
  });
}

TEST(StreamCatalog, FindsNamesAndAliases) {
  const stream_catalog catalog = make_catalog();
  ASSERT_NE(catalog.find("recentchange"), nullptr);
  EXPECT_EQ(catalog.find("recentchange")->name, "recentchange");
  EXPECT_EQ(catalog.find("rc"), catalog.find("recentchange"));
  EXPECT_EQ(catalog.find("recent"), catalog.find("recentchange"));
  EXPECT_EQ(catalog.find("rct")->name, "rc-test");
  EXPECT_EQ(catalog.find("mediawiki.page_change.v1")->topics, strings{"eqiad.page_change"});
}

TEST(StreamCatalog, FindIsExactAndCaseSensitive) {
  const stream_catalog catalog = make_catalog();
  EXPECT_EQ(catalog.find("RecentChange"), nullptr);
  EXPECT_EQ(catalog.find("RC"), nullptr);
  EXPECT_EQ(catalog.find("recentchang"), nullptr);
  EXPECT_EQ(catalog.find("recentchange "), nullptr);
  EXPECT_EQ(catalog.find(""), nullptr);
  EXPECT_EQ(catalog.find("eqiad.rc"), nullptr);  // topics are not stream names
}

TEST(StreamCatalog, StreamsKeepConfigOrder) {
  const stream_catalog catalog = make_catalog();
  ASSERT_EQ(catalog.streams().size(), 4u);
  EXPECT_EQ(catalog.streams()[0].name, "recentchange");
  EXPECT_EQ(catalog.streams()[3].name, "mediawiki.page_change.v1");
}

TEST(StreamCatalog, AllTopicsFirstSeenOrderWithoutDuplicates) {
  EXPECT_EQ(make_catalog().all_topics(), (strings{"eqiad.rc", "codfw.rc", "eqiad.pc", "codfw.pc",
                                                  "test.rc", "eqiad.page_change"}));
  EXPECT_TRUE(stream_catalog({}).all_topics().empty());
}

TEST(StreamCatalog, SelectOneStream) {
  const stream_selection s = make_catalog().select("recentchange");
  EXPECT_EQ(s.stream_names, strings{"recentchange"});
  EXPECT_EQ(s.topics, (strings{"eqiad.rc", "codfw.rc"}));
  EXPECT_EQ(s.pass_canary, (std::vector<bool>{false, false}));
  EXPECT_TRUE(s.unknown.empty());
}

TEST(StreamCatalog, SelectByAliasGivesCanonicalName) {
  const stream_selection s = make_catalog().select("rc");
  EXPECT_EQ(s.stream_names, strings{"recentchange"});
  EXPECT_EQ(s.topics, (strings{"eqiad.rc", "codfw.rc"}));
}

TEST(StreamCatalog, SelectKeepsRequestOrder) {
  const stream_selection s = make_catalog().select("page-create,recentchange");
  EXPECT_EQ(s.stream_names, (strings{"page-create", "recentchange"}));
  EXPECT_EQ(s.topics, (strings{"eqiad.pc", "codfw.pc", "eqiad.rc", "codfw.rc"}));
  EXPECT_EQ(s.pass_canary.size(), s.topics.size());
}

TEST(StreamCatalog, SelectDeduplicatesStreamsGivenTwiceOrByAlias) {
  const stream_selection s = make_catalog().select("rc,page-create,recentchange,recent,rc");
  EXPECT_EQ(s.stream_names, (strings{"recentchange", "page-create"}));
  EXPECT_EQ(s.topics, (strings{"eqiad.rc", "codfw.rc", "eqiad.pc", "codfw.pc"}));
  EXPECT_TRUE(s.unknown.empty());
}

TEST(StreamCatalog, SelectUnionsSharedTopicsOnce) {
  const stream_selection s = make_catalog().select("recentchange,rc-test");
  EXPECT_EQ(s.stream_names, (strings{"recentchange", "rc-test"}));
  EXPECT_EQ(s.topics, (strings{"eqiad.rc", "codfw.rc", "test.rc"}));
}

TEST(StreamCatalog, CanaryPassIsTheUnionOverSelectingStreams) {
  const stream_catalog catalog = make_catalog();
  // codfw.rc is in both streams; rc-test passes canaries, so codfw.rc passes in either order.
  const stream_selection a = catalog.select("recentchange,rc-test");
  EXPECT_EQ(a.pass_canary, (std::vector<bool>{false, true, true}));
  const stream_selection b = catalog.select("rct,recentchange");
  EXPECT_EQ(b.topics, (strings{"codfw.rc", "test.rc", "eqiad.rc"}));
  EXPECT_EQ(b.pass_canary, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(catalog.select("rc-test").pass_canary, (std::vector<bool>{true, true}));
}

TEST(StreamCatalog, SelectReportsUnknownNamesInRequestOrderOnce) {
  const stream_selection s = make_catalog().select("nope,rc,zzz,nope,RC");
  EXPECT_EQ(s.unknown, (strings{"nope", "zzz", "RC"}));
  EXPECT_EQ(s.stream_names, strings{"recentchange"});
  EXPECT_EQ(s.topics, (strings{"eqiad.rc", "codfw.rc"}));
}

TEST(StreamCatalog, SelectReportsEmptyItemsAsEmptyString) {
  const stream_catalog catalog = make_catalog();
  EXPECT_EQ(catalog.select("").unknown, strings{""});
  EXPECT_TRUE(catalog.select("").stream_names.empty());
  EXPECT_TRUE(catalog.select("").topics.empty());
  EXPECT_EQ(catalog.select("rc,,page-create").unknown, strings{""});
  EXPECT_EQ(catalog.select("rc,,page-create").stream_names,
            (strings{"recentchange", "page-create"}));
  EXPECT_EQ(catalog.select(",rc,").unknown, strings{""});
  EXPECT_EQ(catalog.select(",").unknown, strings{""});
}

TEST(StreamCatalog, SelectDoesNotTrimOrSplitOnOtherSeparators) {
  const stream_catalog catalog = make_catalog();
  EXPECT_EQ(catalog.select(" rc").unknown, strings{" rc"});
  EXPECT_EQ(catalog.select("rc;page-create").unknown, strings{"rc;page-create"});
}

TEST(StreamCatalog, EmptyCatalogKnowsNothing) {
  const stream_catalog catalog({});
  EXPECT_EQ(catalog.find("rc"), nullptr);
  const stream_selection s = catalog.select("rc,recentchange");
  EXPECT_EQ(s.unknown, (strings{"rc", "recentchange"}));
  EXPECT_TRUE(s.topics.empty());
}

TEST(StreamCatalog, FirstStreamKeepsAClaimedName) {
  // parse_config rejects this; a hand-built catalog must still be deterministic.
  const stream_catalog catalog({make_stream("a", {"t1"}, {"x"}), make_stream("x", {"t2"})});
  EXPECT_EQ(catalog.find("x")->name, "x");  // a name beats an alias
  EXPECT_EQ(catalog.find("a")->topics, strings{"t1"});
}

stream_config with_mode(stream_config s, delivery_mode mode) {
  s.fanout = mode;
  return s;
}

// A request is served in the shared mode only when every stream it selects is shared
// (docs/api.md, "Delivery modes").
TEST(StreamCatalog, SelectIsSharedIffEverySelectedStreamIsShared) {
  const stream_catalog catalog({
      with_mode(make_stream("s1", {"t1"}, {"s1-alias"}), delivery_mode::shared),
      with_mode(make_stream("s2", {"t2", "t1"}), delivery_mode::shared),
      with_mode(make_stream("p1", {"t3"}), delivery_mode::per_connection),
      make_stream("p2", {"t1"}),  // the struct default: per_connection
  });
  struct row {
    const char* list;
    bool shared;
  };
  for (const auto& [list, shared] : {
           row{"s1", true}, row{"s1-alias", true}, row{"s1,s2", true}, row{"s2,s1-alias,s1", true},
           row{"p1", false}, row{"p2", false}, row{"p1,p2", false},
           row{"s1,p1", false},                                          // mixed: per connection
           row{"p2,s2", false}, row{"s1,s2,p2", false}, row{"", false},  // nothing selected
           row{"nope", false},                                           // nothing selected
           row{"s1,nope", true},   // the unknown name makes it a 400 before the mode matters
           row{"nope,p1", false},  // likewise
       }) {
    SCOPED_TRACE(list);
    EXPECT_EQ(catalog.select(list).shared, shared);
  }
  EXPECT_FALSE(stream_catalog({}).select("s1").shared);
  EXPECT_FALSE(make_catalog().select("recentchange,page-create").shared);
}

TEST(StreamCatalog, BuiltFromTheDemoConfig) {
  const stream_catalog catalog(
      load_config_file(std::string(EVENTSTREAMS_SOURCE_DIR) + "/config/demo.yaml").streams);
  const stream_selection s = catalog.select("rc,page-create");
  EXPECT_EQ(s.stream_names, (strings{"recentchange", "page-create"}));
  EXPECT_EQ(s.topics, (strings{"eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange",
                               "eqiad.mediawiki.page-create", "codfw.mediawiki.page-create"}));
  EXPECT_EQ(s.pass_canary, std::vector<bool>(4, false));
  EXPECT_FALSE(s.shared);  // the demo streams keep the default mode
}

TEST(StreamCatalog, SharedFollowsTheLoadersResolution) {
  // fanout.mode after streams is the default of the streams without their own key.
  const stream_catalog catalog(parse_config("streams:\n"
                                            "  a: {topics: [t1]}\n"
                                            "  b: {topics: [t2], fanout: per_connection}\n"
                                            "  c: {topics: [t3], fanout: shared}\n"
                                            "fanout: {mode: shared}\n",
                                            "f.yaml")
                                   .streams);
  EXPECT_TRUE(catalog.select("a").shared);
  EXPECT_TRUE(catalog.select("a,c").shared);
  EXPECT_FALSE(catalog.select("b").shared);
  EXPECT_FALSE(catalog.select("a,b").shared);
}

}  // namespace
}  // namespace eventstreams

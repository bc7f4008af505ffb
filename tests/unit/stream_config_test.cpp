// Streams from EventStreamConfig (docs/api.md): the `stream_config` section, the mapping of a
// fetched document to streams, and its merge with the inline streams.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstreams/config.hpp"
#include "eventstreams/stream_config_map.hpp"

namespace eventstreams {
namespace {

using std::chrono::milliseconds;
using strings = std::vector<std::string>;

// The shape of `action=streamconfigs&format=json`: streams under "streams", with the settings
// EventStreamConfig returns (and ones eventstreams ignores, like destination_event_service).
const char* const document = R"({
  "streams": {
    "mediawiki.recentchange": {
      "stream": "mediawiki.recentchange",
      "schema_title": "mediawiki/recentchange",
      "destination_event_service": "eventgate-main",
      "topic_prefixes": ["eqiad.", "codfw."],
      "topics": ["eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange"],
      "stream_aliases": ["recentchange", "rc"],
      "description": "Edits",
      "canary_events_enabled": true
    },
    "mediawiki.page_change.v1": {
      "schema_title": "mediawiki/page/change",
      "topic_prefixes": ["eqiad.", "codfw."],
      "canary_events_enabled": false
    },
    "/^mediawiki\\.job\\..+/": {"topic_prefixes": ["eqiad."]},
    "eventlogging_NavigationTiming": {"schema_title": "analytics/legacy/navigationtiming"},
    "test.event": {"topics": ["eqiad.test.event"]}
  }
})";

stream_source_config settings(strings allowed = {}) {
  stream_source_config s;
  s.uri = "https://meta.example/w/api.php";
  s.allowed_streams = std::move(allowed);
  return s;
}

stream_config make_stream(std::string name, strings topics, strings aliases) {
  stream_config s;
  s.name = std::move(name);
  s.topics = std::move(topics);
  s.aliases = std::move(aliases);
  return s;
}

const stream_config* find(const std::vector<stream_config>& streams, const std::string& name) {
  for (const auto& s : streams) {
    if (s.name == name)
      return &s;
  }
  return nullptr;
}

strings names(const std::vector<stream_config>& streams) {
  strings out;
  for (const auto& s : streams)
    out.push_back(s.name);
  return out;
}

strings skipped_names(const std::vector<skipped_stream>& skipped) {
  strings out;
  for (const auto& s : skipped)
    out.push_back(s.name);
  return out;
}

TEST(StreamConfigMap, MapsTheEventStreamConfigFields) {
  const auto r = map_stream_config(document, settings(), delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  // In name order; the pattern and the stream without topics are skipped.
  EXPECT_EQ(names(r.streams),
            (strings{"mediawiki.page_change.v1", "mediawiki.recentchange", "test.event"}));
  const auto* rc = find(r.streams, "mediawiki.recentchange");
  ASSERT_NE(rc, nullptr);
  EXPECT_EQ(rc->topics, (strings{"eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange"}));
  EXPECT_EQ(rc->aliases, (strings{"recentchange", "rc"}));
  EXPECT_EQ(rc->description, "Edits");
  EXPECT_EQ(rc->schema_title, "mediawiki/recentchange");
  EXPECT_EQ(rc->canary_events, canary_policy::drop);
  const auto* pc = find(r.streams, "mediawiki.page_change.v1");
  ASSERT_NE(pc, nullptr);
  // Only topic_prefixes: each prefix + the name.
  EXPECT_EQ(pc->topics,
            (strings{"eqiad.mediawiki.page_change.v1", "codfw.mediawiki.page_change.v1"}));
  EXPECT_EQ(pc->canary_events, canary_policy::pass);  // canary_events_enabled: false
  EXPECT_EQ(pc->description, "");
  const auto* test = find(r.streams, "test.event");
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(test->canary_events, canary_policy::drop);  // absent means enabled
  EXPECT_EQ(test->fanout, delivery_mode::per_connection);

  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_EQ(r.skipped[0].name, "/^mediawiki\\.job\\..+/");
  EXPECT_TRUE(r.skipped[0].expected);
  EXPECT_NE(r.skipped[0].reason.find("pattern"), std::string::npos);
  EXPECT_EQ(r.skipped[1].name, "eventlogging_NavigationTiming");
  EXPECT_FALSE(r.skipped[1].expected);
  EXPECT_EQ(r.skipped[1].reason, "no topics (neither topics nor topic_prefixes)");
}

TEST(StreamConfigMap, AllowedStreamsByNameOrAlias) {
  struct row {
    strings allowed;
    strings kept;
  };
  for (const auto& [allowed, kept] : std::vector<row>{
           {{}, {"mediawiki.page_change.v1", "mediawiki.recentchange", "test.event"}},
           {{"test.event"}, {"test.event"}},
           {{"rc"}, {"mediawiki.recentchange"}},  // an alias selects its stream
           {{"mediawiki.recentchange", "mediawiki.page_change.v1"},
            {"mediawiki.page_change.v1", "mediawiki.recentchange"}},
           {{"test.event", "unknown"}, {"test.event"}},
       }) {
    SCOPED_TRACE(::testing::PrintToString(allowed));
    const auto r = map_stream_config(document, settings(allowed), delivery_mode::per_connection);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(names(r.streams), kept);
    // Streams outside the list are skipped quietly.
    for (const auto& s : r.skipped) {
      if (s.reason == "not in stream_config.allowed_streams") {
        EXPECT_TRUE(s.expected);
      }
    }
  }
  const auto none = map_stream_config(document, settings({"unknown"}), delivery_mode::shared);
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.error, "no stream left (5 in the document, 5 skipped)");
}

TEST(StreamConfigMap, DocumentsThatCannotBeUsed) {
  struct row {
    std::string doc, object_path, error;
  };
  for (const auto& [doc, path, error] : std::vector<row>{
           {"", "streams", "invalid JSON"},
           {"{\"streams\": {", "streams", "invalid JSON"},
           {"<html>500</html>", "streams", "invalid JSON"},
           {"{}", "streams", "no JSON object at object_path \"streams\""},
           {"{\"streams\": []}", "streams", "no JSON object at object_path \"streams\""},
           {"{\"streams\": {}}", "streams", "no stream left (0 in the document, 0 skipped)"},
           {"[1]", "", "the document is not a JSON object"},
           {"{\"a\": {\"b\": 1}}", "a.b", "no JSON object at object_path \"a.b\""},
           {"{\"s\": {\"x\": {}}}", "s", "no stream left (1 in the document, 1 skipped)"},
       }) {
    SCOPED_TRACE(doc + " @ " + path);
    auto s = settings();
    s.object_path = path;
    EXPECT_EQ(map_stream_config(doc, s, delivery_mode::per_connection).error, error);
  }
}

TEST(StreamConfigMap, ObjectPathFindsNestedMapsOrTheDocumentItself) {
  auto s = settings();
  s.object_path = "data.config.streams";
  auto r = map_stream_config(R"({"data": {"config": {"streams": {"a": {"topics": ["t"]}}}}})", s,
                             delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(names(r.streams), strings{"a"});
  s.object_path = "";
  r = map_stream_config(R"({"a": {"topics": ["t"]}})", s, delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(names(r.streams), strings{"a"});
}

TEST(StreamConfigMap, EntriesThatCannotBeServedAreSkippedWithAReason) {
  struct row {
    std::string entry;   // the JSON settings of stream "s" (or a whole "name": settings pair)
    std::string reason;  // "" = kept
  };
  for (const auto& [entry, reason] : std::vector<row>{
           {R"("s": 1)", "its settings are not a JSON object"},
           {R"("s": {"topics": "t"})", "topics is not a list"},
           {R"("s": {"topics": [1]})", "topics is not a list of strings"},
           {R"("s": {"topics": []})", "no topics (neither topics nor topic_prefixes)"},
           {R"("s": {"topics": null, "topic_prefixes": ["x."]})", ""},
           {R"("s": {"topic_prefixes": "x."})", "topic_prefixes is not a list"},
           {R"("s": {"topic_prefixes": []})", "no topics (neither topics nor topic_prefixes)"},
           {R"("s": {"topics": ["bad topic"]})", "invalid Kafka topic name \"bad topic\""},
           {R"("s": {"topics": ["t"], "stream_aliases": "a"})", "stream_aliases is not a list"},
           {R"("s p": {"topics": ["t"]})",
            "the name cannot be used in a URL (use letters, digits, '.', '_' and '-')"},
           {R"("s": {"topics": ["t"], "description": 5, "schema_title": null})", ""},
       }) {
    SCOPED_TRACE(entry);
    const auto r =
        map_stream_config("{\"streams\": {" + entry + ", \"ok\": {\"topics\": [\"o\"]}}}",
                          settings(), delivery_mode::per_connection);
    ASSERT_TRUE(r.ok()) << r.error;
    if (reason.empty()) {
      EXPECT_EQ(names(r.streams), (strings{"ok", "s"}));
      EXPECT_TRUE(r.skipped.empty());
    } else {
      EXPECT_EQ(names(r.streams), strings{"ok"});
      ASSERT_EQ(r.skipped.size(), 1u);
      EXPECT_EQ(r.skipped[0].reason, reason);
      EXPECT_FALSE(r.skipped[0].expected);
    }
  }
}

TEST(StreamConfigMap, AliasClashesDropTheAliasNotTheStream) {
  const auto r = map_stream_config(R"({"streams": {
      "a": {"topics": ["ta"], "stream_aliases": ["b", "x", "x", "a", "bad alias"]},
      "b": {"topics": ["tb"], "stream_aliases": ["x", "y"]},
      "c": {"topics": ["tc", "tc"]}}})",
                                   settings(), delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(names(r.streams), (strings{"a", "b", "c"}));
  EXPECT_EQ(r.streams[0].aliases, strings{"x"});  // "b" is a name, "a" its own, "x" once
  EXPECT_EQ(r.streams[1].aliases, strings{"y"});  // "x" went to "a" first
  EXPECT_EQ(r.streams[2].topics, strings{"tc"});  // duplicates removed
  EXPECT_EQ(skipped_names(r.skipped),
            (strings{"a (alias b)", "a (alias bad alias)", "b (alias x)"}));
}

TEST(StreamConfigMap, DefaultsGoUnderEveryStream) {
  auto s = settings();
  s.defaults.topic_prefixes = strings{"eqiad."};
  s.defaults.description = "From meta";
  s.defaults.canary_events_enabled = false;
  s.defaults.fanout = delivery_mode::shared;
  auto r = map_stream_config(R"({"streams": {
      "own": {"topics": ["t1"], "description": "Own", "canary_events_enabled": true},
      "bare": {}}})",
                             s, delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(names(r.streams), (strings{"bare", "own"}));
  EXPECT_EQ(r.streams[0].topics, strings{"eqiad.bare"});
  EXPECT_EQ(r.streams[0].description, "From meta");
  EXPECT_EQ(r.streams[0].canary_events, canary_policy::pass);
  EXPECT_EQ(r.streams[0].fanout, delivery_mode::shared);
  EXPECT_EQ(r.streams[1].topics, strings{"t1"});
  EXPECT_EQ(r.streams[1].description, "Own");
  EXPECT_EQ(r.streams[1].canary_events, canary_policy::drop);
  // canary_events (eventstreams' own key) overrides what canary_events_enabled implies.
  s.defaults.canary_events = canary_policy::pass;
  r = map_stream_config(R"({"streams": {"own": {"topics": ["t1"]}}})", s,
                        delivery_mode::per_connection);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.streams[0].canary_events, canary_policy::pass);
}

TEST(StreamConfigMerge, InlineStreamsWin) {
  const auto rc_inline = make_stream("recentchange", {"local.rc"}, {"rc"});
  const auto extra = make_stream("extra", {"local.extra"}, {"x"});
  const auto fetched =
      map_stream_config(document, settings(), delivery_mode::per_connection).streams;
  const auto m = merge_streams({rc_inline, extra}, fetched);
  // Inline first, in file order, then the fetched ones in name order.
  EXPECT_EQ(names(m.streams), (strings{"recentchange", "extra", "mediawiki.page_change.v1",
                                       "mediawiki.recentchange", "test.event"}));
  EXPECT_EQ(m.streams[0].topics, strings{"local.rc"});
  // The fetched stream keeps its name, loses the aliases the inline stream holds.
  EXPECT_TRUE(m.streams[3].aliases.empty());
  EXPECT_EQ(skipped_names(m.skipped), (strings{"mediawiki.recentchange (alias recentchange)",
                                               "mediawiki.recentchange (alias rc)"}));

  // A fetched name used by an inline stream (name or alias): the fetched one is left out.
  const auto alias_clash = make_stream("mine", {"t"}, {"test.event"});
  const auto m2 = merge_streams({alias_clash}, fetched);
  EXPECT_EQ(names(m2.streams),
            (strings{"mine", "mediawiki.page_change.v1", "mediawiki.recentchange"}));
  ASSERT_EQ(m2.skipped.size(), 1u);
  EXPECT_EQ(m2.skipped[0].name, "test.event");
  EXPECT_TRUE(m2.skipped[0].expected);

  EXPECT_EQ(names(merge_streams({}, fetched).streams), names(fetched));
  EXPECT_EQ(names(merge_streams({extra}, {}).streams), strings{"extra"});
}

// The `stream_config` section ----------------------------------------------------------------

std::string rejection(const std::string& yaml, const std::string& key) {
  try {
    parse_config(yaml, "bad.yaml");
    ADD_FAILURE() << "accepted: " << yaml;
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("bad.yaml: " + key + ": ", 0), 0u) << e.what();
    return e.reason();
  }
  return "";
}

TEST(StreamConfigSection, DefaultsAndEveryKey) {
  const stream_source_config d;
  EXPECT_EQ(d.uri, "");
  EXPECT_FALSE(d.enabled());
  EXPECT_EQ(d.object_path, "streams");
  EXPECT_EQ(d.ttl, milliseconds(300000));
  EXPECT_EQ(d.timeout, milliseconds(10000));
  EXPECT_TRUE(d.allowed_streams.empty());
  EXPECT_EQ(d.ca_file, "");
  EXPECT_EQ(d.max_bytes, 16u << 20);

  const config c = parse_config(R"(
stream_config:
  uri: "https://meta.wikimedia.org/w/api.php?action=streamconfigs&format=json&all_settings=true"
  object_path: data.streams
  ttl: 0
  timeout: 3s
  allowed_streams: [mediawiki.recentchange, rc]
  defaults:
    topic_prefixes: [eqiad., codfw.]
    description: "An event stream"
    schema_title: x/y
    canary_events_enabled: false
    canary_events: pass
    fanout: shared
  ca_file: /etc/ssl/extra.pem
  max_bytes: 1MiB
)",
                                "sc.yaml");
  const auto& s = c.stream_source;
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(s.object_path, "data.streams");
  EXPECT_EQ(s.ttl, milliseconds(0));
  EXPECT_EQ(s.timeout, milliseconds(3000));
  EXPECT_EQ(s.allowed_streams, (strings{"mediawiki.recentchange", "rc"}));
  EXPECT_EQ(s.defaults.topic_prefixes, (strings{"eqiad.", "codfw."}));
  EXPECT_EQ(s.defaults.description, "An event stream");
  EXPECT_EQ(s.defaults.schema_title, "x/y");
  EXPECT_EQ(s.defaults.canary_events_enabled, false);
  EXPECT_EQ(s.defaults.canary_events, canary_policy::pass);
  EXPECT_EQ(s.defaults.fanout, delivery_mode::shared);
  EXPECT_EQ(s.ca_file, "/etc/ssl/extra.pem");
  EXPECT_EQ(s.max_bytes, 1u << 20);
  EXPECT_TRUE(c.streams.empty());

  EXPECT_EQ(
      parse_config("stream_config: {uri: /etc/eventstreams/streams.json}", "f").stream_source.uri,
      "/etc/eventstreams/streams.json");
  EXPECT_EQ(parse_config("stream_config: {uri: \"HTTP://h/x\"}", "f").stream_source.uri,
            "HTTP://h/x");
  EXPECT_EQ(parse_config("stream_config: {object_path: \"\"}", "f").stream_source.object_path, "");
}

TEST(StreamConfigSection, InvalidValuesNameTheirKey) {
  struct row {
    std::string yaml, key, reason_part;
  };
  for (const auto& [yaml, key, part] : std::vector<row>{
           {"stream_config: {uri: \"ftp://h/x\"}", "stream_config.uri", "unsupported scheme"},
           {"stream_config: {uri: \"https:///x\"}", "stream_config.uri", "no host"},
           {"stream_config: {uri: \"http://h/a b\"}", "stream_config.uri", "spaces"},
           {"stream_config: {uri: [a]}", "stream_config.uri", "expected a scalar"},
           {"stream_config: {object_path: \"a..b\"}", "stream_config.object_path", "empty segment"},
           {"stream_config: {ttl: 5}", "stream_config.ttl", "ambiguous"},
           {"stream_config: {timeout: 0}", "stream_config.timeout", "greater than 0"},
           {"stream_config: {allowed_streams: [a, a]}", "stream_config.allowed_streams[1]",
            "duplicate"},
           {"stream_config: {allowed_streams: [\"a b\"]}", "stream_config.allowed_streams[0]",
            "invalid stream name"},
           {"stream_config: {allowed_streams: a}", "stream_config.allowed_streams",
            "expected a list"},
           {"stream_config: {defaults: {topics: [t]}}", "stream_config.defaults.topics",
            "unknown key"},
           {"stream_config: {defaults: {topic_prefixes: []}}",
            "stream_config.defaults.topic_prefixes", "at least one"},
           {"stream_config: {defaults: {canary_events_enabled: yes}}",
            "stream_config.defaults.canary_events_enabled", "must be one of true, false"},
           {"stream_config: {defaults: {canary_events: keep}}",
            "stream_config.defaults.canary_events", "must be one of drop, pass"},
           {"stream_config: {max_bytes: 10}", "stream_config.max_bytes", "at least 1KiB"},
           {"stream_config: {urls: x}", "stream_config.urls", "unknown key"},
           {"stream_config: [x]", "stream_config", "expected a map"},
       }) {
    SCOPED_TRACE(yaml);
    EXPECT_NE(rejection(yaml, key).find(part), std::string::npos) << yaml;
  }
}

}  // namespace
}  // namespace eventstreams

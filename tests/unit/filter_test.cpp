// The filter language (docs/api.md "Server-side filters"): one row per rule of its semantics,
// the example URLs against recentchange-shaped events, the canonical form and the errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstreams/filter.hpp"
#include "eventstreams/router.hpp"

namespace ef = eventstreams::filter;

namespace {

// A recentchange event as the original service sends it, with a few extra members that the
// rules below need (an array, a null, a number that is not an integer, an escaped string).
constexpr std::string_view edit = R"json({
  "$schema": "/mediawiki/recentchange/1.0.0",
  "meta": {"uri": "https://en.wikipedia.org/wiki/Main_Page", "id": "c1a2", "domain": "en.wikipedia.org",
           "dt": "2026-11-30T12:00:00Z", "stream": "mediawiki.recentchange",
           "topic": "eqiad.mediawiki.recentchange", "partition": 0, "offset": 42},
  "id": 1700000001, "type": "edit", "namespace": 0, "title": "Main Page",
  "comment": "fix typo (via QuickStatements)", "timestamp": 1764504000, "user": "Jimbo Wales",
  "bot": false, "minor": true, "patrolled": null,
  "length": {"old": 1200, "new": 1850}, "revision": {"old": 10, "new": 11},
  "server_url": "https://en.wikipedia.org", "server_name": "en.wikipedia.org",
  "wiki": "enwiki", "parsedcomment": "",
  "tags": ["mw-rollback", "mobile edit"], "empty": [], "ratio": 0.5,
  "place": "Z\u00fcrich", "weird.key": 1, "0": "zero",
  "big": 9007199254740993, "big_double": 9007199254740992.0
})json";

ef::record_view record(std::string_view value = edit) {
  ef::record_view r;
  r.value = value;
  r.topic = "eqiad.mediawiki.recentchange";
  r.partition = 3;
  r.offset = 1234;
  r.timestamp = 1764504000123;
  return r;
}

bool matches(std::vector<std::string> clauses, const ef::record_view& r = record()) {
  auto made = ef::compile(clauses, ef::limits{});
  EXPECT_FALSE(made.error) << clauses[0] << ": " << (made.error ? made.error->detail : "");
  if (made.error)
    return false;
  ef::scratch work;
  return made.filter->matches(r, work);
}

struct row {
  const char* filter;
  bool expected;
  const char* rule;
};

// One row (at least) per rule of the semantics; each row is one filter against `edit`.
const row rows[] = {
    // literals are typed by their form; values come from the event
    {"namespace=0", true, "a bare number equals a JSON number"},
    {"namespace='0'", false, "a quoted token is a string only"},
    {"title=Main Page", true, "spaces inside a bare value are kept"},
    {"title= Main Page ", true, "spaces around a bare value are trimmed"},
    {"bot=false", true, "a bare false equals a JSON false"},
    {"bot='false'", false, "a quoted false is a string"},
    {"patrolled=null", true, "a bare null equals a JSON null"},
    {"patrolled='null'", false, "a quoted null is a string"},
    {"id=1700000001", true, "integers compare exactly"},
    {"ratio=0.5", true, "doubles compare"},
    {"ratio=5e-1", true, "any JSON spelling of the number"},
    {"namespace=0.0", true, "int and double compare exactly"},
    {"big=9007199254740993", true, "int64 beyond 2^53 compares exactly"},
    {"big_double=9007199254740993", false, "a double is not rounded to the int literal"},
    {"big_double=9007199254740992", true, "... and equals the int it is exactly"},
    {"namespace=zero", false, "no form fits: false"},
    {"title=main page", false, "strings compare byte for byte, no case folding"},
    {"title=Main_Page", false, "no title normalisation"},
    {"place=Zürich", true, "escaped strings are compared decoded"},
    {"wiki=dewiki,enwiki,frwiki", true, "a set: any value"},
    {"wiki!=dewiki,frwiki", true, "not in set"},
    {"wiki!=dewiki,enwiki", false, "not in set, present"},
    // ordering: numbers or strings, one value
    {"length.new>1849", true, "number ordering"},
    {"length.new>=1850", true, "number ordering, equal"},
    {"length.new<1850", false, "number ordering, strict"},
    {"ratio<1", true, "double against int literal"},
    {"meta.dt>=2026-11-01T00:00:00Z", true, "ISO timestamps order as strings"},
    {"meta.dt<2026-11-01T00:00:00Z", false, "ISO timestamps order as strings (2)"},
    {"title<N", true, "strings order bytewise"},
    {"namespace<abc", false, "number against a literal with no number form"},
    {"bot<1", false, "bools have no ordering"},
    // string operators apply to strings only
    {"title^=Main", true, "prefix"},
    {"title$=Page", true, "suffix"},
    {"title*=in P", true, "contains"},
    {"title^=Foo,Mai", true, "prefix, any of a set"},
    {"namespace^=0", false, "a number is never coerced to a string"},
    {"bot*=fal", false, "a bool is never coerced to a string"},
    // regexes: RE2, full match
    {"comment=~fix", false, "a regex must match the whole value"},
    {"comment=~'.*(QuickStatements|OpenRefine).*'", true, "quoted regex with | and ()"},
    {"title=~'(?i)main page'", true, "(?i) folds case"},
    {"comment!~'.*QuickStatements.*'", false, "!~ is the negation of =~"},
    {"namespace=~0", false, "a regex never matches a number"},
    // missing fields and type mismatches
    {"nope=1", false, "missing: = is false"},
    {"nope!=1", true, "missing: != is true"},
    {"nope!~x", true, "missing: !~ is true"},
    {"nope<5", false, "missing: ordering is false"},
    {"nope>=5", false, "missing: ordering is false (complement too)"},
    {"!(nope<5)", true, "NOT over ordering is kept: true for missing"},
    {"nope^=a", false, "missing: string operators are false"},
    {"!(nope=1)", true, "NOT over = becomes !="},
    // null
    {"patrolled", false, "null is not truthy"},
    {"has(patrolled)", true, "null is present"},
    {"patrolled!=1", true, "null != 1"},
    {"patrolled<1", false, "null has no ordering"},
    // truthy, !, has()
    {"bot", false, "false is not truthy"},
    {"!bot", true, "!bot: not a bot edit"},
    {"minor", true, "true is truthy"},
    {"namespace", true, "0 is truthy when present"},
    {"parsedcomment", true, "\"\" is truthy when present"},
    {"!log_type", true, "a missing field is not truthy"},
    {"has(log_type)", false, "has: presence"},
    {"has(bot)", true, "has: present whatever the value"},
    {"length", true, "an object is truthy"},
    // arrays: some element
    {"tags=mw-rollback", true, "an array holds when some element does"},
    {"tags=mobile edit,x", true, "some element in a set"},
    {"tags!=mw-rollback", false, "!= on an array: no element"},
    {"tags!=x,y", true, "!= on an array: no element (true)"},
    {"tags^=mobile", true, "string operators on elements"},
    {"empty=x", false, "an empty array has no element"},
    {"empty!=x", true, "an empty array has no element (!=)"},
    {"empty", true, "an empty array is truthy"},
    {"tags.0=mw-rollback", true, "an index selects an element"},
    {"tags.1=mw-rollback", false, "an index selects one element"},
    {"tags.5", false, "an index past the end is missing"},
    {"tags.00=mw-rollback;tags.0^=mw", true, "two spellings of one index read one element"},
    {"len(tags)=2", true, "len counts elements"},
    {"len(empty)=0", true, "len of an empty array"},
    {"len(length)=2", true, "len counts members"},
    {"len(place)=6", true, "len counts code points"},
    {"len(nope)=0", false, "len of missing is missing"},
    {"len(namespace)=0", false, "len of a number is missing"},
    // paths and quoting
    {"length.new=1850", true, "dotted path"},
    {"meta.domain=en.wikipedia.org", true, "dotted path into meta"},
    {"'weird.key'=1", true, "a quoted segment is one member name"},
    {"weird.key=1", false, "unquoted dots descend"},
    {"'0'=zero", true, "a quoted digit segment is a member name"},
    {"0=zero", false, "a bare digit segment is an array index"},
    {"$schema^=/mediawiki/", true, "$ may start a member name"},
    {"title='Main Page'", true, "single quotes"},
    {"title=\"Main Page\"", true, "double quotes"},
    {"title='Mercury (planet)',\"Paris, Texas\",'Main Page'", true, "quotes protect , and ()"},
    {"user='Jimbo Wales'", true, "quoted value with a space"},
    // functions
    {"sub(length.new,length.old)>=500", true, "sub: the difference"},
    {"sub(length.old,length.new)=-650", true, "sub: negative"},
    {"abs(sub(length.old,length.new))=650", true, "abs"},
    {"sub(length.new,nope)>=0", false, "sub with a missing operand is missing"},
    {"sub(length.new,title)>=0", false, "sub of a string is missing"},
    {"cidr(user,10.0.0.0/8)", false, "cidr: not an address"},
    // pseudo-fields come from the record
    {"$topic=eqiad.mediawiki.recentchange", true, "$topic"},
    {"$partition=3", true, "$partition"},
    {"$offset>=1234", true, "$offset"},
    {"$timestamp=1764504000123", true, "$timestamp in ms"},
    {"$key", false, "$key is missing when the record has none"},
    {"'$topic'", false, "a quoted $topic is a payload member"},
    {"meta.topic=eqiad.mediawiki.recentchange", true, "payload fields stay readable"},
    // combinators
    {"wiki=enwiki;namespace=0", true, "; is AND"},
    {"wiki=dewiki;namespace=0", false, "; is AND (false)"},
    {"wiki=dewiki|namespace=0", true, "| is OR"},
    {"wiki=dewiki;namespace=1|wiki=enwiki;namespace=0", true, "; binds tighter than |"},
    {"wiki=enwiki;(namespace=1|namespace=2)", false, "grouping"},
    {"!(wiki=enwiki;bot)", true, "NOT over a group"},
    {"!!bot", false, "double negation"},
};

TEST(FilterSemantics, EachRuleOfTheLanguage) {
  for (const auto& r : rows)
    EXPECT_EQ(matches({r.filter}), r.expected) << r.filter << "  (" << r.rule << ")";
}

TEST(FilterSemantics, CidrMatchesIpv4AndIpv6Ranges) {
  const auto anon4 = R"({"user":"143.231.12.7"})";
  const auto anon6 = R"({"user":"2620:0:e00:1::5"})";
  const auto named = R"({"user":"Jimbo Wales"})";
  const auto many = R"({"ips":["1.2.3.4","10.1.1.1"]})";
  const std::string f = "cidr(user,143.231.0.0/16,2620:0:e00::/44)";
  EXPECT_TRUE(matches({f}, record(anon4)));
  EXPECT_TRUE(matches({f}, record(anon6)));
  EXPECT_FALSE(matches({f}, record(named)));
  EXPECT_FALSE(matches({"cidr(user,143.232.0.0/16)"}, record(anon4)));
  EXPECT_TRUE(matches({"cidr(user,0.0.0.0/0,::/0)"}, record(anon6)));
  EXPECT_TRUE(matches({"cidr(user,143.231.12.7)"}, record(anon4)));
  EXPECT_TRUE(matches({"cidr(user,143.231.12.6/31)"}, record(anon4)));
  EXPECT_FALSE(matches({"cidr(user,143.231.12.6/32)"}, record(anon4)));
  EXPECT_TRUE(matches({"cidr(ips,10.0.0.0/8)"}, record(many)));
  EXPECT_TRUE(matches({"!cidr(user,10.0.0.0/8)"}, record(anon4)));
}

TEST(FilterSemantics, DuplicateMembersAreReadAsParsersReadThem) {
  // The last duplicate wins, as in every JSON parser the clients use, and it replaces the
  // whole earlier value, nested fields included.
  EXPECT_TRUE(matches({"wiki=dewiki"}, record(R"({"wiki":"enwiki","wiki":"dewiki"})")));
  EXPECT_FALSE(matches({"has(a.b)"}, record(R"({"a":{"b":1},"a":2})")));
  EXPECT_TRUE(matches({"a.b=2"}, record(R"({"a":{"b":1},"a":{"b":2}})")));
  EXPECT_TRUE(matches({"wiki=x"}, record(R"({"\u0077iki":"x"})")));
}

TEST(FilterSemantics, APayloadThatIsNotJsonHasNoFields) {
  EXPECT_FALSE(matches({"wiki=enwiki"}, record(R"({"wiki":"enwiki",)")));
  EXPECT_FALSE(matches({"wiki=enwiki"}, record(R"({"wiki":"enwiki"} trailing)")));
  EXPECT_FALSE(matches({"has(wiki)"}, record(R"({"wiki":"enwiki","x":tru})")));
  EXPECT_TRUE(matches({"$offset=1234"}, record("not json")));  // pseudo-fields still there
}

TEST(FilterSemantics, KeyPseudoFieldIsTheRecordKey) {
  auto r = record();
  std::string key = "Q42";
  r.key = key;
  EXPECT_TRUE(matches({"$key=Q42"}, r));
  EXPECT_TRUE(matches({"$key"}, r));
}

TEST(FilterSemantics, SeparateClausesAreAnded) {
  EXPECT_TRUE(matches({"wiki=enwiki", "namespace=0", "!bot"}));
  EXPECT_FALSE(matches({"wiki=enwiki", "namespace=1"}));
}

// ---- the example URLs of docs/api.md against recentchange-shaped events ----

std::vector<std::string> filters_of(std::string_view url) {
  const auto q = url.find('?');
  auto params = eventstreams::query_params(url.substr(q + 1), "filter");
  EXPECT_EQ(params.bad, 0u) << url;
  return params.values;
}

std::string event(std::string_view extra) {
  // A base edit; `extra` members come later and so replace the base's (last one wins).
  std::string e =
      R"({"meta":{"domain":"en.wikipedia.org","dt":"2026-11-30T12:00:00Z"},)"
      R"("type":"edit","namespace":0,"title":"Main Page","comment":"c",)"
      R"("user":"Someone","bot":false,"minor":false,"patrolled":false,)"
      R"("length":{"old":100,"new":700},"server_name":"en.wikipedia.org","wiki":"enwiki")";
  if (!extra.empty())
    e += "," + std::string(extra);
  return e + "}";
}

struct example {
  const char* url;
  std::vector<std::pair<std::string, bool>> events;  // extra members -> expected
};

TEST(FilterExamples, TheTwelveExampleUrls) {
  const std::vector<example> examples = {
      {"/v2/stream/recentchange?filter=wiki=enwiki", {{"", true}, {R"("wiki":"dewiki")", false}}},
      {"/v2/stream/"
       "recentchange?filter=server_name=de.wikipedia.org,de.wikibooks.org,de.wiktionary.org",
       {{R"("server_name":"de.wikibooks.org")", true}, {"", false}}},
      {"/v2/stream/"
       "recentchange?filter=server_name=en.wikipedia.org&filter=type=edit,new&filter=!bot"
       "&filter=namespace=0",
       {{"", true},
        {R"("type":"new")", true},
        {R"("bot":true)", false},
        {R"("namespace":1)", false},
        {R"("type":"log")", false}}},
      {"/v2/stream/"
       "recentchange?filter=meta.domain=fr.wikipedia.org&filter=namespace!=1,3,5,7,9,11,13,15",
       {{R"("meta":{"domain":"fr.wikipedia.org"})", true},
        {R"("meta":{"domain":"fr.wikipedia.org"},"namespace":3)", false},
        {"", false}}},
      {"/v2/stream/"
       "recentchange?filter=wiki=enwiki&filter=bot=false&filter=sub(length.new,length.old)>=500",
       {{"", true},
        {R"("length":{"old":100,"new":599})", false},
        {R"("type":"new","length":{"new":5000})", false},
        {R"("bot":true)", false}}},
      {"/v2/stream/recentchange?filter=wiki=enwiki&filter=type=edit"
       "&filter=title^=User:SDZeroBot/Shutoff/&filter=user!=SD0001",
       {{R"("title":"User:SDZeroBot/Shutoff/Task 1")", true},
        {R"("title":"User:SDZeroBot/Shutoff/Task 1","user":"SD0001")", false},
        {"", false}}},
      {"/v2/stream/recentchange?filter=user=Jimbo%20Wales&filter=type=edit,new",
       {{R"("user":"Jimbo Wales")", true},
        {R"("user":"Jimbo Wales","type":"log")", false},
        {"", false}}},
      {"/v2/stream/recentchange?filter=wiki=wikidatawiki"
       "&filter=comment=~'.*(QuickStatements|OpenRefine|editgroups).*'",
       {{R"x("wiki":"wikidatawiki","comment":"batch #1 (OpenRefine 3.7)")x", true},
        {R"("wiki":"wikidatawiki")", false}}},
      {"/v2/stream/recentchange?filter=type=edit,new&filter=cidr(user,143.231.0.0/16,2620:0:e00::/"
       "44)",
       {{R"("user":"143.231.1.1")", true}, {R"("user":"2620:0:e00::1")", true}, {"", false}}},
      {"/v2/stream/recentchange?since=2026-11-01T00:00:00Z&filter=type=log&filter=log_type=block"
       "&filter=log_action=block,reblock",
       {{R"("type":"log","log_type":"block","log_action":"reblock")", true},
        {R"("type":"log","log_type":"block","log_action":"unblock")", false},
        {"", false}}},
      {"/v2/stream/recentchange?filter=wiki=enwiki;namespace=4|wiki=commonswiki;namespace=6",
       {{R"("namespace":4)", true},
        {R"("wiki":"commonswiki","namespace":6)", true},
        {R"("wiki":"commonswiki","namespace":4)", false},
        {"", false}}},
      {"/v2/stream/"
       "recentchange?filter=wiki=nlwiki&filter=patrolled=false&filter=!minor&filter=!bot",
       {{R"("wiki":"nlwiki")", true},
        {R"("wiki":"nlwiki","minor":true)", false},
        {R"("wiki":"nlwiki","patrolled":true)", false}}},
  };
  ASSERT_EQ(examples.size(), 12u);
  for (const auto& ex : examples) {
    const auto clauses = filters_of(ex.url);
    ASSERT_FALSE(clauses.empty()) << ex.url;
    for (const auto& [extra, expected] : ex.events) {
      const auto payload = event(extra);
      EXPECT_EQ(matches(clauses, record(payload)), expected) << ex.url << "\n  on " << payload;
    }
  }
}

TEST(FilterExamples, PercentDecodingWithPlusAsASpace) {
  const auto values = eventstreams::query_params(
      "filter=user=Jimbo+Wales&since=x&filter=title%3D%27a%2Bb%27&filter=x%26y=%23", "filter");
  ASSERT_EQ(values.values.size(), 3u);
  EXPECT_EQ(values.values[0], "user=Jimbo Wales");
  EXPECT_EQ(values.values[1], "title='a+b'");
  EXPECT_EQ(values.values[2], "x&y=#");
  EXPECT_EQ(eventstreams::query_params("filter=a%zz&filter=b", "filter").bad, 1u);
  EXPECT_EQ(eventstreams::query_params("filter=a&filter=b%00", "filter").bad, 2u);
  EXPECT_EQ(eventstreams::misspelled_filter_param("since=1&filters=wiki%3Denwiki"), "filters");
  EXPECT_EQ(eventstreams::misspelled_filter_param("filter%5Bwiki%5D=enwiki"), "filter[wiki]");
  EXPECT_FALSE(eventstreams::misspelled_filter_param("filter=a&since=1"));
}

}  // namespace

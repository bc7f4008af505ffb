// Many filters over one record stream (the shared mode, docs/api.md §11): the set returns
// exactly the filters that match, each once, and its equality index evaluates only those it
// cannot rule out.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "eventstreams/filter_set.hpp"

namespace ef = eventstreams::filter;

namespace {

std::shared_ptr<const ef::compiled> compile(const std::string& text) {
  std::vector<std::string> clauses{text};
  auto r = ef::compile(clauses, ef::limits{});
  EXPECT_TRUE(r.filter) << text << ": " << (r.error ? r.error->detail : "");
  return r.filter;
}

ef::record_view view(std::string_view value, std::string_view topic = "rc") {
  ef::record_view v;
  v.value = value;
  v.topic = topic;
  return v;
}

// The filters of `all` that match, by evaluating each one alone.
std::set<const ef::compiled*> one_by_one(
    const std::vector<std::shared_ptr<const ef::compiled>>& all, const ef::record_view& r) {
  ef::scratch work;
  std::set<const ef::compiled*> out;
  for (const auto& f : all) {
    if (f->matches(r, work))
      out.insert(f.get());
  }
  return out;
}

std::set<const ef::compiled*> matched(ef::filter_set& set, const ef::record_view& r,
                                      std::size_t* evaluated = nullptr) {
  std::vector<const ef::compiled*> out;
  auto n = set.match(r, out);
  if (evaluated)
    *evaluated = n;
  std::set<const ef::compiled*> unique(out.begin(), out.end());
  EXPECT_EQ(unique.size(), out.size()) << "a filter was returned twice";
  return unique;
}

TEST(FilterSet, ReturnsExactlyTheMatchingFiltersOverRandomRecords) {
  const std::vector<std::string> texts = {
      "wiki=enwiki",
      "wiki=dewiki,enwiki",
      "wiki=frwiki;bot=false",
      "wiki=enwiki;type=edit|type=log",
      "type=edit;wiki=1",
      "wiki='1'",
      "wiki=true",
      "wiki=null",
      "!(wiki=enwiki)",
      "wiki!=enwiki",
      "$topic=rc;wiki=dewiki",
      "$topic=other",
      "tags=a",
      "namespace=0",
      "namespace=0,1;wiki=enwiki",
      "bot",
      "!bot",
      "title^=Q",
      "wiki=enwiki|wiki=dewiki",
      "meta.domain=en.wikipedia.org",
      "has(wiki)",
  };
  std::vector<std::shared_ptr<const ef::compiled>> filters;
  for (const auto& t : texts)
    filters.push_back(compile(t));
  ef::filter_set set;
  for (const auto& f : filters)
    set.add(f);
  EXPECT_EQ(set.size(), filters.size());

  // wiki as a string of several values, a number, a bool, null, an array, an object, escaped,
  // or missing; tags as an array.
  const std::vector<std::string> wikis = {
      R"("enwiki")", R"("dewiki")",       R"("frwiki")", R"("en\u0077iki")", "1",    "true",
      "null",        R"(["enwiki","x"])", R"({"a":1})",  R"("1")",           R"("")"};
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    std::string v = "{";
    if (rng() % 8 != 0)
      v += R"("wiki":)" + wikis[rng() % wikis.size()] + ",";
    v += R"("type":")" + std::string(rng() % 2 ? "edit" : "log") + R"(",)";
    v += R"("bot":)" + std::string(rng() % 2 ? "true" : "false") + ",";
    v += R"("namespace":)" + std::to_string(rng() % 3) + ",";
    v += R"("tags":[")" + std::string(rng() % 2 ? "a" : "b") + R"("],)";
    v += R"("title":")" + std::string(rng() % 2 ? "Q1" : "P1") + R"(",)";
    v += R"("meta":{"domain":")" + std::string(rng() % 2 ? "en.wikipedia.org" : "x") + R"("}})";
    if (rng() % 50 == 0)
      v = "not json";
    const auto r = view(v, rng() % 4 == 0 ? "other" : "rc");
    ASSERT_EQ(matched(set, r), one_by_one(filters, r)) << v;
  }
}

TEST(FilterSet, TheEqualityIndexEvaluatesOnlyTheFiltersTheRecordsValueNames) {
  ef::filter_set set;
  std::vector<std::shared_ptr<const ef::compiled>> filters;
  for (int i = 0; i < 10000; ++i) {
    filters.push_back(compile("wiki=w" + std::to_string(i) + ";bot=false"));
    set.add(filters.back());
  }
  std::size_t evaluated = 0;
  auto hit = matched(set, view(R"({"wiki":"w42","bot":false})"), &evaluated);
  EXPECT_EQ(evaluated, 1u);
  ASSERT_EQ(hit.size(), 1u);
  EXPECT_EQ(*hit.begin(), filters[42].get());
  EXPECT_TRUE(matched(set, view(R"({"wiki":"w42","bot":true})"), &evaluated).empty());
  EXPECT_EQ(evaluated, 1u);
  EXPECT_TRUE(matched(set, view(R"({"wiki":"nowhere"})"), &evaluated).empty());
  EXPECT_EQ(evaluated, 0u);
  EXPECT_TRUE(matched(set, view(R"({"bot":false})"), &evaluated).empty());
  EXPECT_EQ(evaluated, 0u);  // missing: `=` cannot hold
  // A value that is no string (here an array) cannot be looked up: every filter on the path.
  hit = matched(set, view(R"({"wiki":["w7","w9"],"bot":false})"), &evaluated);
  EXPECT_EQ(evaluated, filters.size());
  EXPECT_EQ(hit, (std::set<const ef::compiled*>{filters[7].get(), filters[9].get()}));
  // A filter with no equality at its top level is evaluated on every record.
  auto any = compile("wiki^=w|bot");
  set.add(any);
  EXPECT_EQ(matched(set, view(R"({"wiki":"w1","bot":false})"), &evaluated).size(), 2u);
  EXPECT_EQ(evaluated, 2u);
}

TEST(FilterSet, AFilterAddedTwiceStaysUntilRemovedTwice) {
  ef::filter_set set;
  auto a = compile("wiki=a,b");
  auto b = compile("wiki^=a");
  set.add(a);
  set.add(a);
  set.add(b);
  EXPECT_EQ(set.size(), 2u);
  const auto r = view(R"({"wiki":"a"})");
  EXPECT_EQ(matched(set, r).size(), 2u);
  set.remove(a.get());
  EXPECT_EQ(matched(set, r).size(), 2u);
  set.remove(a.get());
  EXPECT_EQ(matched(set, r), (std::set<const ef::compiled*>{b.get()}));
  set.remove(b.get());
  EXPECT_TRUE(set.empty());
  std::size_t evaluated = 1;
  EXPECT_TRUE(matched(set, r, &evaluated).empty());
  EXPECT_EQ(evaluated, 0u);
}

}  // namespace

namespace {

// Regexes are shared by pattern: a pattern that many filters use is one RE2 object, which goes
// with the last filter using it.
TEST(FilterRegexes, APatternUsedByManyFiltersIsCompiledOnce) {
  const auto before = ef::regexes_alive();
  auto a = compile("title=~'Q[0-9]+x'");
  auto b = compile("title=~'Q[0-9]+x';wiki=enwiki");
  auto c = compile("comment=~'Q[0-9]+x'|bot");
  EXPECT_EQ(ef::regexes_alive(), before + 1);
  auto d = compile("title=~'P[0-9]+x'");
  EXPECT_EQ(ef::regexes_alive(), before + 2);
  // Each filter still matches with it.
  ef::scratch work;
  const std::string v = R"({"title":"Q12x","comment":"no","bot":false,"wiki":"enwiki"})";
  EXPECT_TRUE(a->matches(view(v), work));
  EXPECT_TRUE(b->matches(view(v), work));
  EXPECT_FALSE(c->matches(view(v), work));
  EXPECT_FALSE(d->matches(view(v), work));
  a.reset();
  b.reset();
  EXPECT_EQ(ef::regexes_alive(), before + 2);  // c still holds it
  c.reset();
  d.reset();
  EXPECT_EQ(ef::regexes_alive(), before);
}

}  // namespace

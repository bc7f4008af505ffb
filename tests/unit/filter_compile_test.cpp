// Compiling filters (docs/api.md "Server-side filters"): the canonical form, the 400s with the
// clause and character they name, every limit, and the process-wide set of shared filters.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstreams/filter.hpp"

namespace ef = eventstreams::filter;

namespace {

ef::compile_result compile(std::vector<std::string> clauses, const ef::limits& bounds = {}) {
  return ef::compile(clauses, bounds);
}

std::string canonical(std::vector<std::string> clauses) {
  auto made = compile(clauses);
  EXPECT_FALSE(made.error) << clauses[0] << ": " << (made.error ? made.error->detail : "");
  return made.filter ? made.filter->canonical() : "";
}

TEST(FilterCanonical, NormalisedAndSorted) {
  EXPECT_EQ(canonical({"wiki=enwiki"}), "wiki=enwiki");
  EXPECT_EQ(canonical({" wiki = enwiki "}), "wiki=enwiki");
  EXPECT_EQ(canonical({"namespace=0", "wiki=enwiki"}), canonical({"wiki=enwiki", "namespace=0"}));
  EXPECT_EQ(canonical({"wiki=enwiki;namespace=0"}), canonical({"namespace=0", "wiki=enwiki"}));
  EXPECT_EQ(canonical({"wiki=frwiki,enwiki,frwiki"}), "wiki=enwiki,frwiki");
  EXPECT_EQ(canonical({"wiki=enwiki|wiki=dewiki"}), "wiki=dewiki,enwiki");  // merged into a set
  EXPECT_EQ(canonical({"wiki!=enwiki", "wiki!=dewiki"}), "wiki!=dewiki,enwiki");
  EXPECT_EQ(canonical({"!(wiki=enwiki)"}), "wiki!=enwiki");
  EXPECT_EQ(canonical({"!(comment=~a.*)"}), "comment!~a.*");
  EXPECT_EQ(canonical({"!(x<5)"}), "!(x<5)");  // kept: true for a missing x, unlike x>=5
  EXPECT_EQ(canonical({"!!bot"}), "bot");
  EXPECT_EQ(canonical({"!bot"}), "!bot");
  EXPECT_EQ(canonical({"a=1", "a=1"}), "a=1");
  EXPECT_EQ(canonical({"((a=1))"}), "a=1");
  EXPECT_EQ(canonical({"a=1;(b=2;c=3)"}), "a=1;b=2;c=3");
  EXPECT_EQ(canonical({"c=3|a=1;b=2"}), "a=1;b=2|c=3");
  EXPECT_EQ(canonical({"c=3;(a=1|b=2)"}), "(a=1|b=2);c=3");
  EXPECT_EQ(canonical({"title='0'"}), "title='0'");    // quoted stays quoted: string only
  EXPECT_EQ(canonical({"title='abc'"}), "title=abc");  // no other form: bare is the same
  EXPECT_EQ(canonical({"title=\"Paris, Texas\""}), "title='Paris, Texas'");
  EXPECT_EQ(canonical({"title='O''Brien'"}), "title='O''Brien'");
  EXPECT_EQ(canonical({"'weird.key'=1"}), "'weird.key'=1");
  EXPECT_EQ(canonical({"'$topic'=1"}), "'$topic'=1");
  EXPECT_EQ(canonical({"$topic=x"}), "$topic=x");
  EXPECT_EQ(canonical({"x='~y'"}), "x='~y'");  // bare it would read as =~
  EXPECT_EQ(canonical({"abs( sub( a , b ) )>5"}), "abs(sub(a,b))>5");
  EXPECT_EQ(canonical({"cidr(user, 10.0.0.0/8, ::1)"}), "cidr(user,10.0.0.0/8,::1)");
  EXPECT_EQ(canonical({"!has(x)"}), "!has(x)");
  EXPECT_EQ(canonical({"tags.007=x"}), "tags.7=x");  // one spelling per index
  EXPECT_EQ(canonical({"tags.7=x|tags.07=y"}), "tags.7=x,y");
}

TEST(FilterCanonical, ReadsBackAsItself) {
  const std::vector<std::string> inputs = {
      "wiki=enwiki;namespace=4|wiki=commonswiki;namespace=6",
      "comment=~'.*(QuickStatements|OpenRefine|editgroups).*'",
      "!(a<5|b>=2);c^=x,'y z';d$=\"q\"",
      "tags.0=x;'a b'.c!=1,2,'3'",
      "sub(length.new,length.old)>=500|type=new",
      "x=' lead';y='trail ';z=''",
      "$partition=1,2;$key^=Q",
  };
  for (const auto& in : inputs) {
    const auto once = canonical({in});
    EXPECT_EQ(canonical({once}), once) << in;
  }
}

TEST(FilterCanonical, FieldsReadAreListed) {
  auto made = compile({"meta.domain=x;$topic=y|len(tags)>1", "sub(a.b,c)>0"});
  ASSERT_TRUE(made.filter);
  EXPECT_EQ(made.filter->fields(),
            (std::vector<std::string>{"$topic", "a.b", "c", "meta.domain", "tags"}));
  EXPECT_TRUE(made.filter->reads_payload());
  EXPECT_FALSE(compile({"$partition=1"}).filter->reads_payload());
}

// ---- errors ----

void expect_invalid(std::vector<std::string> clauses, std::size_t clause, std::size_t offset,
                    std::string_view says) {
  auto made = compile(clauses);
  ASSERT_TRUE(made.error) << clauses.back();
  EXPECT_EQ(made.error->what, ef::compile_error::kind::invalid_filter) << made.error->detail;
  EXPECT_EQ(made.error->clause, clause) << made.error->detail;
  EXPECT_EQ(made.error->offset, offset) << made.error->detail;
  EXPECT_NE(made.error->detail.find(says), std::string::npos) << made.error->detail;
  EXPECT_NE(made.error->detail.find("filter #" + std::to_string(clause) + " at character " +
                                    std::to_string(offset)),
            std::string::npos)
      << made.error->detail;
}

TEST(FilterErrors, SyntaxErrorsNameTheClauseAndTheCharacter) {
  expect_invalid({"wiki=enwiki", "title~x"}, 2, 6, "expected an operator after 'title'");
  expect_invalid({"wiki="}, 1, 6, "expected a value");
  expect_invalid({"wiki=a,"}, 1, 8, "expected a value");
  expect_invalid({"=x"}, 1, 1, "expected a field name");
  expect_invalid({"(a=1"}, 1, 5, "expected ')'");
  expect_invalid({"a=1)"}, 1, 4, "expected ';', '|' or the end");
  expect_invalid({"a='x"}, 1, 3, "never closed");
  expect_invalid({"a<1,2"}, 1, 6, "exactly one value");
  expect_invalid({"comment=~'(a'"}, 1, 10, "RE2: missing )");
  expect_invalid({"cidr(user,10.0.0.0/33)"}, 1, 11, "not an IP address or CIDR range");
  expect_invalid({"cidr(user,nope)"}, 1, 11, "not an IP address or CIDR range");
  expect_invalid({"len(x)"}, 1, 7, "expected an operator after 'len(x)'");
  expect_invalid({"has(x)=1"}, 1, 7, "expected ';', '|' or the end");
  expect_invalid({"sub(a)>1"}, 1, 6, "expected ','");
  expect_invalid({"title=Zürich;~"}, 1, 14, "expected a field name, found '~'");  // characters
  expect_invalid({"a=1\n"}, 1, 4, "control characters");
  expect_invalid({"a=\x7f"}, 1, 3, "control characters");
  expect_invalid({"a=\xff"}, 1, 3, "not valid UTF-8");
  // Found by fuzz_filter: an index past size_t threw from the compiler (a 500).
  expect_invalid({"tags.99999999999999999999999=x"}, 1, 6, "the array index is too large");
}

void expect_too_complex(std::vector<std::string> clauses, const ef::limits& bounds,
                        std::string_view setting, std::size_t value) {
  auto made = compile(clauses, bounds);
  ASSERT_TRUE(made.error) << setting;
  EXPECT_EQ(made.error->what, ef::compile_error::kind::too_complex) << made.error->detail;
  EXPECT_EQ(made.error->limit, setting) << made.error->detail;
  EXPECT_EQ(made.error->limit_value, value);
  EXPECT_NE(made.error->detail.find(std::string(setting) + " is " + std::to_string(value)),
            std::string::npos)
      << made.error->detail;
}

std::string repeat(std::string_view unit, std::size_t n, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0)
      out += sep;
    out += unit;
    out += std::to_string(i);
  }
  return out;
}

TEST(FilterErrors, EveryLimitIsASettingAndIsNamed) {
  const ef::limits d;
  expect_too_complex({std::string(4097, 'a')}, d, "filter.max_length", 4096);
  expect_too_complex(std::vector<std::string>(33, "a"), d, "filter.max_clauses", 32);
  expect_too_complex({repeat("a=", 65, ";")}, d, "filter.max_predicates", 64);
  expect_too_complex({"!!!!!!!!!a"}, d, "filter.max_depth", 8);
  expect_too_complex({"((((((((((a))))))))))"}, d, "filter.max_depth", 8);
  expect_too_complex({"a.b.c.d.e.f.g.h.i=1"}, d, "filter.max_path_segments", 8);
  expect_too_complex({std::string(257, 'a') + "=1"}, d, "filter.max_path_length", 256);
  ef::limits long_filters;  // room for 1,025 values
  long_filters.max_length = 100000;
  expect_too_complex({"a=" + repeat("v", 1025, ",")}, long_filters, "filter.max_set_values", 1024);
  ef::limits few_values;
  few_values.max_values = 10;
  expect_too_complex({"a=1,2,3,4,5", "b=1,2,3,4,5,6"}, few_values, "filter.max_values", 10);
  expect_too_complex({repeat("a=~x", 9, ";")}, d, "filter.max_regexes", 8);
  expect_too_complex({"a=~" + std::string(257, 'x')}, d, "filter.max_regex_length", 256);
  expect_too_complex({"a=~'\\pL{100}'"}, d, "filter.regex_max_mem", 256 * 1024);
  expect_too_complex({"a=~'.{1000}'"}, d, "filter.max_regex_program_size", 2000);
  expect_too_complex({"cidr(a," + repeat("10.0.0.", 257, ",") + ")"}, d, "filter.max_cidr_ranges",
                     256);
  // At the limits, filters compile.
  EXPECT_FALSE(compile({repeat("a=", 64, ";")}).error);
  EXPECT_FALSE(compile({"!!!!!!!!a"}).error);
  EXPECT_FALSE(compile({"a=" + repeat("v", 1024, ",")}, long_filters).error);
  EXPECT_FALSE(compile({"a=~'.{200}'"}).error);
  EXPECT_FALSE(compile(std::vector<std::string>(32, "a")).error);
}

TEST(FilterErrors, TheLargestLegalFilterCompiles) {
  // 4096 decoded bytes in 32 clauses, as the request-target limit must admit (docs/api.md).
  std::vector<std::string> clauses;
  for (int i = 0; i < 32; ++i)
    clauses.push_back("w" + std::to_string(i) + "=" + std::string(124, 'x'));
  std::size_t total = 0;
  for (const auto& c : clauses)
    total += c.size();
  ASSERT_LE(total, 4096u);
  EXPECT_FALSE(compile(clauses).error);
}

// ---- the shared set ----

TEST(FilterRegistry, OneCompiledFilterPerCanonicalForm) {
  ef::registry shared(ef::limits{});
  const std::vector<std::string> a{"wiki=enwiki", "namespace=0"};
  const std::vector<std::string> b{"namespace=0;wiki=enwiki"};
  auto first = shared.get(a);
  auto second = shared.get(b);
  ASSERT_EQ(first.result, ef::registry::outcome::ok);
  EXPECT_EQ(first.filter.get(), second.filter.get());
  EXPECT_EQ(shared.size(), 1u);
  auto bad = shared.get(std::vector<std::string>{"wiki="});
  EXPECT_EQ(bad.result, ef::registry::outcome::refused);
  ASSERT_TRUE(bad.error);
}

TEST(FilterRegistry, FullWhenTheDistinctLimitIsReachedUntilOneIsReleased) {
  ef::limits bounds;
  bounds.max_compiled = 2;
  ef::registry shared(bounds);
  auto one = shared.get(std::vector<std::string>{"a=1"});
  auto two = shared.get(std::vector<std::string>{"a=2"});
  EXPECT_EQ(shared.get(std::vector<std::string>{"a=3"}).result, ef::registry::outcome::full);
  EXPECT_EQ(shared.get(std::vector<std::string>{"a=1"}).result, ef::registry::outcome::ok);
  one.filter.reset();
  EXPECT_EQ(shared.size(), 1u);
  auto three = shared.get(std::vector<std::string>{"a=3"});
  EXPECT_EQ(three.result, ef::registry::outcome::ok);
  EXPECT_EQ(shared.size(), 2u);
}

}  // namespace

// The compiled filter against a slow reference built on nlohmann::json (a DOM per event), over
// random recentchange-like events and random filters: parser, canonical form, one-pass field
// extraction and evaluator must agree with the semantics of docs/api.md "Server-side filters".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <re2/re2.h>
#include <string>
#include <vector>

#include "eventstreams/filter.hpp"
#include "random_picks.hpp"

namespace ef = eventstreams::filter;
using nlohmann::json;

namespace {

// ---- the reference: a filter as a tree the generator built, evaluated on a DOM ----

struct ref_path {
  std::string text;                // as written in the filter
  std::vector<std::string> names;  // segments
  std::vector<bool> index;         // segment is an array index
};

struct ref_literal {
  std::string text;   // as written
  std::string value;  // the string form
  bool quoted = false;
};

struct ref_node {
  enum kind { all, any, negate, compare, truthy, has, cidr } k = compare;
  std::vector<ref_node> kids;
  int fn = 0;  // 0 path, 1 len, 2 sub, 3 abs(sub)
  ref_path a, b;
  std::string op;
  std::vector<ref_literal> values;
};

const json* resolve(const json& event, const ref_path& p) {
  const json* at = &event;
  for (std::size_t i = 0; i < p.names.size(); ++i) {
    if (p.index[i]) {
      const auto n = std::stoul(p.names[i]);
      if (!at->is_array() || n >= at->size())
        return nullptr;
      at = &(*at)[n];
    } else {
      if (!at->is_object() || !at->contains(p.names[i]))
        return nullptr;
      at = &(*at)[p.names[i]];
    }
  }
  return at;
}

// Numbers compared exactly: x87 long double holds every int64 and every double.
std::optional<long double> as_number(const json& x) {
  if (x.is_number_integer() || x.is_number_unsigned() || x.is_number_float())
    return x.get<long double>();
  return std::nullopt;
}

std::optional<long double> literal_number(const ref_literal& l) {
  if (l.quoted)
    return std::nullopt;
  static const RE2 grammar(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  if (!RE2::FullMatch(l.value, grammar))
    return std::nullopt;
  const json parsed = json::parse(l.value);
  if (parsed.is_number_integer() || parsed.is_number_unsigned())
    return parsed.get<long double>();
  return static_cast<long double>(parsed.get<double>());
}

bool equal(const json& x, const ref_literal& l) {
  if (x.is_string())
    return x.get<std::string>() == l.value;
  if (x.is_boolean())
    return !l.quoted && l.value == (x.get<bool>() ? "true" : "false");
  if (x.is_null())
    return !l.quoted && l.value == "null";
  const auto n = as_number(x);
  const auto m = literal_number(l);
  return n && m && *n == *m;
}

bool holds(const ref_node& n, const json& x) {
  const auto& op = n.op;
  if (op == "=" || op == "!=")
    return std::any_of(n.values.begin(), n.values.end(), [&](auto& l) { return equal(x, l); });
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    int c = 0;
    const auto xn = as_number(x);
    const auto ln = literal_number(n.values[0]);
    if (xn && ln)
      c = *xn < *ln ? -1 : (*xn > *ln ? 1 : 0);
    else if (x.is_string())
      c = x.get<std::string>().compare(n.values[0].value);
    else
      return false;
    return op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
  }
  if (!x.is_string())
    return false;
  const auto s = x.get<std::string>();
  return std::any_of(n.values.begin(), n.values.end(), [&](const ref_literal& l) {
    if (op == "^=")
      return s.starts_with(l.value);
    if (op == "$=")
      return s.ends_with(l.value);
    if (op == "*=")
      return s.find(l.value) != std::string::npos;
    return RE2::FullMatch(s, RE2(l.value));  // =~ and !~
  });
}

std::optional<json> operand(const ref_node& n, const json& event) {
  const json* a = resolve(event, n.a);
  if (n.fn == 0)
    return a ? std::optional<json>(*a) : std::nullopt;
  if (n.fn == 1) {
    if (!a)
      return std::nullopt;
    if (a->is_array() || a->is_object())
      return json(static_cast<std::int64_t>(a->size()));
    if (!a->is_string())
      return std::nullopt;
    std::int64_t points = 0;
    for (const unsigned char c : a->get<std::string>())
      points += (c & 0xc0) != 0x80;
    return json(points);
  }
  const json* b = resolve(event, n.b);
  if (!a || !b || !as_number(*a) || !as_number(*b))
    return std::nullopt;
  // int64 when both are integers (the generator's numbers cannot overflow), else doubles.
  json out = a->is_number_float() || b->is_number_float()
                 ? json(static_cast<double>(*as_number(*a)) - static_cast<double>(*as_number(*b)))
                 : json(a->get<std::int64_t>() - b->get<std::int64_t>());
  if (n.fn == 3)
    out = out.is_number_float() ? json(std::fabs(out.get<double>()))
                                : json(std::llabs(out.get<std::int64_t>()));
  return out;
}

bool reference(const ref_node& n, const json& event) {
  switch (n.k) {
    case ref_node::all:
      return std::all_of(n.kids.begin(), n.kids.end(),
                         [&](auto& c) { return reference(c, event); });
    case ref_node::any:
      return std::any_of(n.kids.begin(), n.kids.end(),
                         [&](auto& c) { return reference(c, event); });
    case ref_node::negate:
      return !reference(n.kids[0], event);
    case ref_node::truthy: {
      const json* v = resolve(event, n.a);
      return v && !v->is_null() && !(v->is_boolean() && !v->get<bool>());
    }
    case ref_node::has:
      return resolve(event, n.a) != nullptr;
    case ref_node::cidr:
      return false;  // covered by the table test; the generator makes none
    case ref_node::compare: {
      const auto v = operand(n, event);
      bool positive = false;
      if (v && v->is_array())
        positive = std::any_of(v->begin(), v->end(), [&](const json& x) { return holds(n, x); });
      else if (v)
        positive = holds(n, *v);
      return n.op == "!=" || n.op == "!~" ? !positive : positive;
    }
  }
  return false;
}

// ---- random filters and events ----

class generator : public eventstreams::test::random_picks {
 public:
  using random_picks::random_picks;

  ref_path path() {
    static const std::vector<std::string> texts = {
        "wiki",        "namespace", "title",  "bot",   "minor",  "patrolled",  "comment",
        "user",        "ratio",     "tags",   "empty", "nope",   "length.new", "length.old",
        "meta.domain", "tags.0",    "tags.1", "'a b'", "length", "meta"};
    ref_path p;
    p.text = texts[pick(texts.size())];
    if (p.text == "'a b'") {
      p.names = {"a b"};
      p.index = {false};
      return p;
    }
    std::size_t start = 0;
    for (;;) {
      const auto dot = p.text.find('.', start);
      const auto seg = p.text.substr(start, dot - start);
      p.names.push_back(seg);
      p.index.push_back(std::isdigit(static_cast<unsigned char>(seg[0])) != 0);
      if (dot == std::string::npos)
        break;
      start = dot + 1;
    }
    return p;
  }

  ref_literal literal(bool regex) {
    static const std::vector<std::string> bare = {
        "enwiki", "dewiki",    "0",      "1",        "-3",
        "2.5",    "1e2",       "100",    "true",     "false",
        "null",   "Main Page", "Zürich", "x",        "mw-rollback",
        "en",     "wiki",      "M",      "10.1.2.3", "9007199254740993"};
    static const std::vector<std::string> quoted = {"0",    "true", "enwiki", "a,b",
                                                    "it's", "",     "null"};
    static const std::vector<std::string> patterns = {
        ".*wiki", "en.*", "(?i)main page", "[0-9]+", "Z.rich", "a|b", ""};
    ref_literal l;
    if (regex) {
      l.value = patterns[pick(patterns.size())];
      l.quoted = true;
    } else if (coin(75)) {
      l.value = bare[pick(bare.size())];
    } else {
      l.value = quoted[pick(quoted.size())];
      l.quoted = true;
    }
    if (l.quoted) {
      l.text = "'";
      for (const char c : l.value)
        l.text += c == '\'' ? std::string("''") : std::string(1, c);
      l.text += "'";
    } else {
      l.text = l.value;
    }
    return l;
  }

  ref_node predicate() {
    ref_node n;
    const auto kind = pick(10);
    if (kind == 0) {
      n.k = ref_node::truthy;
      n.a = path();
      return n;
    }
    if (kind == 1) {
      n.k = ref_node::has;
      n.a = path();
      return n;
    }
    static const std::vector<std::string> ops = {
        "=", "!=", "<", "<=", ">", ">=", "^=", "$=", "*=", "=~", "!~"};
    n.op = ops[pick(ops.size())];
    n.fn = coin(80) ? 0 : static_cast<int>(1 + pick(3));
    n.a = path();
    n.b = path();
    const bool ordering = n.op == "<" || n.op == "<=" || n.op == ">" || n.op == ">=";
    const auto count = ordering ? 1 : 1 + pick(3);
    for (std::size_t i = 0; i < count; ++i)
      n.values.push_back(literal(n.op == "=~" || n.op == "!~"));
    return n;
  }

  ref_node tree(int depth) {
    if (depth == 0 || coin(40))
      return predicate();
    ref_node n;
    const auto kind = pick(3);
    if (kind == 2) {
      n.k = ref_node::negate;
      n.kids.push_back(tree(depth - 1));
      return n;
    }
    n.k = kind == 0 ? ref_node::all : ref_node::any;
    const auto count = 2 + pick(2);
    for (std::size_t i = 0; i < count; ++i)
      n.kids.push_back(tree(depth - 1));
    return n;
  }

  json scalar() {
    static const std::vector<std::string> strings = {
        "enwiki", "dewiki", "Main Page", "Zürich", "mw-rollback", "10.1.2.3", "0", "true",
        "it's",   "a,b",    "",          "x",      "english",     "M",        "a", "b"};
    switch (pick(6)) {
      case 0:
        return strings[pick(strings.size())];
      case 1:
        return static_cast<std::int64_t>(std::vector<std::int64_t>{-3, 0, 1, 2, 100}[pick(5)]);
      case 2:
        return std::vector<double>{2.5, 100.0, 0.0, -3.0, 1e2, 0.1}[pick(6)];
      case 3:
        return coin(50);
      case 4:
        return nullptr;
      default:
        return static_cast<std::int64_t>(9007199254740993LL);
    }
  }

  json any_value(int depth) {
    if (depth > 0 && coin(20)) {
      json arr = json::array();
      for (std::size_t i = pick(4); i > 0; --i)
        arr.push_back(any_value(depth - 1));
      return arr;
    }
    if (depth > 0 && coin(10))
      return json{{"new", scalar()}, {"old", scalar()}};
    return scalar();
  }

  json event() {
    json e = json::object();
    for (const char* key : {"wiki", "namespace", "title", "bot", "minor", "patrolled", "comment",
                            "user", "ratio", "tags", "empty", "a b"}) {
      if (coin(75))
        e[key] = any_value(2);
    }
    if (coin(80))
      e["length"] = coin(85) ? json{{"new", scalar()}, {"old", scalar()}} : any_value(1);
    if (coin(80))
      e["meta"] = json{{"domain", coin(50) ? json("en.wikipedia.org") : scalar()}};
    return e;
  }

  std::string text(const ref_node& n) {
    switch (n.k) {
      case ref_node::all:
      case ref_node::any: {
        std::string out;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (i > 0)
            out += n.k == ref_node::all ? ";" : "|";
          out += "(" + text(n.kids[i]) + ")";
        }
        return out;
      }
      case ref_node::negate:
        return "!(" + text(n.kids[0]) + ")";
      case ref_node::truthy:
        return n.a.text;
      case ref_node::has:
        return "has(" + n.a.text + ")";
      case ref_node::cidr:
        return "";
      case ref_node::compare: {
        std::string out = n.fn == 0   ? n.a.text
                          : n.fn == 1 ? "len(" + n.a.text + ")"
                          : n.fn == 2 ? "sub(" + n.a.text + "," + n.b.text + ")"
                                      : "abs(sub(" + n.a.text + "," + n.b.text + "))";
        out += n.op;
        for (std::size_t i = 0; i < n.values.size(); ++i)
          out += (i > 0 ? "," : "") + n.values[i].text;
        return out;
      }
    }
    return "";
  }
};

TEST(FilterDifferential, CompiledEvaluatorAgreesWithTheDomReference) {
  constexpr int filters = 3000;
  constexpr int events_per_filter = 12;
  generator gen(20261130);
  int compared = 0;
  int matched = 0;
  ef::scratch work;
  for (int f = 0; f < filters; ++f) {
    const auto tree = gen.tree(3);
    const std::vector<std::string> clauses{gen.text(tree)};
    const auto made = ef::compile(clauses, ef::limits{});
    if (made.error) {
      // The generator stays inside the grammar; only depth and the regex count can pass their
      // limits.
      ASSERT_TRUE(made.error->limit == "filter.max_depth" ||
                  made.error->limit == "filter.max_regexes")
          << clauses[0] << ": " << made.error->detail;
      continue;
    }
    // The canonical form means the same: compile it and compare on every event too.
    const auto again =
        ef::compile(std::vector<std::string>{made.filter->canonical()}, ef::limits{});
    ASSERT_FALSE(again.error) << made.filter->canonical();
    ASSERT_EQ(again.filter->canonical(), made.filter->canonical());
    for (int e = 0; e < events_per_filter; ++e) {
      const auto event = gen.event();
      const int style = e % 3;  // compact; escaped non-ASCII; indented with line breaks
      const auto payload = style == 0   ? event.dump()
                           : style == 1 ? event.dump(-1, ' ', true)
                                        : event.dump(2);
      ef::record_view r;
      r.value = payload;
      const bool expected = reference(tree, event);
      ASSERT_EQ(made.filter->matches(r, work), expected)
          << "filter: " << clauses[0] << "\ncanonical: " << made.filter->canonical()
          << "\nevent: " << payload;
      ASSERT_EQ(again.filter->matches(r, work), expected) << made.filter->canonical();
      ++compared;
      matched += expected;
    }
  }
  // The generator must exercise both outcomes a fair amount, or the test proves little.
  EXPECT_GT(compared, filters * events_per_filter * 9 / 10);
  EXPECT_GT(matched, compared / 10);
  EXPECT_LT(matched, compared * 9 / 10);
}

}  // namespace

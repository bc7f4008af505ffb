// Literals and numbers, and the canonical form: the normalised tree printed as one clause that
// parses back to itself (docs/api.md "Server-side filters").
#include <algorithm>
#include <charconv>
#include <cmath>

#include "filter/program.hpp"

namespace eventstreams::filter {

bool parse_json_number(std::string_view text, number& out) noexcept {
  bool integral = true;
  if (!json_number_grammar(text, integral))
    return false;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (integral) {
    std::int64_t v = 0;
    if (std::from_chars(first, last, v).ec == std::errc{}) {
      out = {true, v, 0};
      return true;
    }
  }
  double d = 0;
  const auto result = std::from_chars(first, last, d);
  if (result.ec == std::errc::result_out_of_range) {
    // Too large is infinite, too small is zero: what strtod gives, without its locale.
    const auto e = text.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
    d = tiny ? 0.0 : HUGE_VAL;
    if (text[0] == '-')
      d = -d;
  } else if (result.ec != std::errc{}) {
    return false;
  }
  out = {false, 0, d};
  return true;
}

namespace {
int sign(auto a, auto b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int compare_int_double(std::int64_t i, double d) noexcept {
  constexpr double two63 = 9223372036854775808.0;
  if (d >= two63)
    return -1;
  if (d < -two63)
    return 1;
  const double t = std::trunc(d);  // |t| < 2^63: exact as an int64
  const auto ti = static_cast<std::int64_t>(t);
  if (i != ti)
    return sign(i, ti);
  const double frac = d - t;
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}
}  // namespace

int compare_numbers(const number& a, const number& b) noexcept {
  if (a.is_int && b.is_int)
    return sign(a.i, b.i);
  if (!a.is_int && !b.is_int)
    return sign(a.d, b.d);
  if (a.is_int)
    return compare_int_double(a.i, b.d);
  return -compare_int_double(b.i, a.d);
}

void type_bare_literal(literal& lit) {
  lit.has_number = parse_json_number(lit.text, lit.num);
  lit.has_bool = lit.text == "true" || lit.text == "false";
  lit.boolean = lit.text == "true";
  lit.is_null = lit.text == "null";
}

namespace {

void append_quoted(std::string& out, std::string_view text) {
  out.push_back('\'');
  for (const char c : text) {
    if (c == '\'')
      out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
}

bool is_bare_name(std::string_view s) {
  return !s.empty() && is_name_start(s[0]) &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return is_name_char(c); });
}

void append_literal(std::string& out, const literal& lit) {
  // Bare when reading it back gives the same forms: a quoted "0" stays quoted (string only).
  bool bare = !lit.text.empty() && lit.text.front() != ' ' && lit.text.back() != ' ' &&
              lit.text.front() != '=' && lit.text.front() != '~';
  if (std::any_of(lit.text.begin(), lit.text.end(), is_special))
    bare = false;
  if (bare && lit.quoted) {
    literal probe;
    probe.text = lit.text;
    type_bare_literal(probe);
    bare = !probe.has_number && !probe.has_bool && !probe.is_null;
  }
  if (bare)
    out += lit.text;
  else
    append_quoted(out, lit.text);
}

std::string_view op_text(cmp_op op) {
  switch (op) {
    case cmp_op::eq:
      return "=";
    case cmp_op::ne:
      return "!=";
    case cmp_op::lt:
      return "<";
    case cmp_op::le:
      return "<=";
    case cmp_op::gt:
      return ">";
    case cmp_op::ge:
      return ">=";
    case cmp_op::prefix:
      return "^=";
    case cmp_op::suffix:
      return "$=";
    case cmp_op::contains:
      return "*=";
    case cmp_op::re:
      return "=~";
    case cmp_op::not_re:
      return "!~";
  }
  return "=";
}

class printer {
 public:
  explicit printer(const std::vector<path>& paths) : paths_(paths) {}

  std::string print(const node& n) {
    std::string out;
    append(out, n);
    return out;
  }

  void append(std::string& out, const node& n) {
    switch (n.k) {
      case node::kind::any:
      case node::kind::all:
        for (std::size_t i = 0; i < n.children.size(); ++i) {
          if (i > 0)
            out.push_back(n.k == node::kind::any ? '|' : ';');
          const bool group = n.k == node::kind::all && n.children[i].k == node::kind::any;
          if (group)
            out.push_back('(');
          append(out, n.children[i]);
          if (group)
            out.push_back(')');
        }
        return;
      case node::kind::negate: {
        const auto& c = n.children[0];
        out.push_back('!');
        const bool bare = c.k == node::kind::truthy || c.k == node::kind::has ||
                          c.k == node::kind::cidr || c.k == node::kind::negate;
        if (!bare)
          out.push_back('(');
        append(out, c);
        if (!bare)
          out.push_back(')');
        return;
      }
      case node::kind::truthy:
        out += path_text(paths_[n.lhs.slot_a]);
        return;
      case node::kind::has:
        out += "has(" + path_text(paths_[n.lhs.slot_a]) + ")";
        return;
      case node::kind::cidr:
        out += "cidr(" + path_text(paths_[n.lhs.slot_a]);
        for (const auto& r : n.range_texts) {
          out.push_back(',');
          literal lit;
          lit.text = r;
          append_literal(out, lit);
        }
        out.push_back(')');
        return;
      case node::kind::compare:
        append_operand(out, n.lhs);
        out += op_text(n.op);
        for (std::size_t i = 0; i < n.values.size(); ++i) {
          if (i > 0)
            out.push_back(',');
          append_literal(out, n.values[i]);
        }
        return;
    }
  }

  void append_operand(std::string& out, const operand& o) {
    switch (o.f) {
      case operand::fn::path:
        out += path_text(paths_[o.slot_a]);
        return;
      case operand::fn::len:
        out += "len(" + path_text(paths_[o.slot_a]) + ")";
        return;
      case operand::fn::sub:
        out += "sub(" + path_text(paths_[o.slot_a]) + "," + path_text(paths_[o.slot_b]) + ")";
        return;
      case operand::fn::abs:
        out += "abs(";
        append_operand(out, *o.inner);
        out.push_back(')');
        return;
    }
  }

 private:
  const std::vector<path>& paths_;
};

bool same_operand(const operand& a, const operand& b) {
  if (a.f != b.f)
    return false;
  switch (a.f) {
    case operand::fn::path:
    case operand::fn::len:
      return a.slot_a == b.slot_a;
    case operand::fn::sub:
      return a.slot_a == b.slot_a && a.slot_b == b.slot_b;
    case operand::fn::abs:
      return same_operand(*a.inner, *b.inner);
  }
  return false;
}

// Ops whose value list means "any of": x op a | x op b == x op a,b.
bool merges_under_any(cmp_op op) {
  return op == cmp_op::eq || op == cmp_op::prefix || op == cmp_op::suffix ||
         op == cmp_op::contains || op == cmp_op::re;
}
// Ops whose value list means "none of": x op a ; x op b == x op a,b.
bool merges_under_all(cmp_op op) {
  return op == cmp_op::ne || op == cmp_op::not_re;
}

class normaliser {
 public:
  normaliser(const std::vector<path>& paths, const limits& bounds)
      : print_(paths), bounds_(bounds) {}

  void run(node& n) {
    for (auto& c : n.children)
      run(c);
    switch (n.k) {
      case node::kind::negate:
        push_not(n);
        break;
      case node::kind::all:
      case node::kind::any:
        flatten_merge_sort(n);
        break;
      case node::kind::compare:
        sort_values(n);
        break;
      case node::kind::cidr:
        sort_ranges(n);
        break;
      default:
        break;
    }
  }

 private:
  // !!x -> x; !(x=v) -> x!=v; !(x!=v) -> x=v; likewise =~ and !~. NOT over ordering stays:
  // !(x<5) holds for a missing x, x>=5 does not.
  void push_not(node& n) {
    node& c = n.children[0];
    if (c.k == node::kind::negate) {
      node inner = std::move(c.children[0]);
      n = std::move(inner);
      return;
    }
    if (c.k == node::kind::compare) {
      const auto flipped = c.op == cmp_op::eq       ? cmp_op::ne
                           : c.op == cmp_op::ne     ? cmp_op::eq
                           : c.op == cmp_op::re     ? cmp_op::not_re
                           : c.op == cmp_op::not_re ? cmp_op::re
                                                    : c.op;
      if (flipped != c.op) {
        node inner = std::move(c);
        inner.op = flipped;
        n = std::move(inner);
      }
    }
  }

  // The positions of `keys` in key order, each key once (the first of equal ones): how values,
  // ranges and children are sorted and deduplicated.
  static std::vector<std::size_t> sorted_unique(const std::vector<std::string>& keys) {
    std::vector<std::size_t> order(keys.size());
    for (std::size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    const auto last = std::unique(order.begin(), order.end(),
                                  [&](std::size_t a, std::size_t b) { return keys[a] == keys[b]; });
    order.erase(last, order.end());
    return order;
  }

  void sort_values(node& n) {
    std::vector<std::string> keys;
    for (const auto& v : n.values) {
      keys.emplace_back();
      append_literal(keys.back(), v);
    }
    std::vector<literal> values;
    std::vector<std::shared_ptr<const re2::RE2>> res;
    for (const auto i : sorted_unique(keys)) {
      values.push_back(std::move(n.values[i]));
      if (!n.res.empty())
        res.push_back(n.res[i]);
    }
    n.values = std::move(values);
    n.res = std::move(res);
  }

  void sort_ranges(node& n) {
    std::vector<cidr_range> ranges;
    std::vector<std::string> texts;
    for (const auto i : sorted_unique(n.range_texts)) {
      ranges.push_back(n.ranges[i]);
      texts.push_back(n.range_texts[i]);
    }
    n.ranges = std::move(ranges);
    n.range_texts = std::move(texts);
  }

  void flatten_merge_sort(node& n) {
    std::vector<node> flat;
    for (auto& c : n.children) {
      if (c.k == n.k) {
        for (auto& g : c.children)
          flat.push_back(std::move(g));
      } else {
        flat.push_back(std::move(c));
      }
    }
    // Merge comparisons on the same operand into one set (within the per-set limit, so that
    // the canonical form still parses).
    std::vector<node> merged;
    for (auto& c : flat) {
      const bool mergeable =
          c.k == node::kind::compare &&
          (n.k == node::kind::any ? merges_under_any(c.op) : merges_under_all(c.op));
      node* into = nullptr;
      if (mergeable) {
        for (auto& m : merged) {
          if (m.k == node::kind::compare && m.op == c.op && same_operand(m.lhs, c.lhs) &&
              m.values.size() + c.values.size() <= bounds_.max_set_values) {
            into = &m;
            break;
          }
        }
      }
      if (into == nullptr) {
        merged.push_back(std::move(c));
        continue;
      }
      for (auto& v : c.values)
        into->values.push_back(std::move(v));
      for (auto& r : c.res)
        into->res.push_back(std::move(r));
      sort_values(*into);
    }
    std::vector<std::string> keys;
    for (const auto& m : merged)
      keys.push_back(print_.print(m));
    std::vector<node> children;
    for (const auto i : sorted_unique(keys))
      children.push_back(std::move(merged[i]));
    if (children.size() == 1) {
      node only = std::move(children[0]);
      n = std::move(only);
      return;
    }
    n.children = std::move(children);
  }

  printer print_;
  const limits& bounds_;
};

}  // namespace

std::string path_text(const path& p) {
  if (p.meta != pseudo::none)
    return p.segments[0].text;
  std::string out;
  for (std::size_t i = 0; i < p.segments.size(); ++i) {
    const auto& s = p.segments[i];
    if (i > 0)
      out.push_back('.');
    // A lone "$topic" spelled bare would read as the pseudo-field: quote the JSON member.
    const bool pseudo_name = p.segments.size() == 1 && pseudo_named(s.text) != pseudo::none;
    if (s.is_index || (is_bare_name(s.text) && !pseudo_name))
      out += s.text;
    else
      append_quoted(out, s.text);
  }
  return out;
}

std::string normalise(node& root, const std::vector<path>& paths, const limits& bounds) {
  normaliser(paths, bounds).run(root);
  return printer(paths).print(root);
}

}  // namespace eventstreams::filter

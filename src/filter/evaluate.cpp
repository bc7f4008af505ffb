// Compiling (parse, normalise, lower), evaluating on extracted fields, and the process-wide set
// of compiled filters (docs/api.md "Server-side filters").
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <re2/re2.h>

#include "filter/program.hpp"

namespace eventstreams::filter {
namespace {

// ---- evaluation ----

bool equals(const value& x, const literal& lit) {
  switch (x.t) {
    case value::type::string:
      return x.str == lit.text;
    case value::type::number:
      return lit.has_number && compare_numbers(x.num, lit.num) == 0;
    case value::type::boolean:
      return lit.has_bool && lit.boolean == x.boolean;
    case value::type::null:
      return lit.is_null;
    default:
      return false;
  }
}

bool in_range(std::string_view text, const std::vector<cidr_range>& ranges) {
  cidr_range address;
  if (!parse_address(text, address))
    return false;
  const auto& bytes = address.bytes;
  for (const auto& r : ranges) {
    if (r.v6 != address.v6)
      continue;
    const unsigned full = r.prefix / 8;
    const unsigned rest = r.prefix % 8;
    if (std::memcmp(bytes.data(), r.bytes.data(), full) != 0)
      continue;
    const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
    if (rest == 0 || ((bytes[full] ^ r.bytes[full]) & mask) == 0)
      return true;
  }
  return false;
}

// Whether comparison `n` (its positive form for != and !~) holds for the scalar `x`.
bool holds(const node& n, const value& x) {
  switch (n.op) {
    case cmp_op::eq:
    case cmp_op::ne:
      return std::any_of(n.values.begin(), n.values.end(),
                         [&](const literal& l) { return equals(x, l); });
    case cmp_op::lt:
    case cmp_op::le:
    case cmp_op::gt:
    case cmp_op::ge: {
      const literal& l = n.values[0];
      int c = 0;
      if (x.t == value::type::number && l.has_number)
        c = compare_numbers(x.num, l.num);
      else if (x.t == value::type::string)
        c = x.str.compare(l.text);  // only its sign is read
      else
        return false;
      return n.op == cmp_op::lt   ? c < 0
             : n.op == cmp_op::le ? c <= 0
             : n.op == cmp_op::gt ? c > 0
                                  : c >= 0;
    }
    default:
      break;
  }
  if (x.t != value::type::string)
    return false;
  switch (n.op) {
    case cmp_op::prefix:
      return std::any_of(n.values.begin(), n.values.end(),
                         [&](const literal& l) { return x.str.starts_with(l.text); });
    case cmp_op::suffix:
      return std::any_of(n.values.begin(), n.values.end(),
                         [&](const literal& l) { return x.str.ends_with(l.text); });
    case cmp_op::contains:
      return std::any_of(n.values.begin(), n.values.end(), [&](const literal& l) {
        return l.text.empty() ||
               memmem(x.str.data(), x.str.size(), l.text.data(), l.text.size()) != nullptr;
      });
    case cmp_op::re:
    case cmp_op::not_re: {
      const re2::StringPiece piece(x.str.data(), x.str.size());
      return std::any_of(n.res.begin(), n.res.end(),
                         [&](const auto& re) { return RE2::FullMatch(piece, *re); });
    }
    default:
      return false;
  }
}

// A value computed by len(), sub() or abs(), or a path's value.
value operand_value(const operand& o, const scratch::state& work) {
  value out;
  switch (o.f) {
    case operand::fn::path:
      return work.slots[o.slot_a];
    case operand::fn::len: {
      const value& v = work.slots[o.slot_a];
      if (v.t == value::type::string) {
        std::size_t points = 0;
        for (const char c : v.str)
          points += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
        out.num = {true, static_cast<std::int64_t>(points), 0};
      } else if (v.t == value::type::array || v.t == value::type::object) {
        out.num = {true, static_cast<std::int64_t>(v.size), 0};
      } else {
        return out;
      }
      out.t = value::type::number;
      return out;
    }
    case operand::fn::sub: {
      const value& a = work.slots[o.slot_a];
      const value& b = work.slots[o.slot_b];
      if (a.t != value::type::number || b.t != value::type::number)
        return out;
      out.t = value::type::number;
      std::int64_t d = 0;
      if (a.num.is_int && b.num.is_int && !__builtin_sub_overflow(a.num.i, b.num.i, &d)) {
        out.num = {true, d, 0};
      } else {
        const double x = a.num.is_int ? static_cast<double>(a.num.i) : a.num.d;
        const double y = b.num.is_int ? static_cast<double>(b.num.i) : b.num.d;
        out.num = {false, 0, x - y};
      }
      return out;
    }
    case operand::fn::abs: {
      out = operand_value(*o.inner, work);
      if (out.t != value::type::number)
        return value{};
      if (!out.num.is_int)
        out.num.d = std::fabs(out.num.d);
      else if (out.num.i == INT64_MIN)
        out.num = {false, 0, 9223372036854775808.0};
      else if (out.num.i < 0)
        out.num.i = -out.num.i;
      return out;
    }
  }
  return out;
}

bool some(const value& v, const std::vector<value>& elements, auto&& test) {
  if (v.t == value::type::array)
    return std::any_of(elements.begin(), elements.end(), test);
  return test(v);
}

}  // namespace

bool evaluate(const program& prog, const node& n, const scratch::state& work) {
  switch (n.k) {
    case node::kind::all:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const node& c) { return evaluate(prog, c, work); });
    case node::kind::any:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const node& c) { return evaluate(prog, c, work); });
    case node::kind::negate:
      return !evaluate(prog, n.children[0], work);
    case node::kind::truthy: {
      const value& v = work.slots[n.lhs.slot_a];
      return v.t != value::type::missing && v.t != value::type::null &&
             !(v.t == value::type::boolean && !v.boolean);
    }
    case node::kind::has:
      return work.slots[n.lhs.slot_a].t != value::type::missing;
    case node::kind::cidr: {
      const auto s = n.lhs.slot_a;
      return some(work.slots[s], work.elements[s], [&](const value& x) {
        return x.t == value::type::string && in_range(x.str, n.ranges);
      });
    }
    case node::kind::compare: {
      const value v = operand_value(n.lhs, work);
      static const std::vector<value> none;
      const auto& elements = n.lhs.f == operand::fn::path ? work.elements[n.lhs.slot_a] : none;
      const bool positive = some(v, elements, [&](const value& x) { return holds(n, x); });
      return n.op == cmp_op::ne || n.op == cmp_op::not_re ? !positive : positive;
    }
  }
  return false;
}

namespace {

// ---- lowering ----

// Cheap first, so that most records are rejected by the first predicate: pseudo-fields, then
// equality, numbers, string searches, CIDR, regexes (docs/api.md).
int cost(const program& prog, const node& n) {
  switch (n.k) {
    case node::kind::all:
    case node::kind::any:
    case node::kind::negate: {
      int sum = 0;
      for (const auto& c : n.children)
        sum += cost(prog, c);
      return sum;
    }
    case node::kind::truthy:
    case node::kind::has:
      return prog.paths[n.lhs.slot_a].meta != pseudo::none ? 0 : 1;
    case node::kind::cidr:
      return 8;
    case node::kind::compare: {
      const bool meta =
          n.lhs.f == operand::fn::path && prog.paths[n.lhs.slot_a].meta != pseudo::none;
      int base = n.op == cmp_op::eq || n.op == cmp_op::ne                                       ? 2
                 : n.op == cmp_op::re || n.op == cmp_op::not_re                                 ? 16
                 : n.op == cmp_op::prefix || n.op == cmp_op::suffix || n.op == cmp_op::contains ? 6
                                                                                                : 4;
      if (n.lhs.f != operand::fn::path)
        base += 1;
      return meta ? base / 2 : base;
    }
  }
  return 0;
}

void order_for_evaluation(const program& prog, node& n) {
  for (auto& c : n.children)
    order_for_evaluation(prog, c);
  if (n.k == node::kind::all || n.k == node::kind::any)
    std::stable_sort(n.children.begin(), n.children.end(),
                     [&](const node& a, const node& b) { return cost(prog, a) < cost(prog, b); });
}

std::size_t trie_child(program& prog, std::size_t at, const path_segment& seg) {
  if (seg.is_index) {
    const auto index = seg.index;
    for (const auto& [i, child] : prog.trie[at].elements)
      if (i == index)
        return child;
    prog.trie.emplace_back();
    prog.trie[at].elements.emplace_back(index, prog.trie.size() - 1);
  } else {
    for (const auto& [name, child] : prog.trie[at].members)
      if (name == seg.text)
        return child;
    prog.trie.emplace_back();
    prog.trie[at].members.emplace_back(seg.text, prog.trie.size() - 1);
  }
  return prog.trie.size() - 1;
}

void collect_subtree(program& prog, std::size_t at) {
  auto& slots = prog.trie[at].subtree_slots;
  slots.clear();
  if (prog.trie[at].slot != trie_node::no_slot)
    slots.push_back(prog.trie[at].slot);
  std::vector<std::size_t> children;
  for (const auto& m : prog.trie[at].members)
    children.push_back(m.second);
  for (const auto& e : prog.trie[at].elements)
    children.push_back(e.second);
  for (const auto c : children) {
    collect_subtree(prog, c);
    const auto& below = prog.trie[c].subtree_slots;
    prog.trie[at].subtree_slots.insert(prog.trie[at].subtree_slots.end(), below.begin(),
                                       below.end());
  }
}

}  // namespace

void lower(program& prog) {
  order_for_evaluation(prog, prog.root);
  prog.trie.assign(1, trie_node{});
  prog.fields.clear();
  for (std::size_t s = 0; s < prog.paths.size(); ++s) {
    prog.fields.push_back(path_text(prog.paths[s]));
    if (prog.paths[s].meta != pseudo::none)
      continue;
    prog.reads_payload = true;
    std::size_t at = 0;
    for (const auto& seg : prog.paths[s].segments)
      at = trie_child(prog, at, seg);
    prog.trie[at].slot = s;
  }
  collect_subtree(prog, 0);
  for (auto& t : prog.trie) {
    for (const auto& m : t.members) {
      if (m.first.empty())
        t.empty_name = true;
      else
        t.name_starts.set(static_cast<unsigned char>(m.first[0]));
    }
  }
  std::sort(prog.fields.begin(), prog.fields.end());
}

// ---- the public types ----

scratch::scratch() : state_(std::make_unique<state>()) {}
scratch::~scratch() = default;

compiled::compiled(std::unique_ptr<const program> prog) : prog_(std::move(prog)) {}
compiled::~compiled() = default;
const std::string& compiled::canonical() const {
  return prog_->canonical;
}
const std::vector<std::string>& compiled::fields() const {
  return prog_->fields;
}
bool compiled::reads_payload() const {
  return prog_->reads_payload;
}

bool compiled::matches(const record_view& record, scratch& work) const {
  extract(*prog_, record, work.get());
  return evaluate(*prog_, prog_->root, work.get());
}

compile_result compile(std::span<const std::string> clauses, const limits& bounds) {
  compile_result result;
  const auto refuse = [&](std::string_view setting, std::size_t value, std::string what) {
    compile_error e;
    e.what = compile_error::kind::too_complex;
    e.limit = "filter." + std::string(setting);
    e.limit_value = value;
    e.detail = what + " (" + e.limit + " is " + std::to_string(value) + ")";
    result.error = std::move(e);
    return result;
  };
  if (clauses.size() > bounds.max_clauses)
    return refuse("max_clauses", bounds.max_clauses,
                  std::to_string(clauses.size()) + " filter parameters are too many");
  std::size_t length = 0;
  for (const auto& c : clauses)
    length += c.size();
  if (length > bounds.max_length)
    return refuse("max_length", bounds.max_length,
                  "the filters are " + std::to_string(length) + " bytes long, too long");

  auto prog = std::make_unique<program>();
  parse_counts counts;
  std::vector<node> parsed(clauses.size());
  for (std::size_t i = 0; i < clauses.size(); ++i) {
    if (auto error = parse_clause(clauses[i], i + 1, bounds, counts, prog->paths, parsed[i])) {
      result.error = std::move(error);
      return result;
    }
  }
  if (parsed.size() == 1) {
    prog->root = std::move(parsed[0]);
  } else {
    prog->root.k = node::kind::all;
    prog->root.children = std::move(parsed);
  }
  prog->canonical = normalise(prog->root, prog->paths, bounds);
  lower(*prog);
  result.filter = std::make_shared<const compiled>(std::move(prog));
  return result;
}

registry::lookup registry::get(std::span<const std::string> clauses) {
  auto made = compile(clauses, bounds_);
  lookup out;
  if (made.error) {
    out.result = outcome::refused;
    out.error = std::move(made.error);
    return out;
  }
  std::lock_guard lock(mutex_);
  auto it = by_canonical_.find(made.filter->canonical());
  if (it != by_canonical_.end()) {
    if (auto alive = it->second.lock()) {
      out.filter = std::move(alive);
      return out;
    }
    it->second = made.filter;
    out.filter = std::move(made.filter);
    return out;
  }
  if (by_canonical_.size() >= bounds_.max_compiled) {
    std::erase_if(by_canonical_, [](const auto& entry) { return entry.second.expired(); });
    if (by_canonical_.size() >= bounds_.max_compiled) {
      out.result = outcome::full;
      return out;
    }
  }
  by_canonical_.emplace(made.filter->canonical(), made.filter);
  out.filter = std::move(made.filter);
  return out;
}

std::size_t registry::size() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(by_canonical_.begin(), by_canonical_.end(),
                                                [](const auto& e) { return !e.second.expired(); }));
}

}  // namespace eventstreams::filter

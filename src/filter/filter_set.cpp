// Many filters over the same records, with an equality index (docs/api.md §11, "Filters in the
// shared mode").
#include "eventstreams/filter_set.hpp"

#include <algorithm>

#include "filter/program.hpp"

namespace eventstreams::filter {
namespace {

// The top-level predicate `path = values` of a filter that every match requires, if it has one
// on a path whose value can be a string: the root itself, or a child of a top-level AND. One
// whose values are only strings (`wiki=enwiki`, not `bot=false` or `namespace=0`, whose fields
// hold booleans and numbers the index cannot look up) is preferred; then the cheapest, as
// lowering ordered them.
const node* equality_guard(const program& prog) {
  const auto usable = [&](const node& n) {
    if (n.k != node::kind::compare || n.op != cmp_op::eq || n.lhs.f != operand::fn::path)
      return false;
    const auto meta = prog.paths[n.lhs.slot_a].meta;
    return meta == pseudo::none || meta == pseudo::topic || meta == pseudo::key;
  };
  const auto strings_only = [](const node& n) {
    return std::none_of(n.values.begin(), n.values.end(),
                        [](const literal& l) { return l.has_number || l.has_bool || l.is_null; });
  };
  if (usable(prog.root))
    return &prog.root;
  if (prog.root.k != node::kind::all)
    return nullptr;
  const node* first = nullptr;
  for (const auto& c : prog.root.children) {
    if (!usable(c))
      continue;
    if (strings_only(c))
      return &c;
    if (!first)
      first = &c;
  }
  return first;
}

}  // namespace

// The filters that require one path to equal one of their values, by value; the program that
// reads that path alone.
struct filter_set::guard {
  program reader;
  std::unordered_map<std::string, std::vector<const compiled*>, string_hash, std::equal_to<>>
      by_value;
  std::vector<const compiled*> all;  // evaluated when the value is no string (number, array...)
};

filter_set::filter_set() = default;
filter_set::~filter_set() = default;

void filter_set::add(const std::shared_ptr<const compiled>& f) {
  auto [it, fresh] = users_.try_emplace(f.get());
  ++it->second.count;
  if (!fresh)
    return;
  user& u = it->second;
  u.filter = f;
  const program& prog = f->code();
  const node* g = equality_guard(prog);
  if (!g) {
    unindexed_.push_back(f.get());
    return;
  }
  const path& p = prog.paths[g->lhs.slot_a];
  auto text = path_text(p);
  auto at = guards_.find(text);
  if (at == guards_.end()) {
    auto made = std::make_unique<guard>();
    made->reader.paths.push_back(p);
    made->reader.root.k = node::kind::has;
    lower(made->reader);
    at = guards_.emplace(std::move(text), std::move(made)).first;
  }
  u.indexed = at->second.get();
  u.indexed->all.push_back(f.get());
  // `=` holds for a string exactly when some value's text equals it (a bare value's number,
  // boolean or null forms only match values of those types, evaluated from `all`).
  for (const auto& lit : g->values) {
    if (std::find(u.values.begin(), u.values.end(), lit.text) != u.values.end())
      continue;
    u.values.push_back(lit.text);
    u.indexed->by_value[lit.text].push_back(f.get());
  }
}

void filter_set::remove(const compiled* f) {
  auto it = users_.find(f);
  if (it == users_.end() || --it->second.count > 0)
    return;
  user& u = it->second;
  if (!u.indexed) {
    std::erase(unindexed_, f);
  } else {
    guard& g = *u.indexed;
    std::erase(g.all, f);
    for (const auto& v : u.values) {
      auto at = g.by_value.find(v);
      std::erase(at->second, f);
      if (at->second.empty())
        g.by_value.erase(at);
    }
    if (g.all.empty())
      std::erase_if(guards_, [&](const auto& e) { return e.second.get() == &g; });
  }
  users_.erase(it);
}

std::size_t filter_set::evaluate(const std::vector<const compiled*>& filters,
                                 const record_view& record, std::vector<const compiled*>& out) {
  for (const auto* f : filters) {
    if (f->matches(record, work_))
      out.push_back(f);
  }
  return filters.size();
}

std::size_t filter_set::match(const record_view& record, std::vector<const compiled*>& out) {
  std::size_t evaluated = 0;
  for (const auto& [text, g] : guards_) {
    // The guard's own scratch: the string read stays valid while the hits are evaluated.
    extract(g->reader, record, guard_work_.get());
    const value& v = guard_work_.get().slots[0];
    switch (v.t) {
      case value::type::missing:
        break;  // `=` holds for no value of a missing field (docs/api.md)
      case value::type::string:
        if (auto hit = g->by_value.find(v.str); hit != g->by_value.end())
          evaluated += evaluate(hit->second, record, out);
        break;
      default:
        evaluated += evaluate(g->all, record, out);
        break;
    }
  }
  return evaluated + evaluate(unindexed_, record, out);
}

}  // namespace eventstreams::filter

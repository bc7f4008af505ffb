// The project's own field reader, as src/filter/extract.cpp had it before simdjson On-Demand
// (2026-12-01), kept unchanged as the reference for tests and benchmarks: one pass over the JSON
// payload along the program's trie, no DOM; members no path continues into are skipped (checked,
// not decoded). See filter_reference_scanner.hpp.
#include "filter_reference_scanner.hpp"

#include <cmath>
#include <cstring>

#include "eventstreams/utf8.hpp"

namespace eventstreams::filter::reference {
namespace {

// Escapes are decoded by the module's own filter::unescape_json_string (src/filter/extract.cpp),
// whose results the nlohmann reference of filter_differential_test checks on its own.

class walker {
 public:
  walker(const program& prog, scratch::state& work, std::string_view text)
      : prog_(prog), work_(work), p_(text.data()), end_(text.data() + text.size()) {}

  void run() {
    skip_ws();
    if (!read(0, 0))
      failed_ = true;
    skip_ws();
    if (p_ != end_)
      failed_ = true;
  }
  bool failed() const { return failed_; }

 private:
  static constexpr unsigned max_depth = 256;

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  // The contents of the string at p_ (on its opening quote); false if it never closes.
  bool string(std::string_view& raw, bool& escaped) {
    const char* start = ++p_;
    escaped = false;
    while (p_ < end_) {
      const void* hit = std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_));
      if (hit == nullptr)
        return false;
      const char* q = static_cast<const char*>(hit);
      // The quote closes the string when an even number of backslashes precede it.
      std::size_t slashes = 0;
      for (const char* b = q; b > start && b[-1] == '\\'; --b)
        ++slashes;
      if (slashes > 0)
        escaped = true;
      p_ = q + 1;
      if (slashes % 2 == 0) {
        raw = std::string_view(start, static_cast<std::size_t>(q - start));
        if (!escaped)
          escaped = std::memchr(start, '\\', raw.size()) != nullptr;
        return true;
      }
    }
    return false;
  }

  std::string_view decoded(std::string_view raw) {
    auto& pool = work_.decoded;
    if (work_.decoded_used == pool.size())
      pool.push_back(std::make_unique<std::string>());
    auto& s = *pool[work_.decoded_used++];
    unescape_json_string(raw, s);
    return s;
  }

  // Reads the value at p_ into `into` (when not null), descending along trie node `at` (0 when
  // no path continues here: then the value is only skipped or typed).
  bool read(std::size_t at, unsigned depth, value* into = nullptr) {
    if (p_ >= end_ || depth > max_depth)
      return false;
    const trie_node* node = at == 0 && depth > 0 ? nullptr : &prog_.trie[at];
    switch (*p_) {
      case '{':
        return object(node, depth, into);
      case '[':
        return array(node, depth, into);
      case '"': {
        std::string_view raw;
        bool escaped = false;
        if (!string(raw, escaped))
          return false;
        if (into != nullptr) {
          into->t = value::type::string;
          into->str = escaped ? decoded(raw) : raw;
        }
        return true;
      }
      default:
        return scalar(into);
    }
  }

  bool scalar(value* into) {
    const char* start = p_;
    while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' && *p_ != '\n' &&
           *p_ != '\r' && *p_ != '\t')
      ++p_;
    const std::string_view token(start, static_cast<std::size_t>(p_ - start));
    value v;
    if (token == "true" || token == "false") {
      v.t = value::type::boolean;
      v.boolean = token == "true";
    } else if (token == "null") {
      v.t = value::type::null;
    } else if (parse_json_number(token, v.num)) {
      v.t = value::type::number;
    } else {
      return false;
    }
    if (into != nullptr)
      *into = v;
    return true;
  }

  std::size_t child(const trie_node* node, std::string_view key, bool escaped) {
    if (node == nullptr || node->members.empty())
      return 0;
    if (escaped) {
      unescape_json_string(key, work_.key);
      key = work_.key;
    }
    for (const auto& [name, index] : node->members) {
      if (name == key)
        return index;
    }
    return 0;
  }

  void reset(std::size_t at) {
    for (const auto s : prog_.trie[at].subtree_slots) {
      work_.slots[s] = value{};
      work_.elements[s].clear();
    }
  }

  bool object(const trie_node* node, unsigned depth, value* into) {
    ++p_;
    std::size_t members = 0;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
    } else {
      for (;;) {
        skip_ws();
        if (p_ >= end_ || *p_ != '"')
          return false;
        std::string_view key;
        bool escaped = false;
        if (!string(key, escaped))
          return false;
        skip_ws();
        if (p_ >= end_ || *p_ != ':')
          return false;
        ++p_;
        skip_ws();
        const auto next = child(node, key, escaped);
        if (next != 0) {
          reset(next);  // a later duplicate member replaces an earlier one, as parsers do
          if (!member(next, depth))
            return false;
        } else if (!read(0, depth + 1)) {
          return false;
        }
        ++members;
        bool more = false;
        if (!after_item('}', more))
          return false;
        if (!more)
          break;
      }
    }
    if (into != nullptr) {
      into->t = value::type::object;
      into->size = members;
    }
    return true;
  }

  // The value of a member or element that trie node `next` stands for: into its slot, or into
  // `fallback` (may be null) when no path ends there.
  bool member(std::size_t next, unsigned depth, value* fallback = nullptr) {
    const auto slot = prog_.trie[next].slot;
    if (slot == trie_node::no_slot)
      return read(next, depth + 1, fallback);
    if (p_ < end_ && *p_ == '[')
      return array(&prog_.trie[next], depth + 1, &work_.slots[slot], &work_.elements[slot]);
    return read(next, depth + 1, &work_.slots[slot]);
  }

  // After a member or element: true with `more` when ',' follows, true without it when `close`
  // ends the container, false for anything else.
  bool after_item(char close, bool& more) {
    skip_ws();
    if (p_ >= end_ || (*p_ != ',' && *p_ != close))
      return false;
    more = *p_++ == ',';
    return true;
  }

  bool array(const trie_node* node, unsigned depth, value* into,
             std::vector<value>* elements = nullptr) {
    ++p_;
    std::size_t count = 0;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
    } else {
      for (;;) {
        skip_ws();
        std::size_t next = 0;
        if (node != nullptr) {
          for (const auto& [index, below] : node->elements) {
            if (index == count)
              next = below;
          }
        }
        value element;
        value* target = elements != nullptr ? &element : nullptr;
        if (next != 0) {
          reset(next);
          if (!member(next, depth, target))
            return false;
          const auto slot = prog_.trie[next].slot;
          if (slot != trie_node::no_slot && target != nullptr)
            *target = work_.slots[slot];
        } else if (!read(0, depth + 1, target)) {
          return false;
        }
        if (elements != nullptr)
          elements->push_back(element);
        ++count;
        bool more = false;
        if (!after_item(']', more))
          return false;
        if (!more)
          break;
      }
    }
    if (into != nullptr) {
      into->t = value::type::array;
      into->size = count;
    }
    return true;
  }

  const program& prog_;
  scratch::state& work_;
  const char* p_;
  const char* end_;
  bool failed_ = false;
};

}  // namespace

void extract(const program& prog, const record_view& record, scratch::state& work) {
  begin_extract(prog, record, work);
  if (!prog.reads_payload)
    return;
  walker w(prog, work, record.value);
  w.run();
  if (w.failed())
    clear_payload_slots(prog, work);  // not JSON: no fields, whatever was read before
}

std::string slot_difference(const program& prog, const scratch::state& a, const scratch::state& b) {
  const auto describe = [](const value& v) {
    std::string out = "{type " + std::to_string(static_cast<int>(v.t)) + ", boolean " +
                      std::to_string(v.boolean) + ", number " +
                      (v.num.is_int ? std::to_string(v.num.i) + " (int)"
                                    : std::to_string(v.num.d) + " (double)") +
                      ", str '" + std::string(v.str) + "', size " + std::to_string(v.size) + "}";
    return out;
  };
  const auto same = [](const value& x, const value& y) {
    return x.t == y.t && x.boolean == y.boolean && x.num.is_int == y.num.is_int &&
           x.num.i == y.num.i &&
           (x.num.d == y.num.d || (std::isnan(x.num.d) && std::isnan(y.num.d))) &&
           std::signbit(x.num.d) == std::signbit(y.num.d) && x.str == y.str && x.size == y.size;
  };
  for (std::size_t s = 0; s < prog.paths.size(); ++s) {
    const auto name = "slot " + std::to_string(s) + " (" + path_text(prog.paths[s]) + ")";
    if (s >= a.slots.size() || s >= b.slots.size())
      return name + ": missing from the state";
    if (!same(a.slots[s], b.slots[s]))
      return name + ": " + describe(a.slots[s]) + " against " + describe(b.slots[s]);
    const auto& ea = a.elements[s];
    const auto& eb = b.elements[s];
    if (ea.size() != eb.size())
      return name + ": " + std::to_string(ea.size()) + " elements against " +
             std::to_string(eb.size());
    for (std::size_t i = 0; i < ea.size(); ++i) {
      if (!same(ea[i], eb[i]))
        return name + " element " + std::to_string(i) + ": " + describe(ea[i]) + " against " +
               describe(eb[i]);
    }
  }
  return {};
}

}  // namespace eventstreams::filter::reference

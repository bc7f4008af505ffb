// Reading the fields a filter uses from a record: one pass over the JSON payload along the
// program's trie, no DOM, on simdjson On-Demand's engine: stage 1 (SIMD, dispatched at run time)
// finds every token, and the walk reads them through On-Demand's token iterator
// (parser::iterate_raw). The walk checks every value, including those no path continues into
// (checked, not decoded), as the project's own scanner did, because On-Demand's document API
// validates only what it visits and a payload that is not JSON must have no fields. The result
// is the scanner's, slot for slot, for every payload (tests/support/filter_reference_scanner.cpp,
// compared by tests/unit/filter_extract_test.cpp and fuzz/fuzz_filter.cpp).
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

#include "eventstreams/utf8.hpp"
#include "filter/program.hpp"

namespace eventstreams::filter {
namespace {

namespace od = simdjson::ondemand;

// Appends code point `cp` as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

int hex4(std::string_view s, std::size_t at) {
  if (at + 4 > s.size())
    return -1;
  int v = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const int d = hex_value(s[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

// (simdjson's own unescaping is not used: it refuses what this has always accepted.)
void unescape_json_string(std::string_view raw, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out.push_back(raw[i]);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'u': {
        int cp = hex4(raw, i + 1);
        if (cp < 0) {
          out.push_back('u');
          break;
        }
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && i + 2 < raw.size() && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          const int lo = hex4(raw, i + 3);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          }
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
          cp = 0xfffd;
        append_utf8(out, static_cast<std::uint32_t>(cp));
        break;
      }
      default:
        out.push_back(json_escaped_char(e));
        break;
    }
  }
}

namespace {

constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Whether `s` holds a backslash; `s` lies in the padded copy, so the 8 bytes from any of its
// bytes are readable. Names are short: eight bytes at a time, not a call to memchr.
bool has_backslash(std::string_view s) {
  if constexpr (std::endian::native != std::endian::little)
    return std::memchr(s.data(), '\\', s.size()) != nullptr;
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  for (std::size_t i = 0; i < s.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, s.data() + i, sizeof word);
    const std::size_t valid = std::min<std::size_t>(8, s.size() - i);
    word ^= ones * static_cast<unsigned char>('\\');     // a backslash becomes a zero byte
    std::uint64_t zero = (word - ones) & ~word & highs;  // exact for the lowest zero byte
    if (valid < 8)
      zero &= (std::uint64_t{1} << (8 * valid)) - 1;  // bytes past the end (little-endian)
    if (zero != 0)
      return true;
  }
  return false;
}

// Whether `t` is the literal `word` (a compare of known length: no call to memcmp).
template <std::size_t n>
bool is(std::string_view t, const char (&word)[n]) {
  return t.size() == n - 1 && std::memcmp(t.data(), word, n - 1) == 0;
}

// A token as simdjson gives it (up to the next token) without the whitespace that follows it.
std::string_view trimmed(std::string_view token) {
  while (!token.empty() && is_space(token.back()))
    token.remove_suffix(1);
  return token;
}

// The simdjson parser and the padded copy of the payload it reads: one per thread, reused, so
// that once warm a record costs no allocation. Nothing of it outlives extract(): the slots point
// into the record's own payload or into scratch::state.
class reader {
 public:
  // Beyond this, the buffers are released after the record (a rare huge record pins nothing).
  static constexpr std::size_t kept_capacity = 1 << 20;

  // The payload copied, followed by SIMDJSON_PADDING zero bytes (simdjson reads past the end).
  const char* load(std::string_view payload) {
    if (payload.size() > capacity_) {
      capacity_ = std::max(payload.size(), std::min(2 * capacity_, kept_capacity));
      buf_ = std::make_unique_for_overwrite<char[]>(capacity_ + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(buf_.get(), payload.data(), payload.size());
    std::memset(buf_.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
    return buf_.get();
  }

  // Masks, in the copy, every byte that simdjson's stage 1 refuses and the scanner never did:
  // inside strings, control characters and bytes that are not ASCII (invalid UTF-8 included);
  // outside them, the same but whitespace. The replacement ends no string (strings are read
  // from the payload itself, so their contents stay as they were); outside strings those bytes
  // made the payload invalid, and so does the letter that replaces them. Only for payloads
  // stage 1 refused: the daemon's own (checked by splice_meta before any filter) never are.
  void mask(std::size_t size) {
    const auto masked = [](char c, bool in_string) {
      const auto u = static_cast<unsigned char>(c);
      return u >= 0x80 || (u < 0x20 && (in_string || !is_space(c)));
    };
    bool in_string = false;
    for (std::size_t i = 0; i < size; ++i) {
      if (masked(buf_[i], in_string)) {
        buf_[i] = 'x';
      } else if (buf_[i] == '"') {
        in_string = !in_string;
      } else if (in_string && buf_[i] == '\\' && i + 1 < size) {
        ++i;  // the escaped byte: it ends nothing, and is masked like any other
        if (masked(buf_[i], true))
          buf_[i] = 'x';
      }
    }
  }

  // Runs simdjson's stage 1 over the copy: the iterator over its tokens (strings, scalars and
  // the structural characters, each with the whitespace after it).
  simdjson::error_code tokens(std::size_t size, od::json_iterator& out) {
    if (parser_.capacity() < size) {
      const auto error =
          parser_.allocate(std::max(size, std::min(2 * parser_.capacity(), kept_capacity)));
      if (error)
        return error;
    }
    const simdjson::padded_string_view text(buf_.get(), size,
                                            capacity_ + simdjson::SIMDJSON_PADDING);
    return parser_.iterate_raw(text).get(out);
  }

  void trim() {
    if (capacity_ > kept_capacity) {
      buf_.reset();
      capacity_ = 0;
    }
    if (parser_.capacity() > kept_capacity)
      parser_ = od::parser{};
  }

 private:
  od::parser parser_;
  std::unique_ptr<char[]> buf_;
  std::size_t capacity_ = 0;  // bytes of buf_ before its padding
};

// The walk: the scanner it replaced, step for step (same grammar, same order of slot writes,
// duplicates, failures), over simdjson's tokens instead of bytes: stage 1 has found where every
// string, scalar and structural character starts, so there is no whitespace to skip and no
// string to scan for its end. Every value is checked, walked or not, as the scanner did, so that
// a payload that is not JSON has no fields.
class walker {
 public:
  // `tokens` is at the document's first token.
  walker(const program& prog, scratch::state& work, std::string_view payload, const char* copy,
         const od::json_iterator& tokens)
      : prog_(prog),
        work_(work),
        payload_(payload),
        copy_(copy),
        end_(static_cast<std::uint32_t>(payload.size())),
        at_(tokens.position()) {}

  // Whether the document is one JSON value and nothing else; the slots are filled as it goes.
  bool run() { return read(0, 0) && at_end(); }

 private:
  static constexpr unsigned max_depth = 256;

  // The tokens are the offsets in the copy where stage 1 found them, ascending; after the last
  // one stage 1 puts the offset of the end twice, so the iterator's own peek_length() works on
  // the last token. That end mark is where the walk stops: no check ever passes on it (its
  // text is empty, its character the padding's zero), so the walk never goes beyond.
  bool at_end() const { return *at_ == end_; }
  // The current token with the whitespace after it (empty at the end); its first character.
  std::string_view token() const { return {copy_ + at_[0], at_[1] - at_[0]}; }
  char first() const { return copy_[*at_]; }
  void advance() { ++at_; }

  // The contents of the string token `t` (its quotes and the whitespace after it removed), in
  // the copy; false if it is no whole string (cannot happen: stage 1 found it closed).
  static bool contents(std::string_view t, std::string_view& out) {
    t = trimmed(t);
    if (t.size() < 2 || t.back() != '"')
      return false;
    out = t.substr(1, t.size() - 2);
    return true;
  }
  // The payload's bytes at those of the copy (the same but where mask() replaced some).
  std::string_view in_payload(std::string_view in_copy) const {
    return {payload_.data() + (in_copy.data() - copy_), in_copy.size()};
  }

  std::string_view decoded(std::string_view raw) {
    auto& pool = work_.decoded;
    if (work_.decoded_used == pool.size())
      pool.push_back(std::make_unique<std::string>());
    auto& s = *pool[work_.decoded_used++];
    unescape_json_string(raw, s);
    return s;
  }

  // Reads the value at the current token into `into` (when not null), descending along trie
  // node `at` (0 when no path continues here: then the value is only checked and typed).
  bool read(std::size_t at, unsigned depth, value* into = nullptr) {
    if (at == 0 && depth > 0 && into == nullptr)
      return skip(depth);
    if (at_end() || depth > max_depth)
      return false;
    const trie_node* node = at == 0 && depth > 0 ? nullptr : &prog_.trie[at];
    switch (first()) {
      case '{':
        return object(node, depth, into);
      case '[':
        return array(node, depth, into);
      case '"': {
        std::string_view in_copy;
        if (!contents(token(), in_copy))
          return false;
        const auto raw = in_payload(in_copy);
        advance();
        if (into != nullptr) {
          into->t = value::type::string;
          into->str = std::memchr(raw.data(), '\\', raw.size()) != nullptr ? decoded(raw) : raw;
        }
        return true;
      }
      default:
        return scalar(into);
    }
  }

  // Checks the value at the current token, `depth` levels below the root, and steps over it:
  // read(0, depth) without a value to fill (most of a payload is values no path reads, so this
  // is the walk's hot path). The same grammar and depth limit.
  bool skip(unsigned depth) {
    if (at_end() || depth > max_depth)
      return false;
    const char c = first();
    if (c == '{' || c == '[')
      return skip_container(depth);
    if (c != '"' && !is_scalar(token()))
      return false;
    advance();
    return true;
  }

  // skip() for an object or an array: a loop over its tokens.
  bool skip_container(unsigned depth) {
    const std::uint32_t* at = at_;
    // The containers open below the starting value: true for an object, false for an array.
    std::array<bool, max_depth + 2> open;
    std::size_t opened = 0;
    const auto next = [&] { return copy_[*at]; };
    for (;;) {
      // A value: a container opens, a string or a scalar is stepped over.
      if (*at == end_ || depth > max_depth)
        return false;
      const char c = next();
      if (c == '{' || c == '[') {
        ++at;
        if (next() == (c == '{' ? '}' : ']')) {
          ++at;
        } else {
          open[opened++] = c == '{';
          ++depth;
          if (c == '{' && !member_name(at))
            return false;
          continue;
        }
      } else if (c == '"') {
        ++at;
      } else if (is_scalar(std::string_view(copy_ + at[0], at[1] - at[0]))) {
        ++at;
      } else {
        return false;
      }
      // After a value: the next member or element, or the end of containers.
      for (;;) {
        if (opened == 0) {
          at_ = at;
          return true;
        }
        const bool object = open[opened - 1];
        const char d = next();
        if (d == ',') {
          ++at;
          if (object && !member_name(at))
            return false;
          break;
        }
        if (d != (object ? '}' : ']'))
          return false;
        ++at;
        --opened;
        --depth;
      }
    }
  }

  // At a member's name: steps over it and its ':'.
  bool member_name(const std::uint32_t*& at) const {
    if (copy_[at[0]] != '"' || copy_[at[1]] != ':')
      return false;
    at += 2;
    return true;
  }

  // Whether the token `t` (with the whitespace after it) is true, false, null or a number.
  static bool is_scalar(std::string_view t) {
    t = trimmed(t);
    if (t.empty())
      return false;
    switch (t[0]) {
      case 't':
        return is(t, "true");
      case 'f':
        return is(t, "false");
      case 'n':
        return is(t, "null");
      default:
        return is_json_number(t);
    }
  }

  bool scalar(value* into) {
    const auto text = trimmed(token());
    value v;
    if (is(text, "true") || is(text, "false")) {
      v.t = value::type::boolean;
      v.boolean = is(text, "true");
    } else if (is(text, "null")) {
      v.t = value::type::null;
    } else if (into == nullptr ? is_json_number(text) : parse_json_number(text, v.num)) {
      v.t = value::type::number;
    } else {
      return false;
    }
    advance();
    if (into != nullptr)
      *into = v;
    return true;
  }

  // The trie child of `node` for the member named by `key` (its contents in the copy), or 0.
  std::size_t child(const trie_node* node, std::string_view key_in_copy) {
    if (node == nullptr || node->members.empty())
      return 0;
    auto key = in_payload(key_in_copy);
    // Most members are no path's: a key is read as it is written at least up to its first
    // escape, so one that starts with neither a backslash nor the first byte of a name is none
    // of them (and only an empty key is the empty name).
    if (key.empty() ? !node->empty_name
                    : key[0] != '\\' && !node->name_starts.test(static_cast<unsigned char>(key[0])))
      return 0;
    if (has_backslash(key_in_copy)) {
      unescape_json_string(key, work_.key);
      key = work_.key;
    }
    for (const auto& [name, index] : node->members) {
      if (name.size() == key.size() && (key.empty() || name[0] == key[0]) && name == key)
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
    advance();
    std::size_t members = 0;
    if (first() == '}') {
      advance();
    } else {
      for (;;) {
        std::string_view key;
        if (first() != '"' || !contents(token(), key))
          return false;
        advance();
        if (first() != ':')
          return false;
        advance();
        const auto next = child(node, key);
        if (next != 0) {
          reset(next);  // a later duplicate member replaces an earlier one, as parsers do
          if (!member(next, depth))
            return false;
        } else if (!skip(depth + 1)) {
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
    if (first() == '[')
      return array(&prog_.trie[next], depth + 1, &work_.slots[slot], &work_.elements[slot]);
    return read(next, depth + 1, &work_.slots[slot]);
  }

  // After a member or element: true with `more` when ',' follows, true without it when `close`
  // ends the container, false for anything else.
  bool after_item(char close, bool& more) {
    const char c = first();
    if (c != ',' && c != close)
      return false;
    advance();
    more = c == ',';
    return true;
  }

  bool array(const trie_node* node, unsigned depth, value* into,
             std::vector<value>* elements = nullptr) {
    advance();
    std::size_t count = 0;
    if (first() == ']') {
      advance();
    } else {
      for (;;) {
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
  std::string_view payload_;
  const char* copy_;
  std::uint32_t end_;
  const std::uint32_t* at_;
};

// Reads the payload into the slots; false when it is not one JSON value.
bool read_payload(const program& prog, std::string_view payload, scratch::state& work) {
  if (payload.empty())
    return false;
  thread_local reader r;
  const char* copy = r.load(payload);
  od::json_iterator tokens;
  auto error = r.tokens(payload.size(), tokens);
  if (error == simdjson::UTF8_ERROR || error == simdjson::UNESCAPED_CHARS) {
    r.mask(payload.size());
    error = r.tokens(payload.size(), tokens);
  }
  const bool ok = !error && walker(prog, work, payload, copy, tokens).run();
  r.trim();
  return ok;
}

}  // namespace

void clear_payload_slots(const program& prog, scratch::state& work) {
  for (std::size_t s = 0; s < prog.paths.size(); ++s) {
    if (prog.paths[s].meta == pseudo::none) {
      work.slots[s] = value{};
      work.elements[s].clear();
    }
  }
}

void begin_extract(const program& prog, const record_view& record, scratch::state& work) {
  const auto n = prog.paths.size();
  if (work.slots.size() < n) {
    work.slots.resize(n);
    work.elements.resize(n);
  }
  work.decoded_used = 0;
  for (std::size_t s = 0; s < n; ++s) {
    value& v = work.slots[s];
    v = value{};
    work.elements[s].clear();
    switch (prog.paths[s].meta) {
      case pseudo::none:
        break;
      case pseudo::topic:
        v.t = value::type::string;
        v.str = record.topic;
        break;
      case pseudo::partition:
        v.t = value::type::number;
        v.num = {true, record.partition, 0};
        break;
      case pseudo::offset:
        v.t = value::type::number;
        v.num = {true, record.offset, 0};
        break;
      case pseudo::timestamp:
        if (record.timestamp >= 0) {
          v.t = value::type::number;
          v.num = {true, record.timestamp, 0};
        }
        break;
      case pseudo::key:
        if (record.key) {
          v.t = value::type::string;
          v.str = *record.key;
        }
        break;
    }
  }
}

void extract(const program& prog, const record_view& record, scratch::state& work) {
  begin_extract(prog, record, work);
  if (prog.reads_payload && !read_payload(prog, record.value, work))
    clear_payload_slots(prog, work);  // not JSON: no fields, whatever was read before
}

}  // namespace eventstreams::filter

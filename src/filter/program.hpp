// The filter's internal forms: literals, paths, the expression tree (parsed, then normalised in
// place) and the compiled program with its extraction trie (docs/api.md "Server-side filters").
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/filter.hpp"

namespace re2 {
class RE2;
}

namespace eventstreams::filter {

// A JSON number: int64 when integral and in range, otherwise double. Comparisons between the
// two forms are exact.
struct number {
  bool is_int = true;
  std::int64_t i = 0;
  double d = 0;
};
// -1, 0 or 1 as a is less than, equal to or greater than b, exactly.
int compare_numbers(const number& a, const number& b) noexcept;
// The number that the JSON number text `text` denotes, if it is one (RFC 8259 grammar).
bool parse_json_number(std::string_view text, number& out) noexcept;
// Whether `text` is a JSON number by the RFC 8259 grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? (exactly when parse_json_number accepts it);
// `integral` when it has neither fraction nor exponent. Inline: the field reader checks every
// number of a payload with it.
inline bool json_number_grammar(std::string_view text, bool& integral) noexcept {
  std::size_t i = 0;
  const auto digit = [&](std::size_t k) {
    return k < text.size() && text[k] >= '0' && text[k] <= '9';
  };
  if (i < text.size() && text[i] == '-')
    ++i;
  if (!digit(i))
    return false;
  if (text[i] == '0')
    ++i;
  else
    while (digit(i))
      ++i;
  integral = true;
  if (i < text.size() && text[i] == '.') {
    integral = false;
    if (!digit(++i))
      return false;
    while (digit(i))
      ++i;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    integral = false;
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-'))
      ++i;
    if (!digit(i))
      return false;
    while (digit(i))
      ++i;
  }
  return i == text.size();
}
inline bool is_json_number(std::string_view text) noexcept {
  bool integral = true;
  return json_number_grammar(text, integral);
}

// A value written in a filter. A bare token always has its string form and may also have a
// number, bool or null form; a quoted one has only the string form (docs/api.md).
struct literal {
  std::string text;
  bool quoted = false;
  bool has_number = false;
  number num;
  bool has_bool = false;
  bool boolean = false;
  bool is_null = false;
};
// Fills the non-string forms of a bare literal from its text.
void type_bare_literal(literal& lit);

enum class pseudo : std::uint8_t { none, topic, partition, offset, timestamp, key };

// The lexical rules the parser reads and the printer writes by (docs/api.md "Server-side
// filters"): characters a bare value cannot hold, and those of a bare path segment name.
constexpr bool is_special(char c) {
  return c == ',' || c == ';' || c == '|' || c == '(' || c == ')' || c == '\'' || c == '"';
}
constexpr bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}
constexpr bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || static_cast<unsigned char>(c) >= 0x80;
}
// The pseudo-field that a lone bare segment spells ("$topic", ...), else pseudo::none.
constexpr pseudo pseudo_named(std::string_view name) {
  return name == "$topic"       ? pseudo::topic
         : name == "$partition" ? pseudo::partition
         : name == "$offset"    ? pseudo::offset
         : name == "$timestamp" ? pseudo::timestamp
         : name == "$key"       ? pseudo::key
                                : pseudo::none;
}

struct path_segment {
  std::string text;
  bool is_index = false;  // written as digits: an array index (quote it for a member)
  std::size_t index = 0;  // when is_index
  bool operator==(const path_segment&) const = default;
};
struct path {
  std::vector<path_segment> segments;
  pseudo meta = pseudo::none;  // $topic etc.: the record's own field, no payload read
  // Equal exactly when path_text() is: the spelling is canonical (digit segments too).
  bool operator==(const path&) const = default;
};

enum class cmp_op : std::uint8_t { eq, ne, lt, le, gt, ge, prefix, suffix, contains, re, not_re };

// What a comparison looks at: a path's value, or a function of paths.
struct operand {
  enum class fn : std::uint8_t { path, len, sub, abs };
  fn f = fn::path;
  std::size_t slot_a = 0;          // path, len, sub: the (first) path's slot
  std::size_t slot_b = 0;          // sub: the second path's slot
  std::unique_ptr<operand> inner;  // abs
};

struct cidr_range {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  unsigned prefix = 0;
};
// An IPv4 or IPv6 address as the single-address range (/32 or /128), if `text` is one. Used
// for the ranges of cidr() and for the values they are checked against; does not allocate.
bool parse_address(std::string_view text, cidr_range& out) noexcept;

struct node {
  enum class kind : std::uint8_t { all, any, negate, compare, truthy, has, cidr };
  kind k = kind::all;
  std::vector<node> children;  // all, any; negate has one
  operand lhs;                 // compare; truthy, has and cidr use lhs.slot_a
  cmp_op op = cmp_op::eq;
  std::vector<literal> values;                       // compare
  std::vector<std::shared_ptr<const re2::RE2>> res;  // re, not_re: one per value
  std::vector<cidr_range> ranges;                    // cidr
  std::vector<std::string> range_texts;              // cidr, as written (canonical form)
};

// One step of the payload walk: the members (and array elements) that some path continues
// into, and the slot that a path ending here fills.
struct trie_node {
  std::vector<std::pair<std::string, std::size_t>> members;   // key -> node index
  std::vector<std::pair<std::size_t, std::size_t>> elements;  // array index -> node index
  static constexpr std::size_t no_slot = static_cast<std::size_t>(-1);
  std::size_t slot = no_slot;
  std::vector<std::size_t> subtree_slots;  // slots at or below this node (reset on duplicates)
  // The first bytes of the member names (a key that starts with none of them, nor with an
  // escape, is none of them: the field reader's quick test); whether one name is empty.
  std::bitset<256> name_starts;
  bool empty_name = false;
};

class program {
 public:
  node root;
  std::vector<path> paths;  // slot i reads paths[i]
  std::string canonical;
  std::vector<std::string> fields;
  bool reads_payload = false;
  std::vector<trie_node> trie;  // trie[0] is the payload's root
};

// The value a slot holds for one record.
struct value {
  enum class type : std::uint8_t { missing, null, boolean, number, string, array, object };
  type t = type::missing;
  bool boolean = false;
  number num;
  std::string_view str;
  std::size_t size = 0;  // array elements or object members
};

}  // namespace eventstreams::filter

// scratch::state: the per-record slot values (defined here so the evaluator and the extractor
// share it).
struct eventstreams::filter::scratch::state {
  std::vector<value> slots;
  std::vector<std::vector<value>> elements;           // per slot: the elements of an array value
  std::vector<std::unique_ptr<std::string>> decoded;  // unescaped strings (stable addresses)
  std::size_t decoded_used = 0;
  std::string key;  // the key being compared, unescaped
};

namespace eventstreams::filter {

// Parses one decoded clause into `out`, adding the paths it reads to `paths` (deduplicated).
// `counts` carries the limits' running totals across clauses. Returns the error, if any.
struct parse_counts {
  std::size_t predicates = 0;
  std::size_t values = 0;
  std::size_t regexes = 0;
};
std::optional<compile_error> parse_clause(std::string_view clause, std::size_t clause_number,
                                          const limits& bounds, parse_counts& counts,
                                          std::vector<path>& paths, node& out);

// Normalises the tree in place (flatten, merge sets, push NOT into = and =~, sort, dedupe) and
// returns its canonical text.
std::string normalise(node& root, const std::vector<path>& paths, const limits& bounds);
// The canonical spelling of a path.
std::string path_text(const path& p);

// Orders children for evaluation (cheap predicates first) and builds the extraction trie.
void lower(program& prog);

// Decodes the escapes of a JSON string's contents (no quotes) into `out` (cleared first). A lone
// surrogate becomes U+FFFD, as the JSON parsers we are compared against (nlohmann) refuse it.
void unescape_json_string(std::string_view raw, std::string& out);

// The start of every reader of slots: `work` sized for `prog`, every slot reset, the
// pseudo-fields ($topic, $partition, ...) filled from `record`.
void begin_extract(const program& prog, const record_view& record, scratch::state& work);
// Resets the payload's slots (a payload that is not JSON has no fields).
void clear_payload_slots(const program& prog, scratch::state& work);

// Reads the slots of `prog` from `record` in one pass over the payload.
void extract(const program& prog, const record_view& record, scratch::state& work);

// Evaluates the tree on extracted slots.
bool evaluate(const program& prog, const node& n, const scratch::state& work);

}  // namespace eventstreams::filter

// A single-pass validating JSON scanner that maps out what splice_meta rewrites (no DOM).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace eventstreams::detail {

// Byte range [begin, end) in the scanned text.
struct json_span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Where the parts of one JSON object that the meta splice touches are. All offsets index the
// scanned text. Reused between calls (kept_meta_members keeps its capacity), so a caller that
// holds one per thread scans without allocating.
struct object_layout {
  json_span object;              // from '{' to one past the matching '}'
  std::size_t member_count = 0;  // top-level members, duplicates included
  bool has_line_break = false;   // CR or LF whitespace occurs between tokens
  // The last top-level "meta" member (the one most parsers keep), if any.
  bool has_meta = false;
  bool meta_is_object = false;
  json_span meta_value;  // the value of that member, whatever its type
  // Members of that meta object (key through value) other than topic, partition and offset,
  // in order.
  std::vector<json_span> kept_meta_members;
  bool is_canary = false;  // that meta object has "domain":"canary"
};

// Nesting beyond this is rejected: it bounds the scanner's recursion and no event needs it.
inline constexpr unsigned max_json_depth = 256;

// Validates `text` as exactly one JSON object (RFC 8259, UTF-8; whitespace around it allowed)
// and fills `layout`. Returns false, with `layout` unspecified, for anything else: other JSON
// values, invalid JSON or UTF-8, trailing bytes, nesting deeper than max_json_depth. Keys (and
// the "canary" domain) are compared once their escapes are decoded, as a JSON parser reads them:
// "\u006deta" is "meta".
bool scan_object(std::string_view text, object_layout& layout);

}  // namespace eventstreams::detail

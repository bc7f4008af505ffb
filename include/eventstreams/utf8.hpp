// UTF-8 well-formedness (Unicode table 3-7), shared by the JSON scanner and the config loader;
// the value of a hex digit, shared by the JSON scanner, the filter's field reader and the
// router's percent-decoding; and what a JSON one-character escape stands for, shared by the
// scanner and the filter's field reader.
#pragma once

#include <cstddef>
#include <string_view>

namespace eventstreams {

// The length (2 to 4) of the well-formed UTF-8 sequence whose lead byte (>= 0x80) is at
// `p`, or 0 when it is not one: overlong forms, surrogates and code points above U+10FFFF are
// refused. Reads at most up to `end`.
std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) noexcept;

// Whether `text` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view text) noexcept;

// The value (0 to 15) of the hex digit `c`, either case, or -1 when it is not one.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// The character that the JSON escape \e stands for (RFC 8259 §7): `b f n r t` are control
// characters, `" \ /` stand for themselves. `u` is not a one-character escape; any other `e`
// is returned as it is.
constexpr char json_escaped_char(char e) noexcept {
  switch (e) {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return e;
  }
}

}  // namespace eventstreams

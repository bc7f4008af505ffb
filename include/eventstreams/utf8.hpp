// UTF-8 well-formedness (Unicode table 3-7), shared by the JSON scanner and the config loader,
// and the value of a hex digit, shared by the JSON scanner and the router's percent-decoding.
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

}  // namespace eventstreams

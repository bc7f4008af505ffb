// The validating scanner behind splice_meta: recursive descent over bytes, recording spans.
#include "json_scanner.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "eventstreams/utf8.hpp"

namespace eventstreams::detail {
namespace {

using uchar = unsigned char;

constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;

// Byte-wise "is zero" over a word: exact for the lowest flagged byte, which is all we use
// (borrows only propagate towards higher bytes).
constexpr std::uint64_t zero_bytes(std::uint64_t v) {
  return (v - ones) & ~v & highs;
}

// High bit set for bytes that end the fast path inside a string: '"', '\\', controls, non-ASCII.
constexpr std::uint64_t string_stoppers(std::uint64_t x) {
  const std::uint64_t below_space = (x - ones * 0x20) & ~x;
  return (zero_bytes(x ^ (ones * '"')) | zero_bytes(x ^ (ones * '\\')) | below_space | x) & highs;
}

bool is_digit(uchar c) {
  return c >= '0' && c <= '9';
}

bool is_hex(uchar c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Up to the longest name the splice looks for ("partition" with its quotes), and then some.
using name_buffer = std::array<char, 16>;

// The text a JSON parser reads in the token `raw` (quotes included; escapes complete, as the
// scanner validated them), decoded into `buf`: "\u006deta" is "meta" to every parser, so it is
// here too (docs/api.md, "The SSE stream": the splice rewrites the member that clients read).
// Without escapes that is `raw` itself; when the decoded text is not ASCII or does not fit, it
// cannot equal an ASCII name, and `raw` (which has a backslash, unlike any name) is returned.
std::string_view as_read(std::string_view raw, name_buffer& buf) {
  if (raw.find('\\') == std::string_view::npos) {
    return raw;
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\') {
      const char escape = raw[++i];
      if (escape == 'u') {
        int code = 0;
        for (int k = 0; k < 4; ++k) {
          code = code * 16 + hex_value(raw[++i]);
        }
        if (code >= 0x80) {
          return raw;
        }
        c = static_cast<char>(code);
      } else {
        c = json_escaped_char(escape);
      }
    }
    if (n == buf.size()) {
      return raw;
    }
    buf[n++] = c;
  }
  return {buf.data(), n};
}

class scanner {
 public:
  scanner(std::string_view text, object_layout& layout)
      : begin_(reinterpret_cast<const uchar*>(text.data())),
        p_(begin_),
        end_(begin_ + text.size()),
        layout_(layout) {}

  bool run() {
    layout_.member_count = 0;
    layout_.has_line_break = false;
    layout_.has_meta = false;
    layout_.meta_is_object = false;
    layout_.kept_meta_members.clear();
    layout_.is_canary = false;
    skip_ws();
    if (peek() != '{') {
      return false;
    }
    layout_.object.begin = offset(p_);
    const bool ok = members(1, [this](const uchar*, std::string_view key) {
      ++layout_.member_count;
      name_buffer buf;
      return as_read(key, buf) == R"("meta")" ? top_meta() : value(2);
    });
    if (!ok) {
      return false;
    }
    layout_.object.end = offset(p_);
    skip_ws();
    return p_ == end_;
  }

 private:
  std::size_t offset(const uchar* p) const { return static_cast<std::size_t>(p - begin_); }

  // 0 at the end: NUL is invalid wherever peek() is used, so it cannot be confused with data.
  uchar peek() const { return p_ < end_ ? *p_ : 0; }

  void skip_ws() {
    while (p_ < end_) {
      const uchar c = *p_;
      if (c == ' ' || c == '\t') {
        ++p_;
      } else if (c == '\n' || c == '\r') {
        layout_.has_line_break = true;
        ++p_;
      } else {
        return;
      }
    }
  }

  // The value of a top-level "meta" member; a later one replaces what an earlier one recorded.
  bool top_meta() {
    layout_.has_meta = true;
    layout_.meta_value.begin = offset(p_);
    layout_.kept_meta_members.clear();
    layout_.is_canary = false;
    layout_.meta_is_object = peek() == '{';
    const bool ok = layout_.meta_is_object ? meta_members() : value(2);
    layout_.meta_value.end = offset(p_);
    return ok;
  }

  bool meta_members() {
    return members(2, [this](const uchar* key_begin, std::string_view key) {
      const uchar* value_begin = p_;
      if (!value(3)) {
        return false;
      }
      name_buffer buf;
      const std::string_view name = as_read(key, buf);
      if (name == R"("topic")" || name == R"("partition")" || name == R"("offset")") {
        return true;
      }
      if (name == R"("domain")") {
        const std::string_view v(reinterpret_cast<const char*>(value_begin),
                                 static_cast<std::size_t>(p_ - value_begin));
        name_buffer value_buf;
        layout_.is_canary = as_read(v, value_buf) == R"("canary")";
      }
      layout_.kept_meta_members.push_back({offset(key_begin), offset(p_)});
      return true;
    });
  }

  // An object at `depth` (p_ on '{'). For each member, `on_member(key_begin, raw_key)` is called
  // with p_ on the value and must scan it.
  template <class OnMember>
  bool members(unsigned depth, OnMember&& on_member) {
    if (depth > max_json_depth) {
      return false;
    }
    ++p_;
    skip_ws();
    if (peek() == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      if (peek() != '"') {
        return false;
      }
      const uchar* key_begin = p_;
      if (!string()) {
        return false;
      }
      const std::string_view key(reinterpret_cast<const char*>(key_begin),
                                 static_cast<std::size_t>(p_ - key_begin));
      skip_ws();
      if (peek() != ':') {
        return false;
      }
      ++p_;
      skip_ws();
      if (!on_member(key_begin, key)) {
        return false;
      }
      skip_ws();
      if (auto next = after_element('}'); next != step::more) {
        return next == step::closed;
      }
    }
  }

  bool array(unsigned depth) {
    if (depth > max_json_depth) {
      return false;
    }
    ++p_;
    skip_ws();
    if (peek() == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      if (!value(depth + 1)) {
        return false;
      }
      skip_ws();
      if (auto next = after_element(']'); next != step::more) {
        return next == step::closed;
      }
    }
  }

  enum class step { more, closed, invalid };
  // After a member or element: `close` ends the container, ',' (with the whitespace after it)
  // announces another one, anything else is invalid.
  step after_element(uchar close) {
    const uchar c = peek();
    if (c == close) {
      ++p_;
      return step::closed;
    }
    if (c != ',') {
      return step::invalid;
    }
    ++p_;
    skip_ws();
    return step::more;
  }

  // Any value; `depth` is its nesting level if it is a container.
  bool value(unsigned depth) {
    switch (peek()) {
      case '{':
        return members(depth,
                       [this, depth](const uchar*, std::string_view) { return value(depth + 1); });
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool number() {
    if (peek() == '-') {
      ++p_;
    }
    if (peek() == '0') {
      ++p_;
    } else if (is_digit(peek())) {
      skip_digits();
    } else {
      return false;
    }
    if (peek() == '.') {
      ++p_;
      if (!is_digit(peek())) {
        return false;
      }
      skip_digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++p_;
      if (peek() == '+' || peek() == '-') {
        ++p_;
      }
      if (!is_digit(peek())) {
        return false;
      }
      skip_digits();
    }
    return true;
  }

  void skip_digits() {
    while (p_ < end_ && is_digit(*p_)) {
      ++p_;
    }
  }

  // A string literal (p_ on the opening quote). Most of an event's bytes are string content,
  // so plain ASCII runs are skipped a word at a time.
  bool string() {
    ++p_;
    for (;;) {
      if constexpr (std::endian::native == std::endian::little) {
        while (end_ - p_ >= 8) {
          std::uint64_t word;
          std::memcpy(&word, p_, sizeof word);
          const std::uint64_t stop = string_stoppers(word);
          if (stop != 0) {
            p_ += std::countr_zero(stop) / 8;
            break;
          }
          p_ += 8;
        }
      }
      if (p_ >= end_) {
        return false;
      }
      const uchar c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!escape()) {
          return false;
        }
      } else if (c < 0x20) {
        return false;
      } else if (c < 0x80) {
        ++p_;
      } else if (!utf8_sequence()) {
        return false;
      }
    }
  }

  // p_ on a backslash. Lone surrogates (\uD800) are let through: the grammar allows them.
  bool escape() {
    if (end_ - p_ < 2) {
      return false;
    }
    switch (p_[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p_ += 2;
        return true;
      case 'u':
        if (end_ - p_ < 6 || !is_hex(p_[2]) || !is_hex(p_[3]) || !is_hex(p_[4]) || !is_hex(p_[5])) {
          return false;
        }
        p_ += 6;
        return true;
      default:
        return false;
    }
  }

  // p_ on a lead byte >= 0x80: one well-formed UTF-8 sequence.
  bool utf8_sequence() {
    const std::size_t len = utf8_sequence_length(p_, end_);
    p_ += len;
    return len != 0;
  }

  const uchar* begin_;
  const uchar* p_;
  const uchar* end_;
  object_layout& layout_;
};

}  // namespace

bool scan_object(std::string_view text, object_layout& layout) {
  return scanner(text, layout).run();
}

}  // namespace eventstreams::detail

// The filter grammar (docs/api.md "Server-side filters"): recursive descent over one decoded
// clause, every limit checked while parsing, errors that name the clause and the character.
#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <re2/re2.h>
#include <string>
#include <unordered_map>

#include "eventstreams/utf8.hpp"
#include "filter/program.hpp"

namespace eventstreams::filter {
namespace {

// The process's regexes by pattern (and RE2 memory budget): a pattern that many filters use is
// compiled once and its RE2 object shared (RE2 is thread-safe for matching). Weak entries: a
// pattern goes with the last filter using it.
struct regex_cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::weak_ptr<const RE2>> by_key;
  std::size_t inserts = 0;
};
regex_cache& regexes() {
  static regex_cache cache;
  return cache;
}

std::shared_ptr<const RE2> shared_regex(const std::string& pattern, std::int64_t max_mem) {
  auto& cache = regexes();
  std::string key = std::to_string(max_mem);
  key += ':';
  key += pattern;
  {
    std::lock_guard lock(cache.mutex);
    if (auto it = cache.by_key.find(key); it != cache.by_key.end()) {
      if (auto re = it->second.lock())
        return re;
    }
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(max_mem);
  auto re = std::make_shared<const RE2>(pattern, options);
  if (!re->ok())
    return re;  // refused: not kept
  std::lock_guard lock(cache.mutex);
  auto& slot = cache.by_key[key];
  if (auto other = slot.lock())
    return other;  // compiled meanwhile by another request
  slot = re;
  if (++cache.inserts % 1024 == 0)
    std::erase_if(cache.by_key, [](const auto& e) { return e.second.expired(); });
  return re;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Operators, longest first so that "=~" wins over "=" and "<=" over "<".
struct op_spelling {
  std::string_view text;
  cmp_op op;
};
constexpr std::array<op_spelling, 11> operators{{{"=~", cmp_op::re},
                                                 {"!~", cmp_op::not_re},
                                                 {"!=", cmp_op::ne},
                                                 {"^=", cmp_op::prefix},
                                                 {"$=", cmp_op::suffix},
                                                 {"*=", cmp_op::contains},
                                                 {"<=", cmp_op::le},
                                                 {">=", cmp_op::ge},
                                                 {"=", cmp_op::eq},
                                                 {"<", cmp_op::lt},
                                                 {">", cmp_op::gt}}};

bool is_ordering(cmp_op op) {
  return op == cmp_op::lt || op == cmp_op::le || op == cmp_op::gt || op == cmp_op::ge;
}

bool parse_cidr(std::string_view text, cidr_range& out) {
  const auto slash = text.find('/');
  if (!parse_address(text.substr(0, slash), out))
    return false;
  if (slash != std::string_view::npos) {
    const auto bits = text.substr(slash + 1);
    unsigned prefix = 0;
    const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || ec != std::errc{} || end != bits.data() + bits.size() ||
        prefix > out.prefix)
      return false;
    out.prefix = prefix;
  }
  return true;
}

class parser {
 public:
  parser(std::string_view text, std::size_t clause, const limits& bounds, parse_counts& counts,
         std::vector<path>& paths)
      : text_(text), clause_(clause), bounds_(bounds), counts_(counts), paths_(paths) {}

  std::optional<compile_error> run(node& out) {
    for (std::size_t i = 0; i < text_.size(); ++i) {
      const auto c = static_cast<unsigned char>(text_[i]);
      if (c < 0x20 || c == 0x7f)
        return invalid(i, "a filter cannot contain control characters", "");
    }
    if (!is_valid_utf8(text_))
      return invalid(first_invalid_utf8(), "the filter is not valid UTF-8", "");
    if (!parse_or(out))
      return std::move(error_);
    skip_spaces();
    if (pos_ != text_.size())
      return invalid(pos_, "expected ';', '|' or the end of the filter, found " + found(), "");
    return std::nullopt;
  }

 private:
  // ---- errors ----
  std::size_t character(std::size_t byte) const {
    std::size_t n = 1;
    for (std::size_t i = 0; i < byte && i < text_.size(); ++i)
      n += (static_cast<unsigned char>(text_[i]) & 0xc0) != 0x80;
    return n;
  }
  std::size_t first_invalid_utf8() const {
    std::size_t i = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data());
    while (i < text_.size()) {
      if (p[i] < 0x80) {
        ++i;
        continue;
      }
      const auto n = utf8_sequence_length(p + i, p + text_.size());
      if (n == 0)
        return i;
      i += n;
    }
    return i;
  }
  std::string found() const {
    if (pos_ >= text_.size())
      return "the end";
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data());
    std::size_t n = 1;
    if (p[pos_] >= 0x80)
      n = std::max<std::size_t>(1, utf8_sequence_length(p + pos_, p + text_.size()));
    return "'" + std::string(text_.substr(pos_, n)) + "'";
  }
  compile_error invalid(std::size_t byte, std::string what, std::string expected) {
    compile_error e;
    e.what = compile_error::kind::invalid_filter;
    e.clause = clause_;
    e.offset = character(byte);
    e.detail = "filter #" + std::to_string(clause_) + " at character " + std::to_string(e.offset) +
               ": " + what;
    e.expected = std::move(expected);
    return e;
  }
  bool fail(std::size_t byte, std::string what, std::string expected = "") {
    error_ = invalid(byte, std::move(what), std::move(expected));
    return false;
  }
  bool too_complex(std::size_t byte, std::string_view setting, std::size_t value,
                   std::string_view what) {
    compile_error e;
    e.what = compile_error::kind::too_complex;
    e.clause = clause_;
    e.offset = character(byte);
    e.limit = "filter." + std::string(setting);
    e.limit_value = value;
    e.detail = "filter #" + std::to_string(clause_) + " at character " + std::to_string(e.offset) +
               ": " + std::string(what) + " (" + e.limit + " is " + std::to_string(value) + ")";
    error_ = std::move(e);
    return false;
  }

  // ---- characters ----
  void skip_spaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ')
      ++pos_;
  }
  bool at(char c) {
    skip_spaces();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool enter(std::size_t where) {
    if (++depth_ > bounds_.max_depth)
      return too_complex(where, "max_depth", bounds_.max_depth,
                         "parentheses, '!' and functions are nested too deeply");
    return true;
  }

  // ---- expressions ----
  // or-expr = and-expr {"|" and-expr}; and-expr = unary {";" unary}.
  bool parse_or(node& out) { return parse_list(out, '|', node::kind::any); }
  bool parse_and(node& out) { return parse_list(out, ';', node::kind::all); }

  bool parse_list(node& out, char separator, node::kind k) {
    const auto item = [&](node& n) { return k == node::kind::any ? parse_and(n) : parse_unary(n); };
    node first;
    if (!item(first))
      return false;
    if (!at(separator)) {
      out = std::move(first);
      return true;
    }
    out = node{};
    out.k = k;
    out.children.push_back(std::move(first));
    while (at(separator)) {
      ++pos_;
      node next;
      if (!item(next))
        return false;
      out.children.push_back(std::move(next));
    }
    return true;
  }

  bool parse_unary(node& out) {
    skip_spaces();
    if (pos_ < text_.size() && text_[pos_] == '!' &&
        (pos_ + 1 >= text_.size() || (text_[pos_ + 1] != '=' && text_[pos_ + 1] != '~'))) {
      if (!enter(pos_))
        return false;
      ++pos_;
      out = node{};
      out.k = node::kind::negate;
      out.children.emplace_back();
      if (!parse_unary(out.children.back()))
        return false;
      --depth_;
      return true;
    }
    return parse_primary(out);
  }

  bool parse_primary(node& out) {
    skip_spaces();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      const auto open = pos_;
      if (!enter(pos_))
        return false;
      ++pos_;
      if (!parse_or(out))
        return false;
      if (!at(')'))
        return fail(pos_,
                    "expected ')' to close the '(' at character " +
                        std::to_string(character(open)) + ", found " + found(),
                    "')'");
      ++pos_;
      --depth_;
      return true;
    }
    return parse_predicate(out);
  }

  // A function name followed by '(' (spaces allowed between), else nothing.
  std::string_view function_name() {
    std::size_t i = pos_;
    while (i < text_.size() && is_name_char(text_[i]))
      ++i;
    const auto name = text_.substr(pos_, i - pos_);
    if (name != "has" && name != "cidr" && name != "len" && name != "sub" && name != "abs")
      return {};
    while (i < text_.size() && text_[i] == ' ')
      ++i;
    return i < text_.size() && text_[i] == '(' ? name : std::string_view{};
  }
  void open_call() {  // past the name and '(' that function_name() saw
    while (text_[pos_] != '(')
      ++pos_;
    ++pos_;
  }
  bool close_call(std::string_view name) {
    if (!at(')'))
      return fail(pos_, "expected ')' to close " + std::string(name) + "(, found " + found(),
                  "')'");
    ++pos_;
    --depth_;
    return true;
  }
  bool comma(std::string_view name) {
    if (!at(','))
      return fail(pos_, "expected ',' in " + std::string(name) + "(, found " + found(), "','");
    ++pos_;
    return true;
  }

  bool count_predicate(std::size_t where) {
    if (++counts_.predicates > bounds_.max_predicates)
      return too_complex(where, "max_predicates", bounds_.max_predicates, "too many predicates");
    return true;
  }

  bool parse_predicate(node& out) {
    skip_spaces();
    const auto start = pos_;
    out = node{};
    const auto fn = function_name();
    if (fn == "has" || fn == "cidr") {
      if (!enter(pos_) || !count_predicate(start))
        return false;
      open_call();
      out.k = fn == "has" ? node::kind::has : node::kind::truthy;
      if (!parse_path(out.lhs.slot_a))
        return false;
      if (fn == "cidr") {
        out.k = node::kind::cidr;
        if (!comma(fn) || !parse_ranges(out))
          return false;
      }
      return close_call(fn);
    }
    const bool bare_path = fn.empty();
    if (!parse_operand(out.lhs))
      return false;
    if (!count_predicate(start))
      return false;
    skip_spaces();
    for (const auto& o : operators) {
      if (text_.substr(pos_, o.text.size()) == o.text) {
        out.k = node::kind::compare;
        out.op = o.op;
        pos_ += o.text.size();
        return parse_values(out);
      }
    }
    if (!bare_path)
      return fail(pos_,
                  "expected an operator after '" + std::string(text_.substr(start, pos_ - start)) +
                      "', found " + found(),
                  "an operator");
    out.k = node::kind::truthy;  // a bare path: present, not null and not false
    if (pos_ < text_.size() && !is_special(text_[pos_]))
      return fail(pos_,
                  "expected an operator after '" + std::string(text_.substr(start, pos_ - start)) +
                      "', found " + found(),
                  "an operator");
    return true;
  }

  bool parse_operand(operand& out) {
    skip_spaces();
    const auto fn = function_name();
    if (fn.empty()) {
      out.f = operand::fn::path;
      return parse_path(out.slot_a);
    }
    if (fn == "has" || fn == "cidr")
      return fail(pos_, std::string(fn) + "() is a predicate and cannot be compared",
                  "a path, len(), sub() or abs()");
    if (!enter(pos_))
      return false;
    open_call();
    if (fn == "len") {
      out.f = operand::fn::len;
      if (!parse_path(out.slot_a))
        return false;
    } else if (fn == "sub") {
      out.f = operand::fn::sub;
      if (!parse_path(out.slot_a) || !comma(fn) || !parse_path(out.slot_b))
        return false;
    } else {
      out.f = operand::fn::abs;
      out.inner = std::make_unique<operand>();
      if (!parse_operand(*out.inner))
        return false;
    }
    return close_call(fn);
  }

  bool parse_path(std::size_t& slot) {
    skip_spaces();
    const auto start = pos_;
    path p;
    bool bare_single = true;
    for (;;) {
      if (p.segments.size() == bounds_.max_path_segments)
        return too_complex(pos_, "max_path_segments", bounds_.max_path_segments,
                           "the path has too many segments");
      path_segment seg;
      if (pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '"')) {
        bare_single = false;
        if (!parse_quoted(seg.text))
          return false;
      } else if (pos_ < text_.size() && is_digit(text_[pos_])) {
        seg.is_index = true;
        const auto digits = pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_]))
          ++pos_;
        const auto [end, ec] =
            std::from_chars(text_.data() + digits, text_.data() + pos_, seg.index);
        if (ec != std::errc{})  // no event has an array that long
          return fail(digits, "the array index is too large", "an array index");
        seg.text = std::to_string(seg.index);  // "007" is "7": one spelling, one slot
      } else if (pos_ < text_.size() && is_name_start(text_[pos_])) {
        seg.text.push_back(text_[pos_++]);
        while (pos_ < text_.size() && is_name_char(text_[pos_]))
          seg.text.push_back(text_[pos_++]);
      } else {
        return fail(pos_, "expected a field name, found " + found(), "a path");
      }
      p.segments.push_back(std::move(seg));
      if (pos_ >= text_.size() || text_[pos_] != '.')
        break;
      ++pos_;
    }
    if (pos_ - start > bounds_.max_path_length)
      return too_complex(start, "max_path_length", bounds_.max_path_length, "the path is too long");
    if (bare_single && p.segments.size() == 1)
      p.meta = pseudo_named(p.segments[0].text);
    // One slot per path: equal paths are those with the same canonical spelling.
    slot = static_cast<std::size_t>(std::find(paths_.begin(), paths_.end(), p) - paths_.begin());
    if (slot == paths_.size())
      paths_.push_back(std::move(p));
    return true;
  }

  // 'text' or "text", the quote doubled inside; pos_ is on the opening quote.
  bool parse_quoted(std::string& out) {
    const char quote = text_[pos_];
    const auto open = pos_++;
    for (;;) {
      if (pos_ >= text_.size())
        return fail(open, "the quote is never closed", std::string(1, quote));
      if (text_[pos_] == quote) {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) {
          out.push_back(quote);
          pos_ += 2;
          continue;
        }
        ++pos_;
        return true;
      }
      out.push_back(text_[pos_++]);
    }
  }

  bool parse_value(literal& out) {
    skip_spaces();
    if (pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '"')) {
      out.quoted = true;
      return parse_quoted(out.text);
    }
    const auto start = pos_;
    while (pos_ < text_.size() && !is_special(text_[pos_]))
      ++pos_;
    auto raw = text_.substr(start, pos_ - start);
    while (!raw.empty() && raw.back() == ' ')
      raw.remove_suffix(1);
    if (raw.empty())
      return fail(start, "expected a value, found " + found(), "a value");
    out.text = std::string(raw);
    type_bare_literal(out);
    return true;
  }

  bool count_value(std::size_t where, std::size_t in_set, std::size_t set_limit,
                   std::string_view set_setting) {
    if (in_set > set_limit)
      return too_complex(where, set_setting, set_limit, "too many values in one set");
    if (++counts_.values > bounds_.max_values)
      return too_complex(where, "max_values", bounds_.max_values, "too many values in all");
    return true;
  }

  // values = value {"," value}: `take(literal, where)` for each, counted against the set's limit
  // and the total.
  template <class Take>
  bool parse_value_list(std::size_t set_limit, std::string_view set_setting, Take&& take) {
    for (std::size_t in_set = 1;; ++in_set) {
      skip_spaces();
      const auto where = pos_;
      literal lit;
      if (!parse_value(lit) || !count_value(where, in_set, set_limit, set_setting) ||
          !take(std::move(lit), where))
        return false;
      if (!at(','))
        return true;
      ++pos_;
    }
  }

  bool parse_values(node& out) {
    const bool regex = out.op == cmp_op::re || out.op == cmp_op::not_re;
    const auto take = [&](literal lit, std::size_t where) {
      if (regex && !compile_regex(where, lit.text, out))
        return false;
      out.values.push_back(std::move(lit));
      return true;
    };
    if (!parse_value_list(bounds_.max_set_values, "max_set_values", take))
      return false;
    if (is_ordering(out.op) && out.values.size() != 1)
      return fail(pos_, "an ordering operator takes exactly one value", "one value");
    return true;
  }

  bool compile_regex(std::size_t where, const std::string& pattern, node& out) {
    if (++counts_.regexes > bounds_.max_regexes)
      return too_complex(where, "max_regexes", bounds_.max_regexes, "too many regexes");
    if (pattern.size() > bounds_.max_regex_length)
      return too_complex(where, "max_regex_length", bounds_.max_regex_length,
                         "the regex is too long");
    auto re = shared_regex(pattern, static_cast<std::int64_t>(bounds_.regex_max_mem));
    if (!re->ok()) {
      if (re->error_code() == RE2::ErrorPatternTooLarge)
        return too_complex(where, "regex_max_mem", bounds_.regex_max_mem,
                           "the regex needs too much memory");
      return fail(where, "RE2: " + re->error(), "a regular expression");
    }
    if (static_cast<std::size_t>(re->ProgramSize()) > bounds_.max_regex_program_size)
      return too_complex(where, "max_regex_program_size", bounds_.max_regex_program_size,
                         "the regex is too large");
    out.res.push_back(std::move(re));
    return true;
  }

  bool parse_ranges(node& out) {
    return parse_value_list(
        bounds_.max_cidr_ranges, "max_cidr_ranges", [&](literal lit, std::size_t where) {
          cidr_range range;
          if (!parse_cidr(lit.text, range))
            return fail(where, "'" + lit.text + "' is not an IP address or CIDR range",
                        "a CIDR range");
          out.ranges.push_back(range);
          out.range_texts.push_back(std::move(lit.text));
          return true;
        });
  }

  std::string_view text_;
  std::size_t clause_;
  const limits& bounds_;
  parse_counts& counts_;
  std::vector<path>& paths_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  std::optional<compile_error> error_;
};

}  // namespace

std::size_t regexes_alive() {
  auto& cache = regexes();
  std::lock_guard lock(cache.mutex);
  return static_cast<std::size_t>(std::count_if(cache.by_key.begin(), cache.by_key.end(),
                                                [](const auto& e) { return !e.second.expired(); }));
}

bool parse_address(std::string_view text, cidr_range& out) noexcept {
  char buffer[64];  // longer than any address (INET6_ADDRSTRLEN is 46)
  if (text.size() >= sizeof buffer)
    return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  out = {};
  if (inet_pton(AF_INET, buffer, out.bytes.data()) == 1) {
    out.prefix = 32;
    return true;
  }
  out.v6 = true;
  out.prefix = 128;
  return inet_pton(AF_INET6, buffer, out.bytes.data()) == 1;
}

std::optional<compile_error> parse_clause(std::string_view clause, std::size_t clause_number,
                                          const limits& bounds, parse_counts& counts,
                                          std::vector<path>& paths, node& out) {
  return parser(clause, clause_number, bounds, counts, paths).run(out);
}

}  // namespace eventstreams::filter

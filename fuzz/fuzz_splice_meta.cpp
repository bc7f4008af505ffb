// Fuzzes splice_meta (the per-event JSON scanner and meta splice) against nlohmann::json:
// on ok the output is one line, parses as JSON and carries the requested meta fields; on
// not_object `out` is untouched. The input is the record value; topic, partition and offset
// are derived from its bytes.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "eventstreams/event_encoder.hpp"

namespace {

using eventstreams::splice_meta;
using eventstreams::splice_result;
using json = nlohmann::json;

[[noreturn]] void fail(const char* what, std::string_view value, std::string_view out) {
  std::fprintf(stderr, "invariant violated: %s\ninput:  %.*s\noutput: %.*s\n", what,
               static_cast<int>(value.size()), value.data(), static_cast<int>(out.size()),
               out.data());
  std::abort();
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : s) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return h;
}

// nlohmann refuses numbers beyond a double's range ("1e999"), which the grammar allows. This
// shrinks every number outside strings without changing validity: exponents keep their first
// digit, other digit runs at most 290 digits (a leading zero stays a leading zero).
std::string tame_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    }
    if (c < '0' || c > '9') {
      out.push_back(c);
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
      ++end;
    }
    std::size_t sign = out.size();
    if (sign > 0 && (out[sign - 1] == '+' || out[sign - 1] == '-')) {
      --sign;
    }
    const bool exponent = sign > 0 && (out[sign - 1] == 'e' || out[sign - 1] == 'E');
    out.append(text.substr(i, std::min<std::size_t>(end - i, exponent ? 1 : 290)));
    i = end - 1;
  }
  return out;
}

// Deepest nesting of '{'/'[' outside strings.
std::size_t nesting_depth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  // Topics need escaping sometimes; all are valid UTF-8, as Kafka topic names are ASCII.
  static constexpr std::string_view topics[] = {
      "eqiad.mediawiki.recentchange", "t", "", "quote\"back\\slash", "ctl\n\r\t\x01\x1f",
  };
  const std::uint64_t h = fnv1a(value);
  const std::string_view topic = topics[h % std::size(topics)];
  const auto partition = static_cast<std::int32_t>(static_cast<std::uint32_t>(h >> 8));
  std::int64_t offset = 0;
  std::memcpy(&offset, &h, sizeof offset);
  offset = (h & 0x100) != 0 ? offset : static_cast<std::int64_t>(h % 1000000);

  const std::string prefix = "data: ";
  std::string out = prefix;
  bool is_canary = true;
  const splice_result result = splice_meta(value, topic, partition, offset, out, &is_canary);

  if (result == splice_result::not_object) {
    if (out != prefix) {
      fail("not_object changed out", value, out);
    }
    if (is_canary) {
      fail("not_object left is_canary set", value, out);
    }
    // Differential the other way: a JSON object nlohmann takes must not be refused, except
    // for the documented limits (nesting deeper than 256), a UTF-8 BOM, which nlohmann skips
    // and RFC 8259 forbids senders to add, and a NUL byte, which nlohmann takes as the end.
    if (!value.starts_with("\xEF\xBB\xBF") && value.find('\0') == std::string_view::npos &&
        nesting_depth(value) <= 256) {
      const std::string tamed = tame_numbers(value);
      if (json::accept(tamed) && json::parse(tamed).is_object()) {
        fail("splice_meta refused a JSON object", value, out);
      }
    }
    return 0;
  }
  if (result != splice_result::ok) {
    fail("unknown splice_result", value, out);
  }
  if (!std::string_view(out).starts_with(prefix)) {
    fail("ok did not append to out", value, out);
  }
  const std::string_view spliced = std::string_view(out).substr(prefix.size());
  if (spliced.find_first_of("\r\n") != std::string_view::npos) {
    fail("output is not one line", value, out);
  }

  // A known, accepted divergence from nlohmann: the scanner lets lone UTF-16 surrogate escapes
  // through (the RFC 8259 grammar allows them), nlohmann refuses them. Anything else nlohmann
  // refuses is a bug.
  const auto parse = [&](std::string_view text, json& doc, const char* what) {
    try {
      doc = json::parse(tame_numbers(text));
      return true;
    } catch (const json::parse_error& e) {
      if (std::strstr(e.what(), "surrogate") != nullptr) {
        return false;
      }
      std::fprintf(stderr, "nlohmann: %s\n", e.what());
    } catch (const json::exception& e) {
      std::fprintf(stderr, "nlohmann: %s\n", e.what());
    }
    fail(what, value, out);
  };
  json doc;
  json input;
  if (!parse(spliced, doc, "splice_meta ok but the output is not JSON") ||
      !parse(value, input, "splice_meta accepted a value that is not JSON")) {
    return 0;
  }
  if (!input.is_object()) {
    fail("splice_meta accepted a value that is not a JSON object", value, out);
  }
  if (!doc.is_object() || !doc.contains("meta") || !doc["meta"].is_object()) {
    fail("output has no meta object", value, out);
  }
  const json& meta = doc["meta"];
  if (meta.value("topic", json()) != json(std::string(topic)) ||
      meta.value("partition", json()) != json(partition) ||
      meta.value("offset", json()) != json(offset)) {
    fail("meta.topic/partition/offset not as requested", value, out);
  }
  const bool canary = meta.contains("domain") && meta["domain"] == "canary";
  if (canary != is_canary) {
    fail("is_canary differs from meta.domain == \"canary\"", value, out);
  }
  // Everything but meta is kept.
  doc.erase("meta");
  input.erase("meta");
  if (doc != input) {
    fail("members other than meta changed", value, out);
  }
  return 0;
}

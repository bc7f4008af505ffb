// Record -> SSE bytes. The meta splice copies spans of the original text found by json_scanner;
// parsing into a DOM and serialising back would cost the whole per-event budget (PLATFORM.md).
#include "eventstreams/event_encoder.hpp"

#include <charconv>
#include <cstddef>

#include "json_scanner.hpp"

namespace eventstreams {
namespace {

// Copies a span of validated JSON. A raw CR or LF there can only be whitespace between tokens
// (strings cannot hold them), and it would split the `data:` line, so it becomes a space.
void append_span(std::string& out, std::string_view text, detail::json_span span,
                 bool has_line_break) {
  const std::size_t start = out.size();
  out.append(text.substr(span.begin, span.end - span.begin));
  if (has_line_break) {
    for (std::size_t i = start; i < out.size(); ++i) {
      if (out[i] == '\n' || out[i] == '\r') {
        out[i] = ' ';
      }
    }
  }
}

void append_meta_object(std::string& out, std::string_view text,
                        const detail::object_layout& layout, std::string_view topic,
                        std::int32_t partition, std::int64_t offset) {
  out.append(R"({"topic":)");
  append_json_string(out, topic);
  out.append(R"(,"partition":)");
  append_int(out, partition);
  out.append(R"(,"offset":)");
  append_int(out, offset);
  for (const detail::json_span& member : layout.kept_meta_members) {
    out.push_back(',');
    append_span(out, text, member, layout.has_line_break);
  }
  out.push_back('}');
}

}  // namespace

splice_result splice_meta(std::string_view value, std::string_view topic, std::int32_t partition,
                          std::int64_t offset, std::string& out, bool* is_canary) {
  // One per thread so that kept_meta_members keeps its capacity between events.
  thread_local detail::object_layout layout;
  if (is_canary != nullptr) {
    *is_canary = false;
  }
  if (!detail::scan_object(value, layout)) {
    return splice_result::not_object;
  }
  if (is_canary != nullptr) {
    *is_canary = layout.has_meta && layout.meta_is_object && layout.is_canary;
  }

  // One growth step for the whole event; the new meta head is well under 64 bytes + topic.
  out.reserve(out.size() + (layout.object.end - layout.object.begin) + topic.size() + 64);
  if (layout.has_meta) {
    append_span(out, value, {layout.object.begin, layout.meta_value.begin}, layout.has_line_break);
    append_meta_object(out, value, layout, topic, partition, offset);
    append_span(out, value, {layout.meta_value.end, layout.object.end}, layout.has_line_break);
  } else {
    out.append(R"({"meta":)");
    append_meta_object(out, value, layout, topic, partition, offset);
    if (layout.member_count == 0) {
      out.push_back('}');
    } else {
      out.push_back(',');
      // Everything after the opening brace, members and closing brace included.
      append_span(out, value, {layout.object.begin + 1, layout.object.end}, layout.has_line_break);
    }
  }
  return splice_result::ok;
}

void append_sse_event(std::string& out, std::string_view id, std::string_view data) {
  constexpr std::string_view head = "event: message\nid: ";
  constexpr std::string_view mid = "\ndata: ";
  out.reserve(out.size() + head.size() + id.size() + mid.size() + data.size() + 2);
  out.append(head);
  out.append(id);
  out.append(mid);
  out.append(data);
  out.append("\n\n");
}

void append_sse_id_block(std::string& out, std::string_view id) {
  out.append("id: ");
  out.append(id);
  out.append("\n\n");
}

void append_sse_gap_event(std::string& out, std::string_view id,
                          std::span<const gap_partition> partitions) {
  out.append("event: gap\nid: ");
  out.append(id);
  out.append("\ndata: {\"partitions\":[");
  bool first = true;
  for (const auto& p : partitions) {
    if (!first)
      out.push_back(',');
    first = false;
    append_topic_partition(out, p.topic, p.partition);
    out.append(R"(,"requested":)");
    append_int(out, p.requested);
    out.append(R"(,"resumed":)");
    append_int(out, p.resumed);
    out.append(R"(,"missing":)");
    append_int(out, p.missing);
    out.append(R"(,"reason":)");
    append_json_string(out, p.reason);
    out.push_back('}');
  }
  out.append("]}\n\n");
}

void append_ndjson_line(std::string& out, std::string_view data) {
  out.reserve(out.size() + data.size() + 1);
  out.append(data);
  out.push_back('\n');
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(s.substr(run, i - run));
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
        break;
    }
  }
  out.append(s.substr(run));
  out.push_back('"');
}

void append_topic_partition(std::string& out, std::string_view topic, std::int32_t partition) {
  out.append(R"({"topic":)");
  append_json_string(out, topic);
  out.append(R"(,"partition":)");
  append_int(out, partition);
}

}  // namespace eventstreams

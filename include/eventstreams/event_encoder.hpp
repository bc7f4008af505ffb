// Record -> SSE bytes: the `meta` splice, the event frame and the NDJSON line (API.md §5.2).
#pragma once

#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace eventstreams {

enum class splice_result {
  ok,          // `out` holds the object with meta.topic/partition/offset set
  not_object,  // the value is not one valid JSON object (records like this are skipped)
};

// Validates `value` as one JSON object (RFC 8259; surrounding whitespace allowed) and appends
// to `out` the same object, on one line, with a top-level "meta" object whose "topic",
// "partition" and "offset" members are set to the given values: existing members of those
// names are removed and the three are written first in meta; other members keep their text.
// A missing meta is added as the first member of the object; a meta that is not an object is
// replaced. Raw CR/LF whitespace between tokens becomes a space so the result fits one
// `data:` line. On not_object, `out` is left as it was. Never throws; no allocation besides
// growing `out`. `is_canary` (may be null) is set to whether meta.domain == "canary".
splice_result splice_meta(std::string_view value, std::string_view topic, std::int32_t partition,
                          std::int64_t offset, std::string& out, bool* is_canary = nullptr);

// Appends "event: message\nid: <id>\ndata: <data>\n\n".
void append_sse_event(std::string& out, std::string_view id, std::string_view data);
// Appends "id: <id>\n\n": a block that moves an EventSource's last event id without firing
// an event (docs/api.md §5.1).
void append_sse_id_block(std::string& out, std::string_view id);
// One partition of a gap event (docs/api.md §5.4).
struct gap_partition {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t requested = 0;
  std::int64_t resumed = 0;
  std::int64_t missing = 0;
  std::string_view reason;  // "retention", "reset" or "unknown"
};
// Appends "event: gap\nid: <id>\ndata: {"partitions":[{"topic":…,"partition":…,"requested":…,
// "resumed":…,"missing":…,"reason":…},…]}\n\n", the partitions in the order given. An
// EventSource fires it only for addEventListener("gap"), never for onmessage.
void append_sse_gap_event(std::string& out, std::string_view id,
                          std::span<const gap_partition> partitions);
// Appends "<data>\n" (NDJSON).
void append_ndjson_line(std::string& out, std::string_view data);

// Appends the decimal digits of `v`.
template <class Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// Appends `s` as a JSON string literal (with quotes), escaping as RFC 8259 requires.
void append_json_string(std::string& out, std::string_view s);

// Appends `{"topic":"<topic>","partition":<partition>` (an open object): the start of an id
// entry and of a gap entry (docs/api.md §5.2, "Gaps").
void append_topic_partition(std::string& out, std::string_view topic, std::int32_t partition);

}  // namespace eventstreams

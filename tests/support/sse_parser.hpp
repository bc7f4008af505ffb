// The one decoder of the tests' and the benchmark's SSE clients: an HTTP/1.x response decoded as
// its bytes arrive (the header; the body's framing: chunked, strictly, Content-Length, or until
// the connection ends), and the body as Server-Sent Events, block by block, by EventSource's
// rules. sse_client (blocking, one connection) keeps every byte for tests that check exact
// responses; sse_client_pool (many connections on one thread) keeps nothing but its counters.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstreams::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_head {
  unsigned version = 0;  // 10 or 11
  int status = 0;
  std::string reason;
  header_list fields;  // in received order, names as received
  // First value of `name` (case-insensitive), if present.
  std::optional<std::string> get(std::string_view name) const;
  std::size_t count(std::string_view name) const;
};

class sse_parser {
 public:
  // One block of SSE fields, ended by a blank line; the views are valid during the callback.
  struct block {
    std::string_view type;  // the `event:` field, "" if absent
    std::string_view id;    // the `id:` field
    bool has_id = false;
    std::string_view data;  // `data:` lines joined with '\n'
    bool has_data = false;  // a block without data fires no event (an id-only block)
    // The `retry:` field, when it is all digits (EventSource ignores any other), in ms.
    std::optional<std::int64_t> retry;
  };
  struct callbacks {
    std::function<void(const block&)> on_block;        // every block with at least one known field
    std::function<void(std::string_view)> on_comment;  // a line starting with ':', without it
  };

  // `method`: a response to HEAD has no body. `keep`: keep every byte received (raw()) and the
  // whole decoded body (body()); otherwise only what is not parsed yet.
  explicit sse_parser(std::string_view method = "GET", bool keep = true);
  void set_callbacks(callbacks cb) { cb_ = std::move(cb); }
  // Count mode, for load clients that only count events on most of their connections: the body
  // is split into lines and blocks without being kept or copied. Callbacks get every block with
  // its type, has_id, has_data and retry but `id` and `data` empty, and comments cut to their
  // first 64 bytes. Set before the body arrives; `keep` must be false.
  void set_count_only(bool on) { count_only_ = on; }

  // Decodes `n` more bytes of the response.
  void feed(const char* data, std::size_t n);

  bool head_complete() const noexcept { return head_.has_value(); }
  const http_head& head() const;                                     // requires head_complete()
  std::size_t head_size() const noexcept { return head_size_; }      // bytes of the header
  const std::string& raw() const noexcept { return raw_; }           // every byte (keep)
  const std::string& body() const noexcept { return body_; }         // decoded body (keep)
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }  // decoded so far
  bool chunked() const noexcept { return framing_ == framing::chunked; }
  bool terminator_received() const noexcept { return chunk_state_ == chunk_state::done; }
  // The body is known to be whole (`eof`: the connection ended).
  bool complete(bool eof) const noexcept;
  const std::string& protocol_error() const noexcept { return protocol_error_; }
  // Whether the body so far ends inside an SSE block (a field or line without its blank line):
  // a stream cut in the middle of an event.
  bool inside_block() const noexcept {
    return has_field_ || sse_pos_ < body_.size() || counted_line_size_ > 0;
  }

 private:
  enum class framing { unknown, none, length, chunked, close };
  enum class chunk_state { size_line, data, data_crlf, trailer, done };
  void parse_head(std::size_t end);
  void decode_body(const char* p, std::size_t n);
  void parse_sse();
  void count_sse(const char* p, std::size_t n);
  // One line of the body without its end of line. `whole`: false when count mode kept only its
  // start (the `id` and `data` values are not kept then, nor a `retry` that is cut).
  void sse_line(std::string_view line, bool whole);
  void error(std::string what);

  std::string method_;
  bool keep_;
  callbacks cb_;
  std::string raw_;  // keep: every byte; otherwise the header until it is complete
  std::size_t head_size_ = 0;
  std::optional<http_head> head_;
  framing framing_ = framing::unknown;
  std::uint64_t content_length_ = 0;
  chunk_state chunk_state_ = chunk_state::size_line;
  std::string line_;  // a chunk-size or trailer line being received
  std::uint64_t chunk_left_ = 0;
  std::size_t crlf_left_ = 0;  // bytes of the CRLF after a chunk's data still to come
  std::string body_;
  std::uint64_t body_bytes_ = 0;
  std::size_t sse_pos_ = 0;  // next unparsed byte in body_
  // The block being read (kept across feeds; its capacity is reused).
  std::string type_, id_, data_;
  std::optional<std::int64_t> retry_;
  bool has_field_ = false, has_id_ = false, has_data_ = false;
  std::string protocol_error_;
  // Count mode: the start of the line being received, and its size so far.
  bool count_only_ = false;
  std::string counted_line_;
  std::size_t counted_line_size_ = 0;
};

}  // namespace eventstreams::test

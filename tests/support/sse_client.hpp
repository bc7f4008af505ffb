// A blocking HTTP/1.1 client for integration tests, over a plain TCP socket (Boost.Asio), with a
// deadline on every operation. It keeps every received byte, decodes chunked transfer encoding
// strictly, and parses the body as Server-Sent Events (and as lines, for NDJSON) as it arrives.
// Tests wait with read_until(predicate, timeout): never with sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstreams::test {

using header_list = std::vector<std::pair<std::string, std::string>>;
using namespace std::chrono_literals;

struct sse_event {
  std::string type;  // the `event:` field, "" if absent
  std::string id;    // the `id:` field
  bool has_id = false;
  std::string data;  // `data:` lines joined with '\n'
};

struct http_head {
  unsigned version = 0;  // 10 or 11
  int status = 0;
  std::string reason;
  header_list fields;  // in received order, names as received
  // First value of `name` (case-insensitive), if present.
  std::optional<std::string> get(std::string_view name) const;
  std::size_t count(std::string_view name) const;
};

class sse_client {
 public:
  // Connects to 127.0.0.1:port. Throws std::runtime_error on failure or timeout.
  explicit sse_client(std::uint16_t port, std::chrono::milliseconds timeout = 5s);
  ~sse_client();
  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  // Writes "METHOD TARGET HTTP/1.x", Host, the given headers, and an empty line.
  void send_request(std::string_view method, std::string_view target,
                    const header_list& headers = {}, unsigned version = 11);
  void send_raw(std::string_view bytes);

  // Reads until the response header is complete; false on timeout or end of connection.
  bool read_head(std::chrono::milliseconds timeout = 10s);
  // Reads until `done(*this)` holds, the connection ends, or `timeout` passes; returns done().
  bool read_until(const std::function<bool(const sse_client&)>& done,
                  std::chrono::milliseconds timeout = 10s);
  bool read_events(std::size_t count, std::chrono::milliseconds timeout = 10s);
  // Until the body is complete (chunked terminator, Content-Length, or EOF when close-framed).
  bool read_to_end(std::chrono::milliseconds timeout = 10s);
  // Until the server closes the connection.
  bool read_to_eof(std::chrono::milliseconds timeout = 10s);

  bool head_complete() const noexcept { return head_.has_value(); }
  const http_head& head() const;                                 // requires head_complete()
  std::size_t head_size() const noexcept { return head_size_; }  // bytes of the header
  const std::string& raw() const noexcept { return raw_; }       // every byte received
  const std::string& body() const noexcept { return body_; }     // decoded body so far
  const std::vector<sse_event>& events() const noexcept { return events_; }
  const std::vector<std::string>& comments() const noexcept { return comments_; }
  std::vector<std::string> lines() const;  // complete '\n'-terminated body lines
  bool chunked() const noexcept { return framing_ == framing::chunked; }
  bool complete() const noexcept;  // the body is known to be whole
  bool terminator_received() const noexcept { return chunk_state_ == chunk_state::done; }
  bool eof() const noexcept { return eof_; }
  const std::string& protocol_error() const noexcept { return protocol_error_; }
  const std::string& socket_error() const noexcept { return socket_error_; }

  // Closes the socket (the server sees EOF or a reset).
  void close();

 private:
  enum class framing { unknown, none, length, chunked, close };
  enum class chunk_state { size_line, data, data_crlf, trailer, done };
  // One read with a deadline; false on timeout or when the connection already ended.
  bool read_some(std::chrono::steady_clock::time_point deadline);
  void feed(const char* data, std::size_t n);
  void parse_head();
  void decode_body();
  void parse_sse();

  struct io;
  std::unique_ptr<io> io_;
  std::string method_;
  std::string raw_;
  std::size_t head_size_ = 0;
  std::optional<http_head> head_;
  framing framing_ = framing::unknown;
  std::uint64_t content_length_ = 0;
  std::size_t body_pos_ = 0;  // next undecoded byte in raw_
  chunk_state chunk_state_ = chunk_state::size_line;
  std::uint64_t chunk_left_ = 0;
  std::string body_;
  std::size_t sse_pos_ = 0;  // next unparsed byte in body_
  sse_event current_;
  bool current_has_field_ = false;
  bool current_has_data_ = false;
  std::vector<sse_event> events_;
  std::vector<std::string> comments_;
  bool eof_ = false;
  std::string protocol_error_;
  std::string socket_error_;
};

struct http_result {
  http_head head;
  std::string body;
  bool complete = false;
};

// One request on a fresh connection ("Connection: close"); reads the whole response. On a
// failure the result has status 0 and a gtest failure is added.
http_result http_get(std::uint16_t port, std::string_view target, const header_list& headers = {},
                     std::string_view method = "GET", std::chrono::milliseconds timeout = 10s);

}  // namespace eventstreams::test

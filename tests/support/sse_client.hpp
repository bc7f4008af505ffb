// A blocking HTTP/1.1 client for integration tests, over a plain TCP socket (Boost.Asio), with a
// deadline on every operation. It keeps every received byte, decodes chunked transfer encoding
// strictly, and parses the body as Server-Sent Events (and as lines, for NDJSON) as it arrives,
// with the decoder the benchmark's many-connection client uses too (sse_parser.hpp).
// Tests wait with read_until(predicate, timeout): never with sleeps.
//
// The default timeouts bound one step that takes milliseconds (connecting, a response header,
// events produced and flushed reaching a connected client): 5-10 s are over 100 times that on a
// loaded 2-core machine with a sanitizer build, and a wait returns as soon as its condition
// holds, so they only end a test that already failed.
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

#include "sse_parser.hpp"  // http_head, header_list

namespace eventstreams::test {

using namespace std::chrono_literals;

struct sse_event {
  std::string type;  // the `event:` field, "" if absent
  std::string id;    // the `id:` field
  bool has_id = false;
  std::string data;  // `data:` lines joined with '\n'
};

class sse_client {
 public:
  // Connects to 127.0.0.1:port. Throws std::runtime_error on failure or timeout. `rcvbuf`:
  // SO_RCVBUF set before connecting (0: the system's default); a small one makes a client that
  // does not read fill its window after a few KB.
  explicit sse_client(std::uint16_t port, std::chrono::milliseconds timeout = 5s, int rcvbuf = 0);
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

  bool head_complete() const noexcept { return parser_.head_complete(); }
  const http_head& head() const { return parser_.head(); }  // requires head_complete()
  std::size_t head_size() const noexcept { return parser_.head_size(); }  // bytes of the header
  const std::string& raw() const noexcept { return parser_.raw(); }       // every byte received
  const std::string& body() const noexcept { return parser_.body(); }     // decoded body so far
  const std::vector<sse_event>& events() const noexcept { return events_; }
  const std::vector<std::string>& comments() const noexcept { return comments_; }
  // The ids of the blocks that carried an id but no data (they fire no event), in order.
  const std::vector<std::string>& id_blocks() const noexcept { return id_blocks_; }
  // The values of the `retry:` fields received (ms), in order.
  const std::vector<std::int64_t>& retries() const noexcept { return retries_; }
  // The last id received, from an event or an id-only block ("" if none yet): what an
  // EventSource would send back as Last-Event-ID.
  const std::string& last_id() const noexcept { return last_id_; }
  std::vector<std::string> lines() const;  // complete '\n'-terminated body lines
  bool chunked() const noexcept { return parser_.chunked(); }
  bool complete() const noexcept { return parser_.complete(eof_); }  // the body is whole
  bool terminator_received() const noexcept { return parser_.terminator_received(); }
  bool eof() const noexcept { return eof_; }
  const std::string& protocol_error() const noexcept { return parser_.protocol_error(); }
  const std::string& socket_error() const noexcept { return socket_error_; }

  // The connection's local port (the daemon's peer port), e.g. for tcp_socket_memory().
  std::uint16_t local_port() const;
  // Closes the socket (the server sees EOF or a reset).
  void close();
  // Resets the connection (SO_LINGER 0): the server sees ECONNRESET, as from a client killed
  // with bytes unread.
  void reset();

 private:
  // One read with a deadline; false on timeout or when the connection already ended.
  bool read_some(std::chrono::steady_clock::time_point deadline);
  // A fresh decoder for the response to `method`, its blocks and comments kept here.
  void reset_parser(std::string_view method);

  struct io;
  std::unique_ptr<io> io_;
  sse_parser parser_;
  std::vector<sse_event> events_;
  std::vector<std::string> comments_;
  std::vector<std::string> id_blocks_;
  std::vector<std::int64_t> retries_;
  std::string last_id_;
  bool eof_ = false;
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

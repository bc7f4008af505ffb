// The harness of the session tests: a loopback TCP pair whose server end a session writes to,
// the test thread running the I/O loop, the client's bytes collected and de-chunked, and a fake
// event source (fake_source.hpp). No broker.
#pragma once

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fake_source.hpp"
#include "sse/sse_session.hpp"

namespace eventstreams::test {

using namespace std::chrono_literals;

// The response header the tests hand the session: its first bytes on the wire.
inline constexpr const char* header = "HTTP/1.1 200 OK\r\nX-Test: 1\r\n\r\n";

// The body of a chunked response: the chunks' data, and whether the final chunk came.
struct dechunked {
  std::string data;
  bool complete = false;
  bool valid = true;
};

inline dechunked dechunk(std::string_view raw) {
  dechunked out;
  while (!raw.empty()) {
    auto eol = raw.find("\r\n");
    if (eol == std::string_view::npos)
      return out;  // a chunk header still on its way
    std::size_t size = 0;
    auto hex = raw.substr(0, eol);
    if (hex.empty() || std::from_chars(hex.data(), hex.data() + hex.size(), size, 16).ptr !=
                           hex.data() + hex.size()) {
      out.valid = false;
      return out;
    }
    if (size == 0) {
      out.complete = raw.substr(eol) == "\r\n\r\n";
      out.valid = out.complete || raw.size() < eol + 4;
      return out;
    }
    if (raw.size() < eol + 2 + size + 2)
      return out;  // the rest of the chunk is on its way
    out.data += raw.substr(eol + 2, size);
    if (raw.substr(eol + 2 + size, 2) != "\r\n") {
      out.valid = false;
      return out;
    }
    raw.remove_prefix(eol + 2 + size + 2);
  }
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    ctx_.blocking = &pool_;
    ctx_.cfg.server.heartbeat_interval = 0ms;  // off unless a test turns it on
  }
  ~SessionTest() override {
    // Let a session that is still open close, so that its source is retired before the pool.
    if (auto s = session_.lock())
      s->end("test over");
    client_.close();
    run_for(50ms);
    pool_.join();
  }

  // A connected loopback pair; `small_buffers` shrinks the kernel's socket buffers so that a
  // client that does not read fills them after a few KB.
  void connect(bool small_buffers = false) {
    tcp::acceptor acceptor(ioc_, {net::ip::make_address("127.0.0.1"), 0});
    client_.open(tcp::v4());
    if (small_buffers)
      client_.set_option(net::socket_base::receive_buffer_size(4096));
    client_.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept(net::make_strand(ioc_));
    if (small_buffers)
      server.set_option(net::socket_base::send_buffer_size(4096));
    client_.non_blocking(true);
    server_.emplace(std::move(server));
  }

  // Starts a session on the server end, reading `source_` (two partitions: a/0 at 5, b/0 at 7;
  // canaries pass in b only).
  // `end_first`: a server end (with a 250 ms retry) reaches the session before its start does,
  // as the drain can between a hand-over and the start (docs/api.md §5.5).
  void start(framing body = framing::sse, bool end_first = false) {
    if (!server_)
      connect();
    stream_request req;
    req.client = "127.0.0.1:1";
    req.method = "GET";
    req.target = "/v2/stream/s";
    req.body = body;
    req.selection.stream_names = {"s"};
    req.opened = std::chrono::steady_clock::now();
    auto source = std::make_unique<fake_source>(src_);
    auto ex = server_->get_executor();
    EXPECT_EQ(source->attach(ex), std::nullopt);
    position_vector positions({{"a", 0, 5, std::nullopt}, {"b", 0, 7, std::nullopt}});
    auto& counter = ctx_.metrics.events_sent("s");
    auto session = std::make_shared<sse_session>(
        std::move(*server_),
        opened_stream{std::move(req),
                      header,
                      stream_format(body, std::move(positions), {false, true}),
                      {&counter, &counter},
                      std::move(source)},
        ctx_);
    server_.reset();
    session_ = session;
    if (end_first) {
      // Both on the session's own executor, the end first (as stream_opener's hand-over does).
      session->end("server shutdown", std::chrono::milliseconds(250));
      net::post(session->executor(), [session] { session->start(); });
      return;
    }
    net::post(ex, [session] { session->start(); });
  }

  // Runs the I/O loop for `d`, reading what the client received when `read` is set.
  void run_for(std::chrono::milliseconds d, bool read = true) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();
      ioc_.run_for(2ms);
      if (read)
        read_available();
    }
  }
  // Runs the I/O loop until `pred` holds (false after `timeout`), reading when `read` is set.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s,
                 bool read = true) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      run_for(2ms, read);
    }
    return true;
  }
  void read_available() {
    if (eof_ || !client_.is_open())
      return;
    char buf[65536];
    for (;;) {
      beast::error_code ec;
      std::size_t n = client_.read_some(net::buffer(buf), ec);
      received_.append(buf, n);
      if (ec == net::error::eof) {
        eof_ = true;
        return;
      }
      if (ec)
        return;  // would_block
    }
  }
  // What came after the response header.
  std::string_view raw_body() const {
    std::string_view r(received_);
    return r.starts_with(header) ? r.substr(std::string_view(header).size()) : std::string_view{};
  }
  dechunked body() const { return dechunk(raw_body()); }

  static std::size_t count(std::string_view s, std::string_view what) {
    std::size_t n = 0;
    for (auto pos = s.find(what); pos != std::string_view::npos; pos = s.find(what, pos + 1))
      ++n;
    return n;
  }

  // The pool and the context outlive the I/O loop: a session still queued there at the end
  // retires its source when the loop is destroyed.
  net::thread_pool pool_{1};
  server_context ctx_;
  net::io_context ioc_;
  tcp::socket client_{ioc_};
  std::optional<beast::tcp_stream> server_;
  std::shared_ptr<fake_source::state> src_ = std::make_shared<fake_source::state>();
  std::weak_ptr<sse_session> session_;
  std::string received_;
  bool eof_ = false;
};

}  // namespace eventstreams::test

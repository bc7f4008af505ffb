// Blocking HTTP/1.1 + SSE client with deadlines.
#include "sse_client.hpp"

#include "net/net.hpp"  // <utility> before Asio (PLATFORM.md)

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

namespace eventstreams::test {

struct sse_client::io {
  net::io_context ioc;
  tcp::socket socket{ioc};
  std::array<char, 64 * 1024> buffer{};
};

sse_client::sse_client(std::uint16_t port, std::chrono::milliseconds timeout, int rcvbuf)
    : io_(std::make_unique<io>()) {
  reset_parser("GET");
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  if (rcvbuf > 0) {
    io_->socket.open(tcp::v4());
    io_->socket.set_option(net::socket_base::receive_buffer_size(rcvbuf));
  }
  beast::error_code ec = net::error::would_block;
  bool done = false;
  io_->socket.async_connect(ep, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  io_->ioc.run_for(timeout);
  if (!done) {
    io_->socket.close();
    io_->ioc.restart();
    io_->ioc.run();
    throw std::runtime_error("connect to port " + std::to_string(port) + " timed out");
  }
  if (ec)
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
}

sse_client::~sse_client() = default;

void sse_client::reset_parser(std::string_view method) {
  parser_ = sse_parser(method, /*keep=*/true);
  sse_parser::callbacks cb;
  cb.on_block = [this](const sse_parser::block& b) {
    // As EventSource does: a block without data fires no event, but its id still becomes the
    // last event id (docs/api.md §5.1: the id-only blocks).
    if (b.has_id)
      last_id_ = std::string(b.id);
    if (b.retry)
      retries_.push_back(*b.retry);
    if (!b.has_data && b.has_id)
      id_blocks_.emplace_back(b.id);
    else if (b.has_data || !b.type.empty() || !b.retry)  // a retry-only block is no event
      events_.push_back({std::string(b.type), std::string(b.id), b.has_id, std::string(b.data)});
  };
  cb.on_comment = [this](std::string_view text) { comments_.emplace_back(text); };
  parser_.set_callbacks(std::move(cb));
}

void sse_client::send_request(std::string_view method, std::string_view target,
                              const header_list& headers, unsigned version) {
  reset_parser(method);
  std::string req;
  req.append(method).append(" ").append(target);
  req.append(version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  req.append("Host: 127.0.0.1\r\n");
  for (const auto& [name, value] : headers)
    req.append(name).append(": ").append(value).append("\r\n");
  req.append("\r\n");
  send_raw(req);
}

void sse_client::send_raw(std::string_view bytes) {
  beast::error_code ec;
  net::write(io_->socket, net::buffer(bytes.data(), bytes.size()), ec);
  if (ec)
    throw std::runtime_error("write: " + ec.message());
}

bool sse_client::read_some(std::chrono::steady_clock::time_point deadline) {
  if (eof_ || !io_->socket.is_open())
    return false;
  beast::error_code ec;
  std::size_t n = 0;
  bool done = false;
  io_->socket.async_read_some(net::buffer(io_->buffer), [&](beast::error_code e, std::size_t k) {
    ec = e;
    n = k;
    done = true;
  });
  io_->ioc.restart();
  io_->ioc.run_until(deadline);
  if (!done) {
    io_->socket.cancel();
    io_->ioc.restart();
    io_->ioc.run();  // the handler runs, with operation_aborted unless data won the race
  }
  if (ec == net::error::operation_aborted)
    return false;
  if (n > 0) {
    parser_.feed(io_->buffer.data(), n);
    if (!parser_.head_complete() && !parser_.protocol_error().empty())
      eof_ = true;  // not an HTTP response: nothing more to read
  }
  if (ec) {
    eof_ = true;
    if (ec != net::error::eof)
      socket_error_ = ec.message();
  }
  return true;
}

std::vector<std::string> sse_client::lines() const {
  std::vector<std::string> out;
  const std::string& body = parser_.body();
  std::size_t pos = 0;
  while (true) {
    auto nl = body.find('\n', pos);
    if (nl == std::string::npos)
      break;
    out.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

bool sse_client::read_head(std::chrono::milliseconds timeout) {
  return read_until([](const sse_client& c) { return c.head_complete(); }, timeout);
}

bool sse_client::read_until(const std::function<bool(const sse_client&)>& done,
                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(*this)) {
    if (!read_some(deadline))
      return done(*this);
  }
  return true;
}

bool sse_client::read_events(std::size_t count, std::chrono::milliseconds timeout) {
  return read_until([count](const sse_client& c) { return c.events().size() >= count; }, timeout);
}

bool sse_client::read_to_end(std::chrono::milliseconds timeout) {
  return read_until([](const sse_client& c) { return c.head_complete() && c.complete(); }, timeout);
}

bool sse_client::read_to_eof(std::chrono::milliseconds timeout) {
  return read_until([](const sse_client& c) { return c.eof(); }, timeout);
}

std::uint16_t sse_client::local_port() const {
  beast::error_code ec;
  auto ep = io_->socket.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void sse_client::close() {
  beast::error_code ec;
  io_->socket.close(ec);
}

void sse_client::reset() {
  beast::error_code ec;
  io_->socket.set_option(net::socket_base::linger(true, 0), ec);
  io_->socket.close(ec);
}

http_result http_get(std::uint16_t port, std::string_view target, const header_list& headers,
                     std::string_view method, std::chrono::milliseconds timeout) {
  http_result result;
  try {
    sse_client c(port, timeout);
    header_list h = headers;
    h.emplace_back("Connection", "close");
    c.send_request(method, target, h);
    result.complete = c.read_to_end(timeout);
    if (!c.head_complete()) {
      ADD_FAILURE() << method << " " << target << ": no response header; got: " << c.raw();
      return result;
    }
    if (!c.protocol_error().empty()) {
      ADD_FAILURE() << method << " " << target << ": " << c.protocol_error();
    }
    result.head = c.head();
    result.body = c.body();
  } catch (const std::exception& e) {
    ADD_FAILURE() << method << " " << target << ": " << e.what();
  }
  return result;
}

}  // namespace eventstreams::test

// Blocking HTTP/1.1 + SSE client with deadlines.
#include "sse_client.hpp"

#include "http/net.hpp"  // <utility> before Asio (PLATFORM.md)

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

namespace eventstreams::test {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::optional<std::string> http_head::get(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name))
      return v;
  }
  return std::nullopt;
}

std::size_t http_head::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      fields.begin(), fields.end(), [&](const auto& f) { return iequals(f.first, name); }));
}

struct sse_client::io {
  net::io_context ioc;
  tcp::socket socket{ioc};
  std::array<char, 64 * 1024> buffer{};
};

sse_client::sse_client(std::uint16_t port, std::chrono::milliseconds timeout)
    : io_(std::make_unique<io>()) {
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
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

void sse_client::send_request(std::string_view method, std::string_view target,
                              const header_list& headers, unsigned version) {
  method_ = std::string(method);
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

const http_head& sse_client::head() const {
  if (!head_)
    throw std::logic_error("sse_client::head(): no complete response header");
  return *head_;
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
  if (n > 0)
    feed(io_->buffer.data(), n);
  if (ec) {
    eof_ = true;
    if (ec != net::error::eof)
      socket_error_ = ec.message();
  }
  return true;
}

void sse_client::feed(const char* data, std::size_t n) {
  raw_.append(data, n);
  if (!head_)
    parse_head();
  if (head_)
    decode_body();
}

void sse_client::parse_head() {
  auto end = raw_.find("\r\n\r\n");
  if (end == std::string::npos)
    return;
  http_head h;
  std::string_view text(raw_.data(), end);
  auto line_end = text.find("\r\n");
  std::string_view status_line = text.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) {
    protocol_error_ = "bad status line: " + std::string(status_line);
    eof_ = true;
    return;
  }
  h.version = status_line[7] == '0' ? 10 : 11;
  h.status = std::stoi(std::string(status_line.substr(9, 3)));
  h.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : "";
  std::size_t pos = line_end == std::string_view::npos ? text.size() : line_end + 2;
  while (pos < text.size()) {
    auto next = text.find("\r\n", pos);
    std::string_view line = text.substr(pos, next == std::string_view::npos ? next : next - pos);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      protocol_error_ = "bad header line: " + std::string(line);
    } else {
      h.fields.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    if (next == std::string_view::npos)
      break;
    pos = next + 2;
  }
  head_size_ = end + 4;
  body_pos_ = head_size_;
  auto te = h.get("Transfer-Encoding");
  auto cl = h.get("Content-Length");
  if (method_ == "HEAD" || h.status / 100 == 1 || h.status == 204 || h.status == 304) {
    framing_ = framing::none;
  } else if (te && te->find("chunked") != std::string::npos) {
    framing_ = framing::chunked;
  } else if (cl) {
    framing_ = framing::length;
    content_length_ = std::stoull(*cl);
  } else {
    framing_ = framing::close;
  }
  head_ = std::move(h);
}

void sse_client::decode_body() {
  const std::size_t before = body_.size();
  switch (framing_) {
    case framing::none:
    case framing::unknown:
      if (body_pos_ < raw_.size()) {
        protocol_error_ = "unexpected bytes after a body-less response: " + raw_.substr(body_pos_);
      }
      break;
    case framing::length:
    case framing::close:
      body_.append(raw_, body_pos_, std::string::npos);
      body_pos_ = raw_.size();
      if (framing_ == framing::length && body_.size() > content_length_) {
        protocol_error_ = "more body bytes than Content-Length";
      }
      break;
    case framing::chunked:
      while (body_pos_ < raw_.size() && protocol_error_.empty()) {
        if (chunk_state_ == chunk_state::size_line || chunk_state_ == chunk_state::trailer) {
          auto nl = raw_.find("\r\n", body_pos_);
          if (nl == std::string::npos)
            break;
          std::string line = raw_.substr(body_pos_, nl - body_pos_);
          body_pos_ = nl + 2;
          if (chunk_state_ == chunk_state::trailer) {
            if (line.empty())
              chunk_state_ = chunk_state::done;
            continue;
          }
          auto semi = line.find(';');
          std::string hex = line.substr(0, semi);
          if (hex.empty() || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            protocol_error_ = "bad chunk size line: " + line;
            break;
          }
          chunk_left_ = std::stoull(hex, nullptr, 16);
          chunk_state_ = chunk_left_ == 0 ? chunk_state::trailer : chunk_state::data;
        } else if (chunk_state_ == chunk_state::data) {
          auto take = std::min<std::uint64_t>(chunk_left_, raw_.size() - body_pos_);
          body_.append(raw_, body_pos_, take);
          body_pos_ += take;
          chunk_left_ -= take;
          if (chunk_left_ == 0)
            chunk_state_ = chunk_state::data_crlf;
        } else if (chunk_state_ == chunk_state::data_crlf) {
          if (raw_.size() - body_pos_ < 2)
            break;
          if (raw_.compare(body_pos_, 2, "\r\n") != 0) {
            protocol_error_ = "chunk data not followed by CRLF";
            break;
          }
          body_pos_ += 2;
          chunk_state_ = chunk_state::size_line;
        } else {  // done
          protocol_error_ = "bytes after the last chunk: " + raw_.substr(body_pos_);
          break;
        }
      }
      break;
  }
  if (body_.size() != before)
    parse_sse();
}

void sse_client::parse_sse() {
  while (true) {
    auto nl = body_.find('\n', sse_pos_);
    if (nl == std::string::npos)
      return;
    std::string_view line(body_.data() + sse_pos_, nl - sse_pos_);
    sse_pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty()) {
      if (current_has_field_)
        events_.push_back(std::move(current_));
      current_ = {};
      current_has_field_ = false;
      current_has_data_ = false;
      continue;
    }
    if (line.front() == ':') {
      comments_.emplace_back(line.substr(1));
      continue;
    }
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    }
    if (name == "event") {
      current_.type = std::string(value);
    } else if (name == "id") {
      current_.id = std::string(value);
      current_.has_id = true;
    } else if (name == "data") {
      if (current_has_data_)
        current_.data.push_back('\n');
      current_.data.append(value);
      current_has_data_ = true;
    } else {
      continue;  // unknown fields are ignored, as EventSource does
    }
    current_has_field_ = true;
  }
}

std::vector<std::string> sse_client::lines() const {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    auto nl = body_.find('\n', pos);
    if (nl == std::string::npos)
      break;
    out.push_back(body_.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

bool sse_client::complete() const noexcept {
  switch (framing_) {
    case framing::none:
      return true;
    case framing::length:
      return body_.size() >= content_length_;
    case framing::chunked:
      return chunk_state_ == chunk_state::done;
    case framing::close:
      return eof_;
    case framing::unknown:
      return false;
  }
  return false;
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

void sse_client::close() {
  beast::error_code ec;
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

// Incremental HTTP/1.x response and Server-Sent Events decoding.
#include "sse_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
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

// A chunk-size or trailer line longer than this is not HTTP a server would send.
constexpr std::size_t max_line = 4096;
// Count mode keeps this much of each line: enough for a field's name and a short value.
constexpr std::size_t counted_line_keep = 64;

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

sse_parser::sse_parser(std::string_view method, bool keep) : method_(method), keep_(keep) {}

const http_head& sse_parser::head() const {
  if (!head_)
    throw std::logic_error("sse_parser::head(): no complete response header");
  return *head_;
}

void sse_parser::error(std::string what) {
  if (protocol_error_.empty())
    protocol_error_ = std::move(what);
}

void sse_parser::feed(const char* data, std::size_t n) {
  if (head_) {
    if (keep_)
      raw_.append(data, n);
    decode_body(data, n);
    return;
  }
  const std::size_t before = raw_.size();
  raw_.append(data, n);
  auto end = raw_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  if (end == std::string::npos)
    return;
  parse_head(end);
  if (!head_)
    return;  // a protocol error
  if (keep_) {
    decode_body(raw_.data() + head_size_, raw_.size() - head_size_);  // body_ is another string
  } else {
    std::string rest = raw_.substr(head_size_);
    raw_.clear();
    decode_body(rest.data(), rest.size());
  }
}

void sse_parser::parse_head(std::size_t end) {
  http_head h;
  std::string_view text(raw_.data(), end);
  auto line_end = text.find("\r\n");
  std::string_view status_line = text.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) {
    error("bad status line: " + std::string(status_line));
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
      error("bad header line: " + std::string(line));
    } else {
      h.fields.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    if (next == std::string_view::npos)
      break;
    pos = next + 2;
  }
  head_size_ = end + 4;
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

void sse_parser::decode_body(const char* p, std::size_t n) {
  const std::uint64_t before = body_bytes_;
  auto append = [&](std::size_t take) {
    if (count_only_)
      count_sse(p, take);
    else
      body_.append(p, take);
    body_bytes_ += take;
    p += take;
    n -= take;
  };
  switch (framing_) {
    case framing::none:
    case framing::unknown:
      if (n > 0)
        error("unexpected bytes after a body-less response: " + std::string(p, n));
      break;
    case framing::length:
    case framing::close:
      append(n);
      if (framing_ == framing::length && body_bytes_ > content_length_)
        error("more body bytes than Content-Length");
      break;
    case framing::chunked:
      while (n > 0 && protocol_error_.empty()) {
        if (chunk_state_ == chunk_state::size_line || chunk_state_ == chunk_state::trailer) {
          const auto* nl = static_cast<const char*>(std::memchr(p, '\n', n));
          const std::size_t take = nl ? static_cast<std::size_t>(nl - p) + 1 : n;
          line_.append(p, take);
          p += take;
          n -= take;
          if (!nl) {
            if (line_.size() > max_line)
              error("chunk line too long");
            break;
          }
          if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
            error("bad chunk size line: " + line_);
            break;
          }
          std::string line = line_.substr(0, line_.size() - 2);
          line_.clear();
          if (chunk_state_ == chunk_state::trailer) {
            if (line.empty())
              chunk_state_ = chunk_state::done;
            continue;
          }
          std::string hex = line.substr(0, line.find(';'));
          if (hex.empty() || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            error("bad chunk size line: " + line);
            break;
          }
          chunk_left_ = std::stoull(hex, nullptr, 16);
          chunk_state_ = chunk_left_ == 0 ? chunk_state::trailer : chunk_state::data;
        } else if (chunk_state_ == chunk_state::data) {
          const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, n));
          append(take);
          chunk_left_ -= take;
          if (chunk_left_ == 0) {
            chunk_state_ = chunk_state::data_crlf;
            crlf_left_ = 2;
          }
        } else if (chunk_state_ == chunk_state::data_crlf) {
          if (*p != "\r\n"[2 - crlf_left_]) {
            error("chunk data not followed by CRLF");
            break;
          }
          ++p;
          --n;
          if (--crlf_left_ == 0)
            chunk_state_ = chunk_state::size_line;
        } else {  // done
          error("bytes after the last chunk: " + std::string(p, n));
          break;
        }
      }
      break;
  }
  if (body_bytes_ != before && !count_only_)
    parse_sse();
}

void sse_parser::parse_sse() {
  while (true) {
    auto nl = body_.find('\n', sse_pos_);
    if (nl == std::string::npos)
      break;
    std::string_view line(body_.data() + sse_pos_, nl - sse_pos_);
    sse_pos_ = nl + 1;
    sse_line(line, true);
  }
  if (!keep_) {
    body_.erase(0, sse_pos_);
    sse_pos_ = 0;
  }
}

void sse_parser::count_sse(const char* p, std::size_t n) {
  while (n > 0) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', n));
    const std::size_t len = nl ? static_cast<std::size_t>(nl - p) : n;
    if (counted_line_.size() < counted_line_keep)
      counted_line_.append(p, std::min(len, counted_line_keep - counted_line_.size()));
    counted_line_size_ += len;
    if (!nl)
      return;
    p = nl + 1;
    n -= len + 1;
    const bool whole = counted_line_size_ == counted_line_.size();
    sse_line(counted_line_, whole);
    counted_line_.clear();
    counted_line_size_ = 0;
  }
}

void sse_parser::sse_line(std::string_view line, bool whole) {
  if (whole && !line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  if (line.empty()) {
    if (has_field_ && cb_.on_block)
      cb_.on_block(block{type_, id_, has_id_, data_, has_data_, retry_});
    type_.clear();
    id_.clear();
    data_.clear();
    retry_.reset();
    has_field_ = has_id_ = has_data_ = false;
    return;
  }
  if (line.front() == ':') {
    if (cb_.on_comment)
      cb_.on_comment(line.substr(1));
    return;
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
    type_.assign(value);
  } else if (name == "id") {
    if (!count_only_)
      id_.assign(value);
    has_id_ = true;
  } else if (name == "data") {
    if (!count_only_) {
      if (has_data_)
        data_.push_back('\n');
      data_.append(value);
    }
    has_data_ = true;
  } else if (name == "retry") {
    std::int64_t ms = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (!whole || value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() ||
        value.front() == '-')
      return;  // not all digits: ignored, as EventSource does
    retry_ = ms;
  } else {
    return;  // unknown fields are ignored, as EventSource does
  }
  has_field_ = true;
}

bool sse_parser::complete(bool eof) const noexcept {
  switch (framing_) {
    case framing::none:
      return true;
    case framing::length:
      return body_bytes_ >= content_length_;
    case framing::chunked:
      return chunk_state_ == chunk_state::done;
    case framing::close:
      return eof;
    case framing::unknown:
      return false;
  }
  return false;
}

}  // namespace eventstreams::test

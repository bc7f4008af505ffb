// The benchmark's SSE client: one epoll loop, cheap scans instead of a JSON DOM per event.
#include "sse_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

namespace bench {
namespace {

constexpr std::size_t read_buffer_size = 256 * 1024;
constexpr int reads_per_wakeup = 8;           // fairness between connections
constexpr std::uint64_t id_check_every = 64;  // events between two checks of the id line
constexpr std::size_t max_header_bytes = 16 * 1024;

std::int64_t clock_ns(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Parses the decimal integer at `p` (within [p, end)); returns the position after it.
const char* parse_int(const char* p, const char* end, std::int64_t& out) {
  auto r = std::from_chars(p, end, out);
  return r.ec == std::errc() ? r.ptr : nullptr;
}

const char* find(const char* hay, std::size_t n, std::string_view needle) {
  return static_cast<const char*>(::memmem(hay, n, needle.data(), needle.size()));
}

bool iequals_prefix(std::string_view text, std::size_t at, std::string_view lower) {
  if (at + lower.size() > text.size())
    return false;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    char c = text[at + i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i])
      return false;
  }
  return true;
}

}  // namespace

std::int64_t realtime_ns() {
  return clock_ns(CLOCK_REALTIME);
}
std::int64_t steady_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

struct sse_client_pool::connection {
  enum class phase { connecting, headers, chunk_size, chunk_data, chunk_crlf, done };
  int fd = -1;
  std::size_t index = 0;
  phase ph = phase::connecting;
  std::string head;            // response header bytes, until the blank line
  std::string size_line;       // the chunk-size line being read
  std::size_t chunk_left = 0;  // payload bytes left in the current chunk
  std::size_t crlf_left = 0;   // bytes of the CRLF after a chunk still to skip
  std::string body;            // de-chunked SSE text from the start of an incomplete frame
  std::size_t scan = 0;        // where the search for the frame end resumes in `body`
  std::vector<std::int64_t> next_offset;  // per partition: the offset expected next
  connection_stats* st = nullptr;
};

sse_client_pool::sse_client_pool(client_options opts)
    : opts_(std::move(opts)), read_buffer_(read_buffer_size) {}

sse_client_pool::~sse_client_pool() {
  stop();
}

void sse_client_pool::start(int n) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(static_cast<std::size_t>(n));
  stats_.resize(static_cast<std::size_t>(n));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts_.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  thread_ = std::thread([this] { run(); });
  // The daemon answers 503 to streams beyond the 64 it sets up at once: open at most 32 at a
  // time, the next when one got its preamble (or ended), as patient clients would. Bounded.
  constexpr int max_starting = 32;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    while (static_cast<int>(i) - ok_count() - ended_count() >= max_starting &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    connection& c = conns_[i];
    c.index = i;
    c.st = &stats_[i];
    c.next_offset.assign(static_cast<std::size_t>(opts_.partitions), opts_.first_offset);
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      finish(c, std::string("socket: ") + std::strerror(errno));
      continue;
    }
    int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (r != 0 && errno != EINPROGRESS) {
      finish(c, std::string("connect: ") + std::strerror(errno));
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
  }
}

void sse_client_pool::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
  for (auto& c : conns_) {
    if (c.fd >= 0)
      ::close(c.fd);
    c.fd = -1;
  }
  if (epoll_fd_ >= 0)
    ::close(epoll_fd_);
  epoll_fd_ = -1;
}

void sse_client_pool::run() {
  std::vector<epoll_event> events(256);
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 50);
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < n; ++i) {
      on_event(conns_[events[static_cast<std::size_t>(i)].data.u64],
               events[static_cast<std::size_t>(i)].events);
    }
  }
}

void sse_client_pool::on_event(connection& c, std::uint32_t events) {
  if (c.fd < 0)
    return;
  if (c.ph == connection::phase::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return finish(c, std::string("connect: ") + std::strerror(err));
    if ((events & EPOLLOUT) == 0)
      return;
    const std::string req = "GET " + opts_.path +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                            "User-Agent: eventstreams-load-bench\r\n\r\n";
    if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return finish(c, "cannot send the request");
    }
    c.ph = connection::phase::headers;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c.index;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    return;
  }
  for (int r = 0; r < reads_per_wakeup && c.fd >= 0; ++r) {
    ssize_t got = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      return finish(c, std::string("recv: ") + std::strerror(errno));
    }
    if (got == 0) {
      return finish(c, c.ph == connection::phase::done ? "" : "server closed the connection");
    }
    now_steady_ns_ = steady_ns();
    now_real_ns_ = realtime_ns();
    const auto n = static_cast<std::size_t>(got);
    if (c.ph == connection::phase::headers) {
      feed_headers(c, read_buffer_.data(), n);
    } else {
      feed_body(c, read_buffer_.data(), n);
    }
    if (n < read_buffer_.size())
      return;  // drained
  }
}

void sse_client_pool::feed_headers(connection& c, const char* p, std::size_t n) {
  c.head.append(p, n);
  auto end = c.head.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.head.size() > max_header_bytes)
      finish(c, "response header too large");
    return;
  }
  std::string_view head(c.head.data(), end + 2);
  if (!head.starts_with("HTTP/1.1 200")) {
    return finish(c, "status: " + std::string(head.substr(0, head.find('\r'))));
  }
  bool chunked = false;
  for (std::size_t at = 0; at < head.size(); at = head.find("\r\n", at) + 2) {
    if (iequals_prefix(head, at, "transfer-encoding: chunked"))
      chunked = true;
  }
  if (!chunked)
    return finish(c, "response is not chunked");
  std::string rest = c.head.substr(end + 4);
  c.head.clear();
  c.ph = connection::phase::chunk_size;
  if (!rest.empty())
    feed_body(c, rest.data(), rest.size());
}

void sse_client_pool::feed_body(connection& c, const char* p, std::size_t n) {
  using phase = connection::phase;
  while (n > 0 && c.fd >= 0) {
    switch (c.ph) {
      case phase::chunk_size: {
        const auto* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        std::size_t take = nl ? static_cast<std::size_t>(nl - p) + 1 : n;
        c.size_line.append(p, take);
        p += take;
        n -= take;
        if (nl == nullptr) {
          if (c.size_line.size() > 64)
            return finish(c, "bad chunk size line");
          break;
        }
        std::uint64_t size = 0;
        auto r =
            std::from_chars(c.size_line.data(), c.size_line.data() + c.size_line.size(), size, 16);
        if (r.ec != std::errc())
          return finish(c, "bad chunk size");
        c.size_line.clear();
        if (size == 0) {
          c.ph = phase::done;
          parse_frames(c);
          return finish(c, "server ended the stream");
        }
        c.chunk_left = size;
        c.ph = phase::chunk_data;
        break;
      }
      case phase::chunk_data: {
        std::size_t take = std::min(n, c.chunk_left);
        c.body.append(p, take);
        c.st->bytes += take;
        p += take;
        n -= take;
        c.chunk_left -= take;
        if (c.chunk_left == 0) {
          c.ph = phase::chunk_crlf;
          c.crlf_left = 2;
        }
        break;
      }
      case phase::chunk_crlf: {
        std::size_t take = std::min(n, c.crlf_left);
        p += take;
        n -= take;
        c.crlf_left -= take;
        if (c.crlf_left == 0)
          c.ph = phase::chunk_size;
        break;
      }
      default:
        return;
    }
  }
  parse_frames(c);
}

void sse_client_pool::parse_frames(connection& c) {
  const char* b = c.body.data();
  const std::size_t len = c.body.size();
  std::size_t start = 0;
  std::size_t pos = c.scan;
  while (pos < len) {
    const auto* nl = static_cast<const char*>(std::memchr(b + pos, '\n', len - pos));
    if (nl == nullptr) {
      pos = len;
      break;
    }
    const auto i = static_cast<std::size_t>(nl - b);
    if (i + 1 >= len) {
      pos = i;  // the next byte decides; look again when it arrives
      break;
    }
    if (b[i + 1] == '\n') {
      handle_frame(c, b + start, i - start);
      if (c.fd < 0)
        return;
      start = i + 2;
      pos = start;
    } else {
      pos = i + 1;
    }
  }
  c.body.erase(0, start);
  c.scan = pos - start;
}

void sse_client_pool::handle_frame(connection& c, const char* f, std::size_t n) {
  connection_stats& st = *c.st;
  if (n == 0)
    return;
  if (f[0] == ':') {
    if (std::string_view(f, n) == ":ok") {
      if (!st.ok)
        ok_count_.fetch_add(1, std::memory_order_relaxed);
      st.ok = true;
    } else {
      ++st.heartbeats;
    }
    return;
  }
  std::string_view event, id, data;
  for (std::size_t at = 0; at < n;) {
    const auto* nl = static_cast<const char*>(std::memchr(f + at, '\n', n - at));
    std::size_t end = nl ? static_cast<std::size_t>(nl - f) : n;
    std::string_view line(f + at, end - at);
    if (line.starts_with("event: "))
      event = line.substr(7);
    if (line.starts_with("id: "))
      id = line.substr(4);
    if (line.starts_with("data: "))
      data = line.substr(6);
    at = end + 1;
  }
  if (!event.empty() && event != "message") {
    return finish(c, "event: " + std::string(event) + " " + std::string(data.substr(0, 300)));
  }
  if (id.empty() || data.empty()) {
    ++st.bad_events;
    return;
  }
  const char* d = data.data();
  const char* d_end = d + data.size();
  // The producer writes {"bench_sent_ns":N,... first; the daemon writes meta.topic, partition
  // and offset first in meta.
  if (opts_.record_latency) {
    constexpr std::string_view sent_key = R"({"bench_sent_ns":)";
    std::int64_t sent = 0;
    if (data.starts_with(sent_key) && parse_int(d + sent_key.size(), d_end, sent)) {
      latencies_.push_back(now_real_ns_ - sent);
    }
  }
  std::int64_t partition = -1, offset = -1;
  const char* meta = find(d, data.size(), R"("meta":{"topic":)");
  const char* pk =
      meta ? find(meta, static_cast<std::size_t>(d_end - meta), R"("partition":)") : nullptr;
  const char* after = pk ? parse_int(pk + 12, d_end, partition) : nullptr;
  constexpr std::string_view offset_key = R"(,"offset":)";
  if (after &&
      std::string_view(after, static_cast<std::size_t>(d_end - after)).starts_with(offset_key)) {
    parse_int(after + offset_key.size(), d_end, offset);
  }
  if (partition < 0 || partition >= opts_.partitions || offset < 0) {
    ++st.bad_events;
    return;
  }
  auto& expected = c.next_offset[static_cast<std::size_t>(partition)];
  if (offset != expected)
    ++st.gaps;
  expected = offset + 1;
  if (st.events % id_check_every == 0) {
    // The id's entry for this partition must hold the next offset: "partition":P,"offset":O+1
    std::string needle = R"("partition":)" + std::to_string(partition) + R"(,"offset":)";
    const char* e = find(id.data(), id.size(), needle);
    std::int64_t next = -1;
    if (e)
      parse_int(e + needle.size(), id.data() + id.size(), next);
    ++st.id_checked;
    if (next != offset + 1)
      ++st.id_mismatch;
  }
  if (st.events == 0)
    st.first_event_ns = now_steady_ns_;
  st.last_event_ns = now_steady_ns_;
  ++st.events;
  total_events_.fetch_add(1, std::memory_order_relaxed);
}

void sse_client_pool::finish(connection& c, const std::string& error) {
  if (c.fd >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  if (!c.st->ended)
    ended_count_.fetch_add(1, std::memory_order_relaxed);
  c.st->ended = true;
  if (c.st->error.empty())
    c.st->error = error;
}

}  // namespace bench

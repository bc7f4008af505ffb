// Many SSE clients on one epoll loop, with cheap scans instead of a JSON DOM per event.
#include "sse_client_pool.hpp"

#include <algorithm>
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
#include <stdexcept>
#include <string_view>
#include <thread>

namespace eventstreams::test {
namespace {

constexpr std::size_t read_buffer_size = 256 * 1024;
constexpr int reads_per_wakeup = 8;           // fairness between connections
constexpr std::uint64_t id_check_every = 64;  // events between two checks of the id line

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

}  // namespace

std::int64_t realtime_ns() {
  return clock_ns(CLOCK_REALTIME);
}
std::int64_t steady_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

struct sse_client_pool::connection {
  int fd = -1;
  std::size_t index = 0;
  std::uint16_t local_port = 0;
  bool requested = false;  // the request was sent
  bool paused = false;     // request sent, not reading (pool_options::read false)
  bool sampled = true;     // decodes its events; otherwise counts them
  sse_parser parser{"GET", /*keep=*/false};
  connection_stats* st = nullptr;
};

sse_client_pool::sse_client_pool(pool_options opts)
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
  sockaddr_in source{};
  source.sin_family = AF_INET;
  if (!opts_.source_address.empty() &&
      ::inet_pton(AF_INET, opts_.source_address.c_str(), &source.sin_addr) != 1) {
    throw std::invalid_argument("sse_client_pool: bad source address " + opts_.source_address);
  }
  const std::size_t sample_every = static_cast<std::size_t>(std::max(1, opts_.sample_every));
  thread_ = std::thread([this] { run(); });
  // At most max_starting at a time, the next when one got its preamble (or ended). Bounded.
  const int max_starting = std::max(1, opts_.max_starting);
  const auto deadline = std::chrono::steady_clock::now() + start_bound(n);
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    // Connections that do not read never see their preamble: those only wait for the request
    // to be sent.
    auto waiting = [&] {
      return opts_.read ? static_cast<int>(i) - ok_count() - ended_count()
                        : static_cast<int>(i) - requests_sent() - ended_count();
    };
    while (waiting() >= max_starting && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    connection& c = conns_[i];
    c.index = i;
    c.st = &stats_[i];
    c.sampled = (opts_.index_base + i) % sample_every == 0;
    c.st->sampled = c.sampled;
    c.parser.set_count_only(!c.sampled);
    sse_parser::callbacks cb;
    cb.on_block = [this, &c](const sse_parser::block& b) { on_block(c, b); };
    cb.on_comment = [this, &c](std::string_view text) { on_comment(c, text); };
    c.parser.set_callbacks(std::move(cb));
    if (c.sampled)
      c.st->next_offset.assign(static_cast<std::size_t>(opts_.partitions) *
                                   std::max<std::size_t>(1, opts_.topics.size()),
                               opts_.first_offset);
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      finish(c, std::string("socket: ") + std::strerror(errno));
      continue;
    }
    if (opts_.rcvbuf > 0)
      ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &opts_.rcvbuf, sizeof opts_.rcvbuf);
    if (!opts_.source_address.empty()) {
      // The port is chosen at connect(), per destination, not at bind().
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
        finish(c, std::string("bind: ") + std::strerror(errno));
        continue;
      }
    }
    int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (r != 0 && errno != EINPROGRESS) {
      finish(c, std::string("connect: ") + std::strerror(errno));
      continue;
    }
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(c.fd, reinterpret_cast<sockaddr*>(&local), &len) == 0)
      c.local_port = ntohs(local.sin_port);
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
  }
}

void sse_client_pool::resume_reading() {
  resume_ = true;
}

std::uint16_t sse_client_pool::local_port(std::size_t i) const {
  return i < conns_.size() ? conns_[i].local_port : 0;
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
    if (resume_.exchange(false)) {
      for (auto& c : conns_) {
        if (c.fd >= 0 && c.paused) {
          c.paused = false;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = c.index;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
        }
      }
    }
    // 50 ms: how long stop() and resume_reading() may wait for this loop to notice them.
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 50);
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < n; ++i) {
      on_event(conns_[events[static_cast<std::size_t>(i)].data.u64],
               events[static_cast<std::size_t>(i)].events);
    }
    if (opts_.gather_us > 0 && n > 0 && n < static_cast<int>(events.size()))
      std::this_thread::sleep_for(std::chrono::microseconds(opts_.gather_us));
  }
}

void sse_client_pool::on_event(connection& c, std::uint32_t events) {
  if (c.fd < 0)
    return;
  if (!c.requested) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return finish(c, std::string("connect: ") + std::strerror(err));
    if ((events & EPOLLOUT) == 0)
      return;
    const std::string& path = opts_.paths.empty()
                                  ? opts_.path
                                  : opts_.paths[(opts_.index_base + c.index) % opts_.paths.size()];
    const std::string req = "GET " + path +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                            "User-Agent: eventstreams-test-pool\r\n" +
                            opts_.headers + "\r\n";
    if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return finish(c, "cannot send the request");
    }
    c.requested = true;
    requests_sent_.fetch_add(1, std::memory_order_relaxed);
    if (!opts_.read) {
      // Not even EPOLLHUP may wake us for it: out of the set until resume_reading().
      c.paused = true;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
      return;
    }
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
    if (got == 0)
      return finish(c, c.parser.complete(true) ? "" : "server closed the connection");
    now_steady_ns_ = steady_ns();
    now_real_ns_ = realtime_ns();
    const auto n = static_cast<std::size_t>(got);
    const bool had_head = c.parser.head_complete();
    c.parser.feed(read_buffer_.data(), n);
    if (c.fd < 0)
      return;  // a callback ended it
    c.st->bytes = c.parser.body_bytes();
    if (!c.parser.protocol_error().empty())
      return finish(c, c.parser.protocol_error());
    if (!had_head && c.parser.head_complete()) {
      c.st->status = c.parser.head().status;
      if (c.st->status != 200)
        return finish(c, "status " + std::to_string(c.st->status));
    }
    if (c.parser.terminator_received())
      return finish(c, "");  // the server ended the stream
    if (n < read_buffer_.size())
      return;  // drained
  }
}

void sse_client_pool::on_comment(connection& c, std::string_view text) {
  connection_stats& st = *c.st;
  if (c.fd < 0)
    return;
  if (text == "ok") {
    if (!st.ok)
      ok_count_.fetch_add(1, std::memory_order_relaxed);
    st.ok = true;
  } else {
    ++st.heartbeats;
  }
}

void sse_client_pool::on_block(connection& c, const sse_parser::block& b) {
  connection_stats& st = *c.st;
  if (c.fd < 0)
    return;  // ended by an earlier block of the same read
  const std::string_view event = b.type, id = b.id, data = b.data;
  if (b.retry) {
    ++st.retries;
    st.retry_ms = *b.retry;
    if (!b.has_id && !b.has_data && event.empty())
      return;  // a retry-only block (docs/api.md §5.5)
  }
  if (!event.empty() && event != "message") {
    return finish(c, "event: " + std::string(event) + " " + std::string(data.substr(0, 300)));
  }
  if (b.has_id && !b.has_data) {
    ++st.id_blocks;  // a position without an event
    return;
  }
  if (!c.sampled) {  // counted only: the parser kept neither id nor data
    if (!b.has_id || !b.has_data) {
      ++st.bad_events;
      return;
    }
    count_event(st);
    return;
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
      sent_.push_back(sent);
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
  // Several topics: which one (meta.topic, its first member).
  std::size_t topic = 0;
  if (!opts_.topics.empty()) {
    const std::string_view after_key(meta + 16, static_cast<std::size_t>(d_end - meta - 16));
    auto it = std::find_if(opts_.topics.begin(), opts_.topics.end(), [&](const std::string& t) {
      return after_key.size() > t.size() + 1 && after_key[0] == '"' &&
             after_key.substr(1, t.size()) == t && after_key[t.size() + 1] == '"';
    });
    if (it == opts_.topics.end()) {
      ++st.bad_events;
      return;
    }
    topic = static_cast<std::size_t>(it - opts_.topics.begin());
  }
  if (!opts_.expect_data.empty() &&
      !find(d, data.size(),
            opts_.expect_data[(opts_.index_base + c.index) % opts_.expect_data.size()])) {
    ++st.unexpected_data;
  }
  auto& expected = st.next_offset[topic * static_cast<std::size_t>(opts_.partitions) +
                                  static_cast<std::size_t>(partition)];
  if (offset != expected)
    ++st.gaps;
  expected = offset + 1;
  if (st.events % id_check_every == 0) {
    // The id's entry for this partition must hold the next offset: "partition":P,"offset":O+1
    // (of this topic: "topic":"T","partition":P,... when the stream has several).
    std::string needle = R"("partition":)" + std::to_string(partition) + R"(,"offset":)";
    if (!opts_.topics.empty())
      needle = R"("topic":")" + opts_.topics[topic] + "\"," + needle;
    const char* e = find(id.data(), id.size(), needle);
    std::int64_t next = -1;
    if (e)
      parse_int(e + needle.size(), id.data() + id.size(), next);
    ++st.id_checked;
    if (next != offset + 1)
      ++st.id_mismatch;
  }
  count_event(st);
}

void sse_client_pool::count_event(connection_stats& st) {
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
  if (!c.st->ended) {
    c.st->ended_ns = steady_ns();
    c.st->ended_inside_block = c.parser.inside_block();
    ended_count_.fetch_add(1, std::memory_order_relaxed);
  }
  c.st->ended = true;
  if (c.st->error.empty())
    c.st->error = error;
}

}  // namespace eventstreams::test

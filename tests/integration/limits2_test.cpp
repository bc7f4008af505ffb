// Slow clients (API.md §7): a client that stops reading is disconnected after stall_timeout, it
// cannot make the process grow, and it slows only its own consumer: readers of the same stream
// miss nothing and keep their latency.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "sanitized.hpp"
#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// VmRSS of `pid` in bytes, 0 if unreadable.
std::size_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:"))
      return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  }
  return 0;
}

// The integer after `key` in `text` (e.g. key "\"offset\":"), or -1.
std::int64_t int_after(std::string_view text, std::string_view key) {
  auto at = text.find(key);
  if (at == std::string_view::npos)
    return -1;
  return std::strtoll(std::string(text.substr(at + key.size(), 20)).c_str(), nullptr, 10);
}

// A stream reader over a plain blocking socket, for many bytes: unlike sse_client it keeps
// nothing but counters (a reader receives ~2 MB/s here), and it can shrink SO_RCVBUF before
// connecting so that a client that stops reading fills its window after a few KB.
class raw_stream {
 public:
  raw_stream(std::uint16_t port, int rcvbuf) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0)
      throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (rcvbuf > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    std::string req = "GET /v2/stream/load HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      throw std::runtime_error("send failed");
  }
  ~raw_stream() { ::close(fd_); }
  raw_stream(const raw_stream&) = delete;
  raw_stream& operator=(const raw_stream&) = delete;

  enum class got { data, timeout, eof, reset };
  // One recv with a deadline; data is decoded and each complete event passed to on_event_.
  got read_some(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      bytes_ += static_cast<std::size_t>(n);
      feed(buf, static_cast<std::size_t>(n));
      return got::data;
    }
    if (n == 0)
      return got::eof;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? got::timeout : got::reset;
  }

  std::function<void(std::string_view data)> on_event_;
  int status_ = 0;
  bool terminated_ = false;  // the chunked terminator arrived
  std::size_t bytes_ = 0;
  std::size_t partial_ = 0;  // decoded bytes not yet forming a complete event or comment
  std::string error_;

 private:
  void feed(const char* p, std::size_t n) {
    in_.append(p, n);
    std::size_t pos = 0;
    if (status_ == 0) {
      auto end = in_.find("\r\n\r\n");
      if (end == std::string::npos)
        return;
      status_ = std::stoi(in_.substr(9, 3));
      pos = end + 4;
    }
    while (pos < in_.size() && !terminated_) {  // chunked transfer decoding
      if (chunk_left_ == 0) {
        auto nl = in_.find("\r\n", pos + (need_crlf_ ? 2 : 0));
        if (nl == std::string::npos)
          break;
        if (need_crlf_ && in_.compare(pos, 2, "\r\n") != 0)
          error_ = "chunk data not followed by CRLF";
        pos += need_crlf_ ? 2 : 0;
        need_crlf_ = false;
        chunk_left_ = std::stoull(in_.substr(pos, nl - pos), nullptr, 16);
        pos = nl + 2;
        terminated_ = chunk_left_ == 0;
        continue;
      }
      auto take = std::min(chunk_left_, in_.size() - pos);
      body_.append(in_, pos, take);
      pos += take;
      chunk_left_ -= take;
      need_crlf_ = chunk_left_ == 0;
    }
    in_.erase(0, pos);
    std::size_t start = 0;
    for (auto end = body_.find("\n\n"); end != std::string::npos; end = body_.find("\n\n", start)) {
      std::string_view block(body_.data() + start, end - start);
      start = end + 2;
      auto data = block.find("\ndata: ");
      if (data != std::string_view::npos && on_event_)
        on_event_(block.substr(data + 7));
    }
    body_.erase(0, start);
    partial_ = body_.size();
  }

  int fd_;
  std::string in_, body_;
  std::size_t chunk_left_ = 0;
  bool need_crlf_ = false;
};

// Produces ~1 KB records at a fixed rate over `partitions` partitions, each carrying its send
// time; delivery reports give every partition's first and last offset.
class paced_producer {
 public:
  explicit paced_producer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    // The mock broker scans a partition's message sets linearly on each fetch: with one set per
    // record its cost grows with the log until every reader lags by seconds (seen without any
    // stalled client). 20 ms batches keep that cost flat; both phases pay the same delay.
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, &paced_producer::on_delivery);
    rd_kafka_conf_set_opaque(conf, this);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_)
      throw std::runtime_error(std::string("producer: ") + err);
  }
  ~paced_producer() { rd_kafka_destroy(rk_); }

  struct partition_range {
    std::int64_t first = -1, last = -1;
  };
  // Blocks for `duration`; returns after every record was acknowledged (or failed).
  void run(const std::string& topic, int partitions, double rate, std::chrono::seconds duration) {
    ranges_.assign(static_cast<std::size_t>(partitions), {});
    const std::string pad(900, 'x');
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    auto start = clock_type::now();
    for (std::int64_t n = 0;; ++n) {
      auto due = start + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double>(static_cast<double>(n) / rate));
      if (due - start >= duration)
        break;
      std::this_thread::sleep_until(due);  // pacing, not waiting for a condition
      std::string v = R"({"sent_us":)" + std::to_string(now_us()) + R"(,"seq":)" +
                      std::to_string(n) + R"(,"pad":")" + pad + "\"}";
      while (rd_kafka_produce(rkt, static_cast<std::int32_t>(n % partitions), RD_KAFKA_MSG_F_COPY,
                              v.data(), v.size(), nullptr, 0, nullptr) != 0 &&
             rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 1);
      }
      rd_kafka_poll(rk_, 0);
    }
    rd_kafka_flush(rk_, 30000);
    rd_kafka_topic_destroy(rkt);
  }
  const std::vector<partition_range>& ranges() const { return ranges_; }
  std::int64_t failed() const { return failed_; }
  std::int64_t total() const { return delivered_; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<paced_producer*>(opaque);
    if (m->err) {
      ++self->failed_;
      return;
    }
    auto& r = self->ranges_.at(static_cast<std::size_t>(m->partition));
    r.first = r.first < 0 ? m->offset : std::min(r.first, m->offset);
    r.last = std::max(r.last, m->offset);
    ++self->delivered_;
  }
  rd_kafka_t* rk_ = nullptr;
  std::vector<partition_range> ranges_;
  std::int64_t failed_ = 0, delivered_ = 0;
};

// What one reader saw: events, per-partition offset continuity, latencies.
struct reader_stats {
  std::int64_t events = 0;
  std::vector<std::int64_t> next;  // per partition: the offset expected next (-1 = none yet)
  std::vector<std::int64_t> first;
  std::vector<std::int64_t> latency_us;
  std::string error;
};

constexpr int partitions = 4;
constexpr int stalled_count = 20;  // as the issue asks (20 + 20 at 2,000 events/s), but two
constexpr int reader_count = 20;   // 15 s phases instead of one 60 s run, to keep CI short
constexpr double rate = 2000;
constexpr auto phase_length = std::chrono::seconds(15);

std::string load_config() {
  daemon_config cfg;
  cfg.streams = {{"load", {"load.topic"}, {}, false}};
  // The mock keeps ~5 MB per partition: 4 keep the last 10 s at 2 MB/s, far more than any
  // reader lags.
  cfg.partitions = partitions;
  cfg.brokers = 1;
  cfg.fetch_wait_max_ms = "10";
  std::string yaml = cfg.to_yaml();
  yaml.insert(yaml.find("server:\n") + 8,
              "  stall_timeout: 3s\n  max_buffered_bytes: 65536\n  max_connections: 100\n");
  return yaml;
}

struct phase_result {
  std::vector<std::int64_t> latency_us;  // every reader's, merged
  std::size_t rss_idle = 0, rss_peak = 0;
  std::int64_t p99_us() {
    if (latency_us.empty())
      return 0;
    auto at = latency_us.begin() + static_cast<std::ptrdiff_t>(latency_us.size() * 99 / 100);
    std::nth_element(latency_us.begin(), at, latency_us.end());
    return *at;
  }
};

// One phase on a fresh daemon (so both phases start from the same empty log: the mock
// broker's fetch cost grows with the log): `reader_count` readers that must get every event,
// and `stalled` clients that never read and must be disconnected.
phase_result run_phase(int stalled) {
  daemon_process d(load_config());
  phase_result out;
  out.rss_idle = rss_bytes(d.pid());
  std::atomic<std::size_t> peak{out.rss_idle};
  std::jthread sampler([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      peak = std::max(peak.load(), rss_bytes(d.pid()));
      std::this_thread::sleep_for(100ms);  // sampling period
    }
  });
  std::vector<std::unique_ptr<raw_stream>> stalled_clients, readers;
  for (int i = 0; i < stalled; ++i)
    stalled_clients.push_back(std::make_unique<raw_stream>(d.port(), 4096));
  std::vector<reader_stats> stats(static_cast<std::size_t>(reader_count));
  for (int i = 0; i < reader_count; ++i) {
    readers.push_back(std::make_unique<raw_stream>(d.port(), 0));
    auto& s = stats[static_cast<std::size_t>(i)];
    s.next.assign(partitions, -1);
    s.first.assign(partitions, -1);
    s.latency_us.reserve(static_cast<std::size_t>(rate) * 40);
    readers.back()->on_event_ = [&s](std::string_view data) {
      auto received = now_us();
      auto p = int_after(data, "\"partition\":");
      auto off = int_after(data, "\"offset\":");
      if (p < 0 || p >= partitions || off < 0) {
        s.error = "bad event: " + std::string(data.substr(0, 200));
        return;
      }
      auto& next = s.next[static_cast<std::size_t>(p)];
      if (next >= 0 && off != next && s.error.empty())
        s.error = "partition " + std::to_string(p) + ": offset " + std::to_string(off) + " after " +
                  std::to_string(next - 1);
      if (next < 0)
        s.first[static_cast<std::size_t>(p)] = off;
      next = off + 1;
      ++s.events;
      s.latency_us.push_back(received - int_after(data, "\"sent_us\":"));
    };
  }
  // Everyone streams (their start positions are fixed) before the first record is produced.
  EXPECT_TRUE(wait_for(
      [&] {
        return metric_sum(d.port(), "eventstreams_connected_clients") == stalled + reader_count;
      },
      30s, 50ms));

  std::atomic<std::int64_t> expected{std::numeric_limits<std::int64_t>::max()};
  std::vector<std::jthread> threads;
  const auto deadline = clock_type::now() + phase_length + 60s;
  for (int i = 0; i < reader_count; ++i) {
    threads.emplace_back([&, i] {
      auto& r = *readers[static_cast<std::size_t>(i)];
      auto& s = stats[static_cast<std::size_t>(i)];
      while (s.events < expected && clock_type::now() < deadline) {
        auto g = r.read_some(200ms);
        if (g == raw_stream::got::eof || g == raw_stream::got::reset) {
          s.error = "reader's stream ended early";
          return;
        }
      }
    });
  }
  paced_producer producer(d.bootstrap());
  producer.run("load.topic", partitions, rate, phase_length);
  EXPECT_EQ(producer.failed(), 0);
  expected = producer.total();
  // The stalled clients were cut off: 3 s after their sockets filled, nothing else ends them.
  double cut = -1;
  EXPECT_TRUE(wait_for(
      [&] {
        cut = metric_sum(d.port(), "eventstreams_clients_disconnected_total", "reason=\"stalled\"");
        return cut == stalled;
      },
      10s, 100ms))
      << cut << " of " << stalled << " stalled clients disconnected";
  threads.clear();  // joins the readers
  sampler.request_stop();
  out.rss_peak = peak;

  for (const auto& s : stats) {
    SCOPED_TRACE(s.error);
    EXPECT_TRUE(s.error.empty());
    EXPECT_EQ(s.events, producer.total());
    for (int p = 0; p < partitions; ++p) {
      const auto& range = producer.ranges()[static_cast<std::size_t>(p)];
      EXPECT_EQ(s.first[static_cast<std::size_t>(p)], range.first) << "partition " << p;
      EXPECT_EQ(s.next[static_cast<std::size_t>(p)], range.last + 1) << "partition " << p;
    }
    out.latency_us.insert(out.latency_us.end(), s.latency_us.begin(), s.latency_us.end());
  }
  for (auto& c : stalled_clients) {
    // Drain what the kernel still held for it: then the connection must be over.
    auto g = raw_stream::got::data;
    auto until = clock_type::now() + 10s;
    while (g != raw_stream::got::eof && g != raw_stream::got::reset && clock_type::now() < until)
      g = c->read_some(500ms);
    EXPECT_TRUE(g == raw_stream::got::eof || g == raw_stream::got::reset)
        << "stalled client still connected after " << c->bytes_ << " bytes";
    EXPECT_EQ(c->status_, 200);
    EXPECT_LT(c->bytes_, producer.total() * 1000) << "a stalled client got every event";
  }
  return out;
}

TEST(SlowClients, StalledClientsAreDisconnectedAndDoNotHurtReaders) {
  // ~45 s: two phases of 15 s, each on its own daemon, plus draining.
  auto base = run_phase(0);  // the reference: readers alone
  ASSERT_FALSE(HasFailure());
  auto loaded = run_phase(stalled_count);

  // Memory: what readers alone needed, plus per stalled client what its bounded buffers can
  // hold: the consumer's prefetch queue (queued.max.messages.kbytes = 2 MiB of payload, ~3 MiB
  // with librdkafka's per-record structures), the consumer instance itself (~1.7 MiB: phase A
  // peak minus idle, per reader), the session's pending + in-flight buffers (2 x (64 KiB + 64
  // records)), i.e. ~5 MiB; measured ~7 MiB (malloc arenas shared by ~100 threads fragment).
  // 9 MiB each. A stalled client that buffered without bound would hold 2 MB per second of
  // the phase (30 MB).
  const std::size_t allowance = 9u << 20;
  if (!sanitized_build) {
    EXPECT_LT(base.rss_peak, base.rss_idle + static_cast<std::size_t>(reader_count) * allowance);
    const std::size_t bound = base.rss_peak + static_cast<std::size_t>(stalled_count) * allowance;
    EXPECT_LT(loaded.rss_peak, bound) << "idle " << (base.rss_idle >> 20) << " MiB, readers only "
                                      << (base.rss_peak >> 20) << " MiB";

    // Latency: the p99 with stalled clients stays within 2x of the readers-only p99, with an
    // absolute floor of 100 ms because the machine is shared (a 1 s hiccup of another job in one
    // phase moves that phase's p99 by tens of ms); what this catches costs far more: a stalled
    // client holding an I/O thread or a strand delays readers by up to stall_timeout (3 s).
    const auto p99_base = base.p99_us(), p99_loaded = loaded.p99_us();
    const std::int64_t allowed = std::max<std::int64_t>(2 * p99_base, p99_base + 100000);
    EXPECT_LE(p99_loaded, allowed) << "p99 " << p99_loaded / 1000 << " ms vs " << p99_base / 1000
                                   << " ms without stalled clients";
    if (std::getenv("EVENTSTREAMS_IT_TRACE")) {
      std::fprintf(stderr, "[trace] rss idle %zu, peak A %zu, peak B %zu MiB; p99 %lld / %lld ms\n",
                   base.rss_idle >> 20, base.rss_peak >> 20, loaded.rss_peak >> 20,
                   static_cast<long long>(p99_base / 1000),
                   static_cast<long long>(p99_loaded / 1000));
    }
  }
}

}  // namespace
}  // namespace eventstreams::test

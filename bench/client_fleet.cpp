// The load benchmark's clients over several processes (client_fleet.hpp).
#include "client_fleet.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <new>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace eventstreams::test {
// The options a client process gets, as JSON (every field required when read).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(pool_options, port, path, partitions, topics, first_offset,
                                   record_latency, rcvbuf, read, headers, paths, expect_data,
                                   max_starting, sample_every, index_base, source_address,
                                   gather_us)
}  // namespace eventstreams::test

namespace bench {
namespace {

namespace es = eventstreams::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

// What a client process publishes while it runs, in a page both processes map.
enum counter : int { events_counter, ok_counter, ended_counter, sent_counter, counters_count };
struct shared_counters {
  std::atomic<std::int64_t> values[counters_count];
  std::atomic<std::int32_t> started;
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free &&
              std::atomic<std::int32_t>::is_always_lock_free);

shared_counters* map_counters(const std::string& path, bool create) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
  if (fd < 0)
    throw std::runtime_error("client fleet: cannot open " + path + ": " + std::strerror(errno));
  if (create && ::ftruncate(fd, sizeof(shared_counters)) != 0) {
    ::close(fd);
    throw std::runtime_error("client fleet: cannot size " + path);
  }
  void* p = ::mmap(nullptr, sizeof(shared_counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED)
    throw std::runtime_error("client fleet: cannot map " + path);
  // The parent makes the counters; the child maps the same page.
  return create ? new (p) shared_counters{} : static_cast<shared_counters*>(p);
}

// Each connection's statistics as one JSON array, in the order of this one list of fields (an
// object per connection would repeat every name 100,000 times).
template <typename Stats, typename F>
void for_each_stat(Stats& s, F f) {
  f(s.events);
  f(s.gaps);
  f(s.bad_events);
  f(s.id_checked);
  f(s.id_mismatch);
  f(s.id_blocks);
  f(s.unexpected_data);
  f(s.heartbeats);
  f(s.bytes);
  f(s.status);
  f(s.ok);
  f(s.ended);
  f(s.error);
  f(s.retries);
  f(s.retry_ms);
  f(s.ended_inside_block);
  f(s.ended_ns);
  f(s.first_event_ns);
  f(s.last_event_ns);
  f(s.sampled);
  f(s.next_offset);
}

json stats_to_json(const es::connection_stats& s) {
  json out = json::array();
  for_each_stat(s, [&](const auto& field) { out.push_back(field); });
  return out;
}

es::connection_stats stats_from_json(const json& j) {
  es::connection_stats s;
  std::size_t i = 0;
  for_each_stat(s, [&](auto& field) { j.at(i++).get_to(field); });
  return s;
}

void write_samples(const std::string& path, const std::vector<std::int64_t>& a,
                   const std::vector<std::int64_t>& b) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t n = a.size();
  out.write(reinterpret_cast<const char*>(&n), sizeof n);
  out.write(reinterpret_cast<const char*>(a.data()), static_cast<std::streamsize>(n * 8));
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(n * 8));
}

bool read_samples(const std::string& path, std::vector<std::int64_t>& a,
                  std::vector<std::int64_t>& b) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t n = 0;
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n))
    return false;
  const std::size_t at = a.size();
  a.resize(at + n);
  b.resize(at + n);
  in.read(reinterpret_cast<char*>(a.data() + at), static_cast<std::streamsize>(n * 8));
  in.read(reinterpret_cast<char*>(b.data() + at), static_cast<std::streamsize>(n * 8));
  return static_cast<bool>(in);
}

}  // namespace

struct client_fleet::child {
  std::string file;  // its options; results in file + ".stats" and file + ".samples"
  pid_t pid = -1;
  int control = -1;  // the write end of its stdin
  shared_counters* counters = nullptr;
  std::size_t first = 0, count = 0;  // its connections' indexes

  ~child() {
    if (control >= 0)
      ::close(control);
    if (counters)
      ::munmap(counters, sizeof(shared_counters));
  }
  void say(char c) const {
    if (control >= 0 && ::write(control, &c, 1) != 1) {
      // It is gone: its results are missing, which stop() reports.
    }
  }
};

client_fleet::client_fleet(es::pool_options pool, fleet_options fleet)
    : pool_options_(std::move(pool)), fleet_(std::move(fleet)) {
  if (fleet_.processes <= 1) {
    local_ = std::make_unique<es::sse_client_pool>(pool_options_);
  } else {
    // A client process that ended must not kill this one at the next command.
    ::signal(SIGPIPE, SIG_IGN);
  }
}

client_fleet::~client_fleet() {
  stop();
}

void client_fleet::start(int n) {
  if (local_)
    return local_->start(n);
  static int fleets = 0;  // one file name per fleet of this process
  const int fleet_id = fleets++;
  char self[4096] = {};
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0)
    throw std::runtime_error("client fleet: cannot read /proc/self/exe");
  const auto k = static_cast<std::size_t>(fleet_.processes);
  const auto total = static_cast<std::size_t>(n);
  for (std::size_t p = 0; p < k; ++p) {
    auto c = std::make_unique<child>();
    c->first = total * p / k;
    c->count = total * (p + 1) / k - c->first;
    c->file = fleet_.work_dir + "/clients-" + std::to_string(::getpid()) + "-" +
              std::to_string(fleet_id) + "-" + std::to_string(p);
    es::pool_options po = pool_options_;
    po.index_base = pool_options_.index_base + c->first;
    po.max_starting = std::max(1, pool_options_.max_starting / fleet_.processes);
    po.source_address = "127.0.0." + std::to_string(2 + p % 8);
    {
      std::ofstream out(c->file);
      out << json{{"pool", po}, {"connections", c->count}}.dump();
      if (!out)
        throw std::runtime_error("client fleet: cannot write " + c->file);
    }
    c->counters = map_counters(c->file + ".counters", true);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("client fleet: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    std::string flag = "--client-process";
    char* argv[] = {self, flag.data(), c->file.data(), nullptr};
    const int rc = ::posix_spawn(&c->pid, self, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    c->control = fds[1];
    if (rc != 0) {
      ::close(fds[1]);
      c->control = -1;
      throw std::runtime_error("client fleet: cannot start a client process: " +
                               std::string(std::strerror(rc)));
    }
    children_.push_back(std::move(c));
  }
  // Each process's start() is bounded by start_bound() of its share; 10 s more for all of them,
  // started side by side.
  const auto deadline =
      std::chrono::steady_clock::now() + es::sse_client_pool::start_bound(n) + 10s;
  for (const auto& c : children_) {
    while (c->counters->started.load() == 0 && std::chrono::steady_clock::now() < deadline &&
           ::waitpid(c->pid, nullptr, WNOHANG) == 0) {
      std::this_thread::sleep_for(5ms);
    }
  }
}

void client_fleet::resume_reading() {
  if (local_)
    return local_->resume_reading();
  for (const auto& c : children_)
    c->say('r');
}

void client_fleet::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  if (local_) {
    local_->stop();
    return;
  }
  for (const auto& c : children_)
    c->say('s');
  for (const auto& c : children_) {
    // Stopping takes one pass of the process's epoll loop (50 ms) and writing its results.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int status = 0;
    pid_t r = 0;
    while ((r = ::waitpid(c->pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    if (r == 0) {
      ::kill(c->pid, SIGKILL);
      ::waitpid(c->pid, &status, 0);
    }
    bool collected = false;
    std::ifstream in(c->file + ".stats");
    if (in && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      try {
        const json all = json::parse(in);
        for (const auto& s : all)
          stats_.push_back(stats_from_json(s));
        collected = all.size() == c->count;
        collected = read_samples(c->file + ".samples", latencies_, sent_) && collected;
      } catch (const std::exception&) {
        collected = false;
      }
    }
    if (!collected) {
      // Its connections count as failed ones, each with the reason.
      stats_.resize(c->first + c->count);
      for (std::size_t i = c->first; i < c->first + c->count; ++i) {
        stats_[i].ended = true;
        stats_[i].error = "the client process failed";
      }
    }
    for (const char* suffix : {"", ".counters", ".stats", ".samples"})
      ::unlink((c->file + suffix).c_str());
  }
}

std::int64_t client_fleet::sum(int counter) const {
  std::int64_t n = 0;
  for (const auto& c : children_)
    n += c->counters->values[counter].load(std::memory_order_relaxed);
  return n;
}

std::uint64_t client_fleet::total_events() const {
  return local_ ? local_->total_events() : static_cast<std::uint64_t>(sum(events_counter));
}

int client_fleet::ok_count() const {
  return local_ ? local_->ok_count() : static_cast<int>(sum(ok_counter));
}

int client_fleet::ended_count() const {
  return local_ ? local_->ended_count() : static_cast<int>(sum(ended_counter));
}

int client_fleet::requests_sent() const {
  return local_ ? local_->requests_sent() : static_cast<int>(sum(sent_counter));
}

const std::vector<es::connection_stats>& client_fleet::stats() const {
  return local_ ? local_->stats() : stats_;
}

std::vector<std::int64_t>& client_fleet::latencies_ns() {
  return local_ ? local_->latencies_ns() : latencies_;
}

const std::vector<std::int64_t>& client_fleet::sent_ns() const {
  return local_ ? local_->sent_ns() : sent_;
}

int run_client_process(const std::string& file) {
  try {
    std::ifstream in(file);
    const json j = json::parse(in);
    const auto n = j.at("connections").get<int>();
    shared_counters* counters = map_counters(file + ".counters", false);
    es::sse_client_pool pool(j.at("pool").get<es::pool_options>());
    std::atomic<bool> done{false};
    auto publish = [&] {
      const std::int64_t now[counters_count] = {static_cast<std::int64_t>(pool.total_events()),
                                                pool.ok_count(), pool.ended_count(),
                                                pool.requests_sent()};
      for (int i = 0; i < counters_count; ++i)
        counters->values[i].store(now[i], std::memory_order_relaxed);
    };
    // The parent polls these counters (every 10 ms at most): published every 5 ms.
    std::thread publisher([&] {
      while (!done.load()) {
        publish();
        std::this_thread::sleep_for(5ms);
      }
    });
    pool.start(n);
    counters->started.store(1);
    // Commands on stdin: 'r' resume reading, 's' (or the parent's end) stop.
    char cmd = 0;
    while (true) {
      const ssize_t got = ::read(0, &cmd, 1);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0 || cmd == 's')
        break;
      if (cmd == 'r')
        pool.resume_reading();
    }
    pool.stop();
    done = true;
    publisher.join();
    publish();
    json all = json::array();
    for (const auto& s : pool.stats())
      all.push_back(stats_to_json(s));
    {
      std::ofstream out(file + ".stats");
      out << all.dump();
    }
    write_samples(file + ".samples", pool.latencies_ns(), pool.sent_ns());
    ::munmap(counters, sizeof(shared_counters));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "client process %s: %s\n", file.c_str(), e.what());
    return 1;
  }
}

}  // namespace bench

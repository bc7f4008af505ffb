// Operating the daemon, part 2: SIGHUP reloads (good and broken files), SIGTERM twice, the
// systemd notification protocol, and /readyz with and without a reachable Kafka.
//
// daemon_process needs an embedded cluster and passes no environment of its own, so the
// tests that need a non-embedded daemon or NOTIFY_SOCKET start it with spawned_daemon below.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"
#include "test_producer.hpp"

extern char** environ;

namespace eventstreams::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the file in one step: the daemon never reads a half-written config.
void write_config(const std::filesystem::path& path, const std::string& yaml) {
  auto tmp = path.string() + ".new";
  std::ofstream(tmp, std::ios::binary) << yaml;
  std::filesystem::rename(tmp, path);
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "eventstreams-ops-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  return tmpl;
}

// The daemon as a child with extra environment variables, whatever its Kafka. The binary is
// <build>/src/eventstreams; this test runs as <build>/tests/integration/integration_tests.
class spawned_daemon {
 public:
  spawned_daemon(const std::string& yaml, const std::vector<std::string>& extra_env = {})
      : dir_(make_temp_dir()) {
    auto binary =
        std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path() /
        "src" / "eventstreams";
    write_config(dir_ / "config.yaml", yaml);
    // Everything exec needs is built before fork: the child only calls async-signal-safe code.
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view v(*e);
      if (!v.starts_with("NOTIFY_SOCKET=") && !v.starts_with("WATCHDOG_"))
        env.emplace_back(v);
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string bin = binary.string(), flag = "--config", cfg = (dir_ / "config.yaml").string();
    char* argv[] = {bin.data(), flag.data(), cfg.data(), nullptr};
    int out = ::open((dir_ / "stdout.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = ::open((dir_ / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::close_range(3, ~0U, 0);
      ::execve(argv[0], argv, envp.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(err);
    if (pid_ <= 0)  // never let the destructor kill(-1, ...)
      throw std::runtime_error("fork failed");
  }
  ~spawned_daemon() {
    if (!status_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  spawned_daemon(const spawned_daemon&) = delete;

  std::string out() const { return slurp(dir_ / "stdout.txt"); }
  std::string err() const { return slurp(dir_ / "stderr.txt"); }
  void signal(int sig) const {
    if (!status_)
      ::kill(pid_, sig);
  }
  // The port from the complete "listening on http://HOST:PORT" line, 0 until it is printed.
  std::uint16_t port() const {
    auto text = out();
    auto at = text.find("listening on http://");
    auto nl = text.find('\n', at);
    if (at == std::string::npos || nl == std::string::npos)
      return 0;
    return static_cast<std::uint16_t>(std::stoi(text.substr(text.rfind(':', nl) + 1)));
  }
  std::uint16_t wait_port(std::chrono::milliseconds timeout = 20s) {
    wait_for([&] { return port() != 0 || wait_exit(0ms); }, timeout);
    if (port() == 0)
      throw std::runtime_error("daemon not listening (exit 127: no binary?); stderr:\n" + err());
    return port();
  }
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout) {
    wait_for(
        [&] {
          int st = 0;
          if (!status_ && ::waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = exit_status{WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                                  WIFSIGNALED(st) ? WTERMSIG(st) : 0, false};
          }
          return status_.has_value();
        },
        timeout, 5ms);
    return status_;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::optional<exit_status> status_;
};

// A daemon whose Kafka is unreachable (nothing listens on port 1), debug-logged.
std::string unreachable_yaml(const std::string& kafka_timeout,
                             const std::string& shutdown_timeout) {
  return "server:\n  listen: \"127.0.0.1:0\"\n  threads: 2\n  kafka_timeout: " + kafka_timeout +
         "\n  shutdown_timeout: " + shutdown_timeout +
         "\nkafka:\n  bootstrap_servers: \"127.0.0.1:1\"\n  readiness_interval: 1s\n"
         "logging:\n  level: debug\nstreams:\n  s1:\n    topics: [\"ops.unreachable\"]\n";
}

// That daemon with one client whose stream is stuck in its start-up lookup (60 s), and the
// readiness refresh stuck as well: what a Kafka outage looks like.
struct stuck_stream {
  spawned_daemon d;
  std::unique_ptr<sse_client> c;
  explicit stuck_stream(const std::string& shutdown_timeout)
      : d(unreachable_yaml("60s", shutdown_timeout)),
        c(std::make_unique<sse_client>(d.wait_port())) {
    c->send_request("GET", "/v2/stream/s1");
    if (!wait_for([&] { return d.err().find("open client=") != std::string::npos; }, 10s))
      throw std::runtime_error("the stream never opened: " + d.err());
  }
};

daemon_config reload_config(bool with_fresh) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.shutdown_timeout = "8s";
  cfg.streams = {{"old", {"reload.old"}, {}, false}};
  if (with_fresh)
    cfg.streams.push_back({"fresh", {"reload.fresh"}, {"fr"}, false});
  return cfg;
}

// The status of GET `target` (a stream's response never ends: only its header is read).
int status_of(std::uint16_t port, const std::string& target) {
  sse_client c(port);
  c.send_request("GET", target);
  return c.read_head() ? c.head().status : 0;
}

TEST(Operations, SighupAddsAStreamWhileOpenStreamsKeepStreaming) {
  daemon_process d(reload_config(false));
  auto old_client = open_stream(d.port(), "/v2/stream/old");
  auto p = std::make_unique<test_producer>(d.bootstrap());
  p->produce("reload.old", 0, R"({"n":1})");
  ASSERT_TRUE(p->flush());
  ASSERT_TRUE(old_client->read_events(1)) << describe(*old_client);
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);

  write_config(d.dir() / "config.yaml", reload_config(true).to_yaml());
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return d.stderr_text().find("reloaded") != std::string::npos; }, 10s))
      << d.stderr_text();

  auto list = parse_json(http_get(d.port(), "/v2/streams").body);
  ASSERT_TRUE(list.contains("fresh")) << list.dump();
  EXPECT_EQ(list["fresh"]["topics"], nlohmann::json::array({"reload.fresh"}));
  EXPECT_EQ(list["fresh"]["aliases"], nlohmann::json::array({"fr"}));
  EXPECT_NE(http_get(d.port(), "/?spec").body.find("/v2/stream/fresh"), std::string::npos);

  // The embedded cluster created the new topic: the new stream opens and delivers.
  auto fresh_client = open_stream(d.port(), "/v2/stream/fr");
  auto fresh_rec = p->produce("reload.fresh", 0, R"({"n":2})");
  auto old_rec = p->produce("reload.old", 0, R"({"n":3})");
  ASSERT_TRUE(p->flush());
  ASSERT_TRUE(fresh_client->read_events(1)) << describe(*fresh_client);
  EXPECT_EQ(parse_json(fresh_client->events()[0].data), expected_data(p->record(fresh_rec)));
  // The connection opened before the reload kept its map and kept streaming.
  ASSERT_TRUE(old_client->read_events(2)) << describe(*old_client);
  EXPECT_EQ(parse_json(old_client->events()[1].data), expected_data(p->record(old_rec)));
  p.reset();

  // SIGTERM with both clients connected: both end cleanly, exit 0 within shutdown_timeout.
  auto signalled = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  for (auto* c : {old_client.get(), fresh_client.get()}) {
    ASSERT_TRUE(c->read_to_eof(10s)) << describe(*c);
    EXPECT_TRUE(c->terminator_received()) << describe(*c);
  }
  auto status = d.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 8s);
}

TEST(Operations, BrokenReloadIsLoggedAndKeepsThePreviousStreams) {
  daemon_process d(reload_config(false));
  auto old_client = open_stream(d.port(), "/v2/stream/old");
  const auto config = d.dir() / "config.yaml";
  auto reload_and_wait = [&](const std::string& yaml, const std::string& logged, std::size_t n) {
    write_config(config, yaml);
    d.signal(SIGHUP);
    return wait_for([&] { return occurrences(d.stderr_text(), logged) >= n; }, 10s);
  };

  // Invalid YAML, then a valid one with an unknown key: both name the new stream "fresh".
  ASSERT_TRUE(reload_and_wait("streams:\n  fresh:\n    topics: [\"reload.fresh\"\n  old: {\n",
                              "reload failed", 1))
      << d.stderr_text();
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);
  EXPECT_EQ(status_of(d.port(), "/v2/stream/old"), 200);

  auto with_bogus = reload_config(true).to_yaml();
  with_bogus.insert(with_bogus.find("server:\n") + 8, "  bogus_key: 1\n");
  ASSERT_TRUE(reload_and_wait(with_bogus, "reload failed", 2)) << d.stderr_text();
  auto failures = d.stderr_text();
  EXPECT_NE(failures.find("bogus_key"), std::string::npos) << failures;
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 400);
  EXPECT_FALSE(parse_json(http_get(d.port(), "/v2/streams").body).contains("fresh"));
  EXPECT_EQ(status_of(d.port(), "/v2/stream/old"), 200);
  EXPECT_EQ(occurrences(failures, "reloaded"), 0u);

  // The failures changed nothing: a good file still reloads, and the old stream still streams.
  ASSERT_TRUE(reload_and_wait(reload_config(true).to_yaml(), "reloaded", 1)) << d.stderr_text();
  EXPECT_EQ(status_of(d.port(), "/v2/stream/fresh"), 200);
  test_producer p(d.bootstrap());
  auto rec = p.produce("reload.old", 0, R"({"after":"reloads"})");
  ASSERT_TRUE(p.flush());
  ASSERT_TRUE(old_client->read_events(1)) << describe(*old_client);
  EXPECT_EQ(parse_json(old_client->events()[0].data), expected_data(p.record(rec)));
}

// The receiving end of sd_notify(): an AF_UNIX datagram socket, as systemd provides.
struct notify_socket {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  explicit notify_socket(const std::filesystem::path& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind " + path.string() + ": " + std::strerror(errno));
  }
  ~notify_socket() { ::close(fd); }
  // The assignments ("READY=1", ...) of every datagram that arrives within `wait`.
  std::vector<std::string> receive(std::chrono::milliseconds wait) const {
    std::vector<std::string> out;
    pollfd p{fd, POLLIN, 0};
    char buf[4096];
    ssize_t n;
    while (::poll(&p, 1, out.empty() ? static_cast<int>(wait.count()) : 0) > 0 &&
           (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      std::istringstream lines(std::string(buf, static_cast<std::size_t>(n)));
      for (std::string line; std::getline(lines, line);)
        out.push_back(line);
    }
    return out;
  }
};

TEST(Operations, SystemdNotificationsFollowTheLifecycle) {
  auto sock_dir = make_temp_dir();
  notify_socket sock(sock_dir / "notify");
  spawned_daemon d(
      "server:\n  listen: \"127.0.0.1:0\"\n  threads: 2\n  heartbeat_interval: 0\n"
      "kafka:\n  bootstrap_servers: embedded\n  readiness_interval: 1s\n"
      "  embedded:\n    brokers: 1\n    demo_rate: 0\n"
      "streams:\n  s1:\n    topics: [\"ops.notify\"]\n",
      {"NOTIFY_SOCKET=" + (sock_dir / "notify").string(), "WATCHDOG_USEC=200000"});
  struct note {
    std::string text;
    std::chrono::steady_clock::time_point at;
    bool listening_printed;  // when it arrived
  };
  std::vector<note> notes;
  auto pump = [&] {
    for (auto& t : sock.receive(10ms))
      notes.push_back({t, std::chrono::steady_clock::now(), d.port() != 0});
  };
  // Index of the first note `text` after index `from`, or -1.
  auto find = [&](const std::string& text, std::size_t from = 0) {
    auto it = std::find_if(notes.begin() + static_cast<std::ptrdiff_t>(from), notes.end(),
                           [&](const note& n) { return n.text == text; });
    return it == notes.end() ? -1 : static_cast<int>(it - notes.begin());
  };
  auto await = [&](const std::string& text, std::size_t from = 0) {
    wait_for([&] { return pump(), find(text, from) >= 0; }, 20s, 0ms);
    return find(text, from);
  };

  int ready = await("READY=1");
  ASSERT_GE(ready, 0) << "no READY=1; stderr:\n" << d.err();
  EXPECT_TRUE(notes[static_cast<std::size_t>(ready)].listening_printed);
  EXPECT_EQ(http_get(d.port(), "/healthz").head.status, 200);

  // WATCHDOG_USEC=200000: a ping every 100 ms from the I/O loop.
  const auto ready_at = notes[static_cast<std::size_t>(ready)].at;
  auto watchdogs = [&] {
    return std::count_if(notes.begin() + ready, notes.end(), [&](const note& n) {
      return n.text == "WATCHDOG=1" && n.at - ready_at <= 1500ms;
    });
  };
  wait_for([&] { return pump(), watchdogs() >= 3; }, 2s, 0ms);
  EXPECT_GE(watchdogs(), 3);

  auto status_with = [&](const std::string& part) {
    return std::any_of(notes.begin(), notes.end(), [&](const note& n) {
      return n.text.starts_with("STATUS=") && n.text.find(part) != std::string::npos;
    });
  };
  EXPECT_TRUE(status_with("1 streams, 0 connections")) << "no STATUS= line at start";
  {
    // The STATUS line follows the connections (it is refreshed with readiness, every ~333 ms).
    auto c = open_stream(d.port(), "/v2/stream/s1");
    EXPECT_TRUE(wait_for([&] { return pump(), status_with("1 connections"); }, 10s, 0ms));
  }

  const auto before_hup = notes.size();
  d.signal(SIGHUP);
  int reloading = await("RELOADING=1", before_hup);
  ASSERT_GE(reloading, 0) << d.err();
  EXPECT_GE(await("READY=1", static_cast<std::size_t>(reloading) + 1), 0);

  const auto before_term = notes.size();
  d.signal(SIGTERM);
  EXPECT_GE(await("STOPPING=1", before_term), 0);
  auto status = d.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << d.err();
  std::error_code ec;
  std::filesystem::remove_all(sock_dir, ec);
}

TEST(Operations, ReadyzIsReadyWithTheEmbeddedCluster) {
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.streams = {{"s1", {"ops.ready"}, {}, false}};
  daemon_process d(cfg);
  http_result res;
  EXPECT_TRUE(
      wait_for([&] { return (res = http_get(d.port(), "/readyz")).head.status == 200; }, 10s, 50ms))
      << res.body;
  EXPECT_EQ(parse_json(res.body), nlohmann::json({{"status", "ready"}}));
}

TEST(Operations, ReadyzIs503WithAReasonWhenKafkaIsUnreachable) {
  spawned_daemon d(unreachable_yaml("500ms", "5s"));
  auto port = d.wait_port();
  // Wait for two failed refreshes (every third of readiness_interval, each up to 500 ms).
  ASSERT_TRUE(wait_for([&] { return occurrences(d.err(), "readiness:") >= 2; }, 15s)) << d.err();
  auto res = http_get(port, "/readyz");
  EXPECT_EQ(res.head.status, 503);
  EXPECT_TRUE(res.head.get("Retry-After").has_value());
  auto body = parse_json(res.body);
  EXPECT_EQ(body.value("type", ""), "kafka_unavailable") << res.body;
  EXPECT_FALSE(body.value("detail", "").empty()) << res.body;
  EXPECT_EQ(http_get(port, "/healthz").head.status, 200);  // alive, just not ready
  EXPECT_EQ(status_of(port, "/v2/stream/s1"), 503);        // streams cannot start either

  d.signal(SIGTERM);
  auto status = d.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << d.err();
}

TEST(Operations, SigtermExitsWithinShutdownTimeoutWhileKafkaLookupsHang) {
  stuck_stream s("1s");
  auto signalled = std::chrono::steady_clock::now();
  s.d.signal(SIGTERM);
  // README: "exit 0 within server.shutdown_timeout" (1 s here; the lookups take 60 s).
  auto status = s.d.wait_exit(8s);
  ASSERT_TRUE(status.has_value()) << "still running 8 s after SIGTERM:\n" << s.d.err();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 4s);
  EXPECT_TRUE(status->exited && status->code == 0) << s.d.err();
}

TEST(Operations, SecondSigtermWhileDrainingExitsAtOnce) {
  stuck_stream s("60s");  // the stuck stream keeps the drain waiting
  s.d.signal(SIGTERM);
  ASSERT_TRUE(wait_for(
      [&] { return s.d.err().find("shutting down: ending 1 streams") != std::string::npos; }, 10s))
      << s.d.err();
  // Still draining (the point of the test, not a synchronisation): no exit within 500 ms.
  ASSERT_FALSE(s.d.wait_exit(500ms).has_value()) << s.d.err();

  auto second = std::chrono::steady_clock::now();
  s.d.signal(SIGTERM);
  auto status = s.d.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "still running 10 s after the second SIGTERM";
  EXPECT_LT(std::chrono::steady_clock::now() - second, 3s);
  EXPECT_TRUE(!status->exited || status->code != 0) << "a forced exit must not report success";
  EXPECT_NE(s.d.err().find("second signal"), std::string::npos) << s.d.err();
}

}  // namespace
}  // namespace eventstreams::test

// The systemd notification protocol: READY=1 only once the port is bound, WATCHDOG=1 from the
// I/O loop, a STATUS= line that follows the connections, RELOADING=1 around SIGHUP and
// STOPPING=1 at shutdown, on a socket of the test's as NOTIFY_SOCKET.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <sstream>

#include "daemon_process.hpp"
#include "sse_client.hpp"
#include "stream_checks.hpp"

namespace eventstreams::test {
namespace {

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "eventstreams-sd-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  return tmpl;
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

TEST(Systemd, NotificationsFollowTheLifecycle) {
  auto sock_dir = make_temp_dir();
  notify_socket sock(sock_dir / "notify");
  daemon_config cfg;
  cfg.brokers = 1;
  cfg.kafka_settings = {{"readiness_interval", "1s"}};
  cfg.streams = {{"s1", {"ops.notify"}, {}, false}};
  daemon_options opts;
  opts.env = {"NOTIFY_SOCKET=" + (sock_dir / "notify").string(), "WATCHDOG_USEC=200000"};
  opts.wait_ready = false;  // READY=1 must come once the port is printed: watched below
  daemon_process d(cfg, opts);
  struct note {
    std::string text;
    std::chrono::steady_clock::time_point at;
    bool listening_printed;  // when it arrived
  };
  std::vector<note> notes;
  auto pump = [&] {
    for (auto& t : sock.receive(10ms))
      notes.push_back({t, std::chrono::steady_clock::now(), d.listening()});
  };
  // Index of the first note `text` after index `from`, or -1.
  auto find = [&](const std::string& text, std::size_t from = 0) {
    auto it = std::find_if(notes.begin() + static_cast<std::ptrdiff_t>(from), notes.end(),
                           [&](const note& n) { return n.text == text; });
    return it == notes.end() ? -1 : static_cast<int>(it - notes.begin());
  };
  // Each notification follows its cause by milliseconds (start-up: under a second); 20 s only
  // ends a test that already failed.
  auto await = [&](const std::string& text, std::size_t from = 0) {
    wait_for([&] { return pump(), find(text, from) >= 0; }, 20s, 0ms);
    return find(text, from);
  };

  int ready = await("READY=1");
  ASSERT_GE(ready, 0) << "no READY=1; stderr:\n" << d.stderr_text();
  EXPECT_TRUE(notes[static_cast<std::size_t>(ready)].listening_printed);
  EXPECT_EQ(http_get(d.port(), "/healthz").head.status, 200);

  // WATCHDOG_USEC=200000: a ping every 100 ms from the I/O loop. At least 3 within 3 s of
  // READY=1 (30 pings' worth, by the notes' arrival times): only a loop that pings less than
  // once a second, which systemd would have restarted long before, fails.
  const auto ready_at = notes[static_cast<std::size_t>(ready)].at;
  auto watchdogs = [&] {
    return std::count_if(notes.begin() + ready, notes.end(), [&](const note& n) {
      return n.text == "WATCHDOG=1" && n.at - ready_at <= 3s;
    });
  };
  wait_for([&] { return pump(), watchdogs() >= 3; }, 4s, 0ms);
  EXPECT_GE(watchdogs(), 3);

  auto status_with = [&](const std::string& part) {
    return std::any_of(notes.begin(), notes.end(), [&](const note& n) {
      return n.text.starts_with("STATUS=") && n.text.find(part) != std::string::npos;
    });
  };
  EXPECT_TRUE(status_with("1 streams, 0 connections")) << "no STATUS= line at start";
  {
    // The STATUS line follows the connections (it is refreshed with readiness, every ~333 ms;
    // 10 s are 30 refreshes).
    auto c = open_stream(d.port(), "/v2/stream/s1");
    EXPECT_TRUE(wait_for([&] { return pump(), status_with("1 connections"); }, 10s, 0ms));
  }

  const auto before_hup = notes.size();
  d.signal(SIGHUP);
  int reloading = await("RELOADING=1", before_hup);
  ASSERT_GE(reloading, 0) << d.stderr_text();
  EXPECT_GE(await("READY=1", static_cast<std::size_t>(reloading) + 1), 0);

  const auto before_term = notes.size();
  d.signal(SIGTERM);
  EXPECT_GE(await("STOPPING=1", before_term), 0);
  // 15 s: three times the shutdown_timeout (5 s); with no stream open the exit is immediate.
  auto status = d.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << d.stderr_text();
  std::error_code ec;
  std::filesystem::remove_all(sock_dir, ec);
}

}  // namespace
}  // namespace eventstreams::test

// Child-process control and /proc sampling for the load benchmark.
#include "daemon_runner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace bench {
namespace {

// Daemons to kill from a signal handler: lock-free atomics are async-signal-safe.
std::array<std::atomic<pid_t>, 8> live_daemons{};

void remember(pid_t pid) {
  for (auto& slot : live_daemons) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid))
      return;
  }
}

void forget(pid_t pid) {
  for (auto& slot : live_daemons) {
    pid_t expected = pid;
    slot.compare_exchange_strong(expected, 0);
  }
}

int count_entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return 0;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.')
      ++n;
  }
  ::closedir(d);
  return n;
}

long status_kb(const std::string& status, const char* key) {
  auto at = status.find(key);
  if (at == std::string::npos)
    return 0;
  return std::strtol(status.c_str() + at + std::strlen(key), nullptr, 10);
}

void on_fatal_signal(int sig) {
  kill_all_daemons();
  const char* msg = sig == SIGALRM ? "load_bench: watchdog expired, daemons killed\n"
                                   : "load_bench: interrupted, daemons killed\n";
  [[maybe_unused]] auto n = ::write(2, msg, std::strlen(msg));
  ::_exit(sig == SIGALRM ? 3 : 130);
}

// utime + stime in clock ticks from the text of a /proc/.../stat file.
unsigned long long stat_ticks(const std::string& path, std::string* comm = nullptr) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto open_paren = text.find('(');
  auto close_paren = text.rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos)
    return 0;
  if (comm)
    *comm = text.substr(open_paren + 1, close_paren - open_paren - 1);
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After "(comm) " come fields 3..; utime is field 14 and stime field 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return utime + stime;
}

}  // namespace

proc_sample sample_process(pid_t pid) {
  proc_sample s;
  s.at = std::chrono::steady_clock::now();
  const std::string base = "/proc/" + std::to_string(pid);
  const auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpu_seconds = static_cast<double>(stat_ticks(base + "/stat")) / tick;
  if (DIR* d = ::opendir((base + "/task").c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      ++s.threads;
      std::string comm;
      auto ticks = stat_ticks(base + "/task/" + e->d_name + "/stat", &comm);
      if (comm == "rdk:mock")
        s.mock_cpu_seconds += static_cast<double>(ticks) / tick;
    }
    ::closedir(d);
  }
  {
    std::ifstream in(base + "/status");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    s.rss_kb = status_kb(text, "VmRSS:");
    s.hwm_kb = status_kb(text, "VmHWM:");
  }
  s.fds = count_entries(base + "/fd");
  return s;
}

double cpu_percent(const proc_sample& from, const proc_sample& to) {
  const double wall = std::chrono::duration<double>(to.at - from.at).count();
  return wall > 0 ? 100.0 * (to.cpu_seconds - from.cpu_seconds) / wall : 0.0;
}

double mock_cpu_percent(const proc_sample& from, const proc_sample& to) {
  const double wall = std::chrono::duration<double>(to.at - from.at).count();
  return wall > 0 ? 100.0 * (to.mock_cpu_seconds - from.mock_cpu_seconds) / wall : 0.0;
}

daemon_runner::daemon_runner(std::string binary, std::string work_dir, std::string name)
    : binary_(std::move(binary)), work_dir_(std::move(work_dir)), name_(std::move(name)) {
  config_path_ = work_dir_ + "/" + name_ + ".yaml";
  log_path_ = work_dir_ + "/" + name_ + ".log";
}

daemon_runner::~daemon_runner() {
  stop();
}

bool daemon_runner::start(const std::string& config_yaml, std::chrono::milliseconds timeout) {
  {
    std::ofstream out(config_path_, std::ios::trunc);
    out << config_yaml;
    if (!out) {
      error_ = "cannot write " + config_path_;
      return false;
    }
  }
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    error_ = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126);
    ::dup2(out_pipe[1], 1);
    int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0)
      ::dup2(log, 2);
    std::string flag = "--config";
    char* argv[] = {binary_.data(), flag.data(), config_path_.data(), nullptr};
    ::execv(binary_.c_str(), argv);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  pid_ = pid;
  out_fd_ = out_pipe[0];
  remember(pid);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error_ = "the daemon did not print its listening address in time";
      return false;
    }
    pollfd p{out_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 200)));
    if (r < 0 && errno != EINTR) {
      error_ = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (r > 0) {
      char buf[1024];
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) {
        error_ = "the daemon closed its stdout before listening (see " + log_path_ + ")";
        return false;
      }
      text.append(buf, static_cast<std::size_t>(n));
    }
    if (auto b = text.find("bootstrap.servers="); b != std::string::npos) {
      auto e = text.find('\n', b);
      if (e != std::string::npos)
        bootstrap_ = text.substr(b + 18, e - b - 18);
    }
    if (auto l = text.find("listening on http://"); l != std::string::npos) {
      auto e = text.find('\n', l);
      if (e != std::string::npos) {
        auto colon = text.rfind(':', e);
        port_ = static_cast<std::uint16_t>(std::strtoul(text.c_str() + colon + 1, nullptr, 10));
        return port_ != 0;
      }
    }
    if (!alive()) {
      error_ = "the daemon exited with status " + std::to_string(exit_status_) + " (see " +
               log_path_ + ")";
      return false;
    }
  }
}

bool daemon_runner::alive() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    forget(pid_);
    pid_ = -1;
    return false;
  }
  return true;
}

void daemon_runner::stop(std::chrono::milliseconds grace) {
  if (pid_ > 0 && alive()) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (alive() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ > 0) {
      std::fprintf(stderr, "# %s: no exit %lld ms after SIGTERM: SIGKILL\n", name_.c_str(),
                   static_cast<long long>(grace.count()));
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_status_ = 128 + SIGKILL;
      forget(pid_);
      pid_ = -1;
    }
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
  }
}

void kill_all_daemons() noexcept {
  for (auto& slot : live_daemons) {
    pid_t pid = slot.load();
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
}

void install_watchdog(unsigned seconds) {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGALRM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::alarm(seconds);
}

}  // namespace bench

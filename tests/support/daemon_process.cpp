// Child-process management for the daemon under test.
#include "daemon_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#ifndef EVENTSTREAMS_BINARY
#error "EVENTSTREAMS_BINARY must name the daemon binary"
#endif

extern char** environ;

namespace eventstreams::test {
namespace {

// Daemons to kill from a signal handler: lock-free atomics are async-signal-safe.
std::array<std::atomic<pid_t>, 64> live_daemons{};

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

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i ? ", \"" : "\"") + items[i] + "\"";
  }
  return out + "]";
}

// The value after `prefix` on a complete line of `text` that starts with it, if any.
std::optional<std::string> line_value(const std::string& text, const std::string& prefix) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      return std::nullopt;  // only complete lines count
    std::string line = text.substr(pos, nl - pos);
    if (line.rfind(prefix, 0) == 0)
      return line.substr(prefix.size());
    pos = nl + 1;
  }
  return std::nullopt;
}

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "eventstreams-it-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  return tmpl;
}

daemon_options with_timeout(std::chrono::milliseconds ready_timeout) {
  daemon_options o;
  o.ready_timeout = ready_timeout;
  return o;
}

}  // namespace

daemon_config on_cluster(const std::string& bootstrap, std::vector<stream_def> streams) {
  daemon_config cfg;
  cfg.bootstrap_servers = bootstrap;
  cfg.streams = std::move(streams);
  return cfg;
}

std::string daemon_config::default_fanout_mode() {
  const char* mode = std::getenv("EVENTSTREAMS_IT_MODE");
  return mode ? mode : "";
}

std::string daemon_config::to_yaml() const {
  std::ostringstream y;
  y << "server:\n"
    << "  listen: \"" << listen << "\"\n"
    << "  threads: " << threads << "\n"
    << "  heartbeat_interval: " << heartbeat_interval << "\n"
    << "  shutdown_timeout: " << shutdown_timeout << "\n";
  if (!kafka_timeout.empty())
    y << "  kafka_timeout: " << kafka_timeout << "\n";
  for (const auto& [name, value] : server_settings)
    y << "  " << name << ": " << value << "\n";
  y << "kafka:\n"
    << "  bootstrap_servers: \"" << bootstrap_servers << "\"\n";
  for (const auto& [name, value] : kafka_settings)
    y << "  " << name << ": " << value << "\n";
  y << "  properties:\n"
    << "    fetch.wait.max.ms: \"" << fetch_wait_max_ms << "\"\n";
  for (const auto& [name, value] : kafka_properties)
    y << "    " << name << ": \"" << value << "\"\n";
  y << "  embedded:\n"
    << "    brokers: " << brokers << "\n"
    << "    partitions: " << partitions << "\n"
    << "    demo_rate: 0\n"
    << (fanout_mode.empty() && fanout_settings.empty() ? "" : "fanout:\n")
    << (fanout_mode.empty() ? "" : "  mode: " + fanout_mode + "\n") << fanout_settings
    << "logging:\n"
    << "  level: "
    << (std::getenv("EVENTSTREAMS_IT_LOG_LEVEL") ? std::getenv("EVENTSTREAMS_IT_LOG_LEVEL")
                                                 : log_level.c_str())
    << "\n";
  if (!stream_config_settings.empty()) {
    y << "stream_config:\n";
    for (const auto& [name, value] : stream_config_settings)
      y << "  " << name << ": " << value << "\n";
  }
  if (!filter_settings.empty()) {
    y << "filter:\n";
    for (const auto& [name, value] : filter_settings)
      y << "  " << name << ": " << value << "\n";
  }
  y << "streams:\n";
  for (const auto& s : streams) {
    y << "  " << s.name << ":\n"
      << "    topics: " << yaml_list(s.topics) << "\n"
      << "    description: \"test stream " << s.name << "\"\n";
    if (!s.aliases.empty())
      y << "    aliases: " << yaml_list(s.aliases) << "\n";
    y << "    canary_events: " << (s.pass_canary ? "pass" : "drop") << "\n";
    if (!s.fanout.empty())
      y << "    fanout: " << s.fanout << "\n";
  }
  return y.str();
}

daemon_process::daemon_process(const std::string& yaml, std::chrono::milliseconds ready_timeout)
    : daemon_process(yaml, with_timeout(ready_timeout)) {}

daemon_process::daemon_process(const std::string& yaml, daemon_options opts)
    : opts_(std::move(opts)) {
  if (opts_.dir.empty()) {
    dir_ = make_temp_dir();
    remove_dir_ = std::getenv("EVENTSTREAMS_IT_KEEP") == nullptr;
  } else {
    dir_ = opts_.dir;
    std::filesystem::create_directories(dir_);
  }
  const auto config_path = (dir_ / "config.yaml").string();
  const auto out_path = (dir_ / "stdout.txt").string();
  const auto err_path = (dir_ / "stderr.txt").string();
  {
    std::ofstream cfg(config_path, std::ios::binary | std::ios::trunc);
    cfg << yaml;
    if (!cfg)
      throw std::runtime_error("cannot write " + config_path);
  }
  // Everything exec needs is built before fork: the child only makes async-signal-safe calls.
  std::string binary = opts_.binary.empty() ? std::string(EVENTSTREAMS_BINARY) : opts_.binary;
  std::string flag = "--config", config_arg = config_path;
  char* argv[] = {binary.data(), flag.data(), config_arg.data(), nullptr};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!v.starts_with("NOTIFY_SOCKET=") && !v.starts_with("WATCHDOG_"))
      env.emplace_back(v);
  }
  env.insert(env.end(), opts_.env.begin(), opts_.env.end());
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0)
    throw std::runtime_error("cannot create output files in " + dir_.string());

  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test runner or benchmark
    if (::getppid() != parent)
      ::_exit(126);  // the parent died before prctl
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
      ::dup2(null_fd, STDIN_FILENO);
    // The runner's sockets (clients, producers) must not live on in the daemon.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd)
        ::close(fd);
    }
    ::execve(argv[0], argv, envp.data());
    ::_exit(127);
  }
  remember(pid_);
  ::close(out_fd);
  ::close(err_fd);
  if (opts_.wait_ready)
    wait_ready(opts_.ready_timeout);
}

bool daemon_process::listening() {
  if (port_ != 0)
    return true;
  std::string out = stdout_text();
  auto listen = line_value(out, "listening on http://");
  if (!listen)
    return false;
  auto colon = listen->rfind(':');
  if (colon == std::string::npos)
    return false;
  // An embedded cluster prints its address before the listening line.
  bootstrap_ = line_value(out, "embedded kafka bootstrap.servers=").value_or("");
  // An admin address is printed before the listening line too.
  if (auto admin = line_value(out, "admin on http://"))
    admin_port_ = static_cast<std::uint16_t>(std::stoi(admin->substr(admin->rfind(':') + 1)));
  port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(colon + 1)));
  return true;
}

void daemon_process::wait_ready(std::chrono::milliseconds timeout) {
  auto t0 = std::chrono::steady_clock::now();
  bool ready =
      wait_for([&] { return reap(false) || listening(); }, timeout, std::chrono::milliseconds(5));
  trace("daemon start", t0);
  if (!ready || status_) {
    std::string why = status_ ? "exited early" : "not ready in time";
    stop(std::chrono::seconds(2));
    throw std::runtime_error("eventstreams " + why + "; stdout:\n" + stdout_text() + "\nstderr:\n" +
                             stderr_text());
  }
}

daemon_process::~daemon_process() {
  if (pid_ > 0 && !status_) {
    // Every test ends with an orderly shutdown: it must exit 0 in time, by itself. 10 s: the
    // shutdown_timeout daemon_config renders (5 s) plus 5 s for the process to end.
    auto t0 = std::chrono::steady_clock::now();
    auto s = stop(std::chrono::seconds(10));
    trace("daemon stop", t0);
    if (opts_.expect_clean_exit && (s.killed_by_us || !s.exited || s.code != 0)) {
      ADD_FAILURE() << "eventstreams did not exit cleanly on SIGTERM ("
                    << (s.killed_by_us ? "hung, killed with SIGKILL"
                        : s.exited     ? "exit code " + std::to_string(s.code)
                                       : "signal " + std::to_string(s.signal))
                    << "); stderr:\n"
                    << stderr_text();
    }
  }
  std::error_code ec;
  if (remove_dir_)
    std::filesystem::remove_all(dir_, ec);
}

std::string daemon_process::stdout_text() const {
  return read_file(dir_ / "stdout.txt");
}
std::string daemon_process::stderr_text() const {
  return read_file(dir_ / "stderr.txt");
}

void daemon_process::signal(int sig) const {
  if (!status_ && pid_ > 0)
    ::kill(pid_, sig);
}

bool daemon_process::reap(bool block) {
  if (status_)
    return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_)
    return false;
  forget(pid_);
  exit_status s;
  if (WIFEXITED(st)) {
    s.exited = true;
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
  }
  status_ = s;
  return true;
}

std::optional<exit_status> daemon_process::wait_exit(std::chrono::milliseconds timeout) {
  if (wait_for([&] { return reap(false); }, timeout, std::chrono::milliseconds(5))) {
    return status_;
  }
  return std::nullopt;
}

exit_status daemon_process::stop(std::chrono::milliseconds timeout) {
  if (status_)
    return *status_;
  ::kill(pid_, SIGTERM);
  if (auto s = wait_exit(timeout))
    return *s;
  ::kill(pid_, SIGKILL);
  reap(true);
  status_->killed_by_us = true;
  return *status_;
}

proc_counts sample_counts(pid_t pid) {
  return {count_fds(pid), count_threads(pid)};
}

std::optional<proc_counts> settled_counts(pid_t pid, std::chrono::milliseconds timeout, int quiet) {
  proc_counts last = sample_counts(pid);
  int same = 0;
  bool ok = wait_for(
      [&] {
        proc_counts now = sample_counts(pid);
        same = now == last ? same + 1 : 0;
        last = now;
        return same >= quiet;
      },
      timeout, std::chrono::milliseconds(50));
  if (!ok)
    return std::nullopt;
  return last;
}

void kill_all_daemons() noexcept {
  for (auto& slot : live_daemons) {
    pid_t pid = slot.load();
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
}

void trace(const char* what, std::chrono::steady_clock::time_point since) {
  if (std::getenv("EVENTSTREAMS_IT_TRACE") == nullptr)
    return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  since);
  std::fprintf(stderr, "[trace] %s: %lld ms\n", what, static_cast<long long>(ms.count()));
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
              std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(interval);
  }
}

command_result run_daemon_binary(const std::vector<std::string>& args,
                                 const std::filesystem::path& out_file,
                                 std::chrono::milliseconds timeout) {
  std::vector<char*> argv{const_cast<char*>(EVENTSTREAMS_BINARY)};
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  command_result r;
  if (rc != 0)
    return r;
  int status = 0;
  const bool done = wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  r.code = done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out_file);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace eventstreams::test

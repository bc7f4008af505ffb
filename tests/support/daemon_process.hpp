// The eventstreams daemon as a child process, for the integration tests and the load benchmark:
// writes its YAML configuration to a directory, captures stdout/stderr to files there, and
// waits (bounded, by polling) until it printed its listening port (and, with an embedded
// cluster, the cluster's bootstrap address, which it prints first).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proc_stats.hpp"  // count_fds, count_threads: most users of a daemon sample it

namespace eventstreams::test {

// One configured stream.
struct stream_def {
  std::string name;
  std::vector<std::string> topics;
  std::vector<std::string> aliases;
  bool pass_canary = false;
  std::string fanout{};  // the stream's own fanout (docs/api.md §11); "" = fanout.mode
};

// The parts of the configuration the tests vary; to_yaml() renders a complete file with an
// embedded cluster (unless `bootstrap_servers` names real brokers, e.g. a test-owned
// mock_cluster), no demo producer and a low fetch.wait.max.ms.
struct daemon_config {
  std::vector<stream_def> streams;
  unsigned brokers = 3;
  unsigned partitions = 1;
  unsigned threads = 2;
  std::string heartbeat_interval = "0";
  std::string shutdown_timeout = "5s";
  std::string fetch_wait_max_ms = "20";
  std::string log_level = "info";
  std::string bootstrap_servers = "embedded";  // or a broker list, e.g. mock_cluster::bootstrap()
  // fanout.mode: per_connection or shared (docs/api.md §11). The default comes from the
  // environment variable EVENTSTREAMS_IT_MODE, so that ctest runs the same suites in both
  // modes (tests/integration/CMakeLists.txt); "" = the daemon's default.
  std::string fanout_mode = default_fanout_mode();
  static std::string default_fanout_mode();
  // More fanout settings (lines of YAML, each indented by two and ending in '\n', e.g.
  // "  ring:\n    max_bytes: 1MiB\n"): they apply in the shared mode.
  std::string fanout_settings;
  std::string kafka_timeout;           // server.kafka_timeout; "" = the daemon's default
  std::string listen = "127.0.0.1:0";  // server.listen
  // More server settings (name, YAML value), e.g. {"stall_timeout", "3s"}.
  std::vector<std::pair<std::string, std::string>> server_settings;
  // More kafka settings (name, YAML value), e.g. {"readiness_interval", "1s"}.
  std::vector<std::pair<std::string, std::string>> kafka_settings;
  // More kafka.properties for the daemon's consumers (name, value).
  std::vector<std::pair<std::string, std::string>> kafka_properties;

  // The stream_config section (name, YAML value), e.g. {"uri", "\"http://...\""}; none = no
  // section (docs/api.md, "Streams from EventStreamConfig").
  std::vector<std::pair<std::string, std::string>> stream_config_settings;
  // The filter section (name, YAML value), e.g. {"max_compiled", "2"}; none = no section.
  std::vector<std::pair<std::string, std::string>> filter_settings;

  std::string to_yaml() const;
  bool embedded() const { return bootstrap_servers == "embedded"; }
};

// The configuration of a daemon on a test-owned cluster (e.g. mock_cluster::bootstrap()) that
// serves `streams`; the other settings as daemon_config has them.
daemon_config on_cluster(const std::string& bootstrap, std::vector<stream_def> streams);

// How to run the daemon.
struct daemon_options {
  std::string binary;  // "" = the eventstreams binary of this build
  // Where config.yaml, stdout.txt and stderr.txt go. "" = a new temporary directory, removed
  // with the daemon_process (kept when EVENTSTREAMS_IT_KEEP is set); a named one is created if
  // needed and kept.
  std::filesystem::path dir;
  // NAME=VALUE entries added to the child's environment (which is this process's, without
  // NOTIFY_SOCKET and WATCHDOG_*: the daemon must never talk to our own service manager).
  std::vector<std::string> env;
  // Whether the constructor waits until the daemon listens (else call wait_ready()).
  bool wait_ready = true;
  // Start-up takes 0.1-0.5 s (an embedded cluster, a bind); 20 s leaves a sanitizer build on a
  // loaded machine a margin of over 10x.
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(20);
  // Whether the destructor adds a gtest failure unless SIGTERM ends the daemon with exit code 0
  // (every test ends that way); the benchmark checks stop()'s status itself.
  bool expect_clean_exit = true;
};

// How the child ended.
struct exit_status {
  bool exited = false;        // normal exit (see code)
  int code = -1;              // exit code when `exited`
  int signal = 0;             // terminating signal otherwise
  bool killed_by_us = false;  // stop() had to send SIGKILL
};

class daemon_process {
 public:
  // Starts the daemon with this configuration text and (unless !opts.wait_ready) waits until it
  // listens. Throws std::runtime_error (with its stdout and stderr) if it exits or is not ready
  // within opts.ready_timeout.
  explicit daemon_process(const std::string& yaml, daemon_options opts = {});
  daemon_process(const std::string& yaml, std::chrono::milliseconds ready_timeout);
  explicit daemon_process(const daemon_config& cfg, daemon_options opts = {})
      : daemon_process(cfg.to_yaml(), std::move(opts)) {}
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  // Waits until the daemon listens (see daemon_options::wait_ready); throws like the
  // constructor.
  void wait_ready(std::chrono::milliseconds timeout);
  // Whether the daemon printed its listening line yet (reads its stdout; sets port()).
  bool listening();

  std::uint16_t port() const noexcept { return port_; }  // 0 until it listens
  // The port of server.admin_listen, 0 when it has none (or does not listen yet).
  std::uint16_t admin_port() const noexcept { return admin_port_; }
  // The embedded cluster's bootstrap address ("" when the daemon uses external brokers).
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }
  std::filesystem::path config_path() const { return dir_ / "config.yaml"; }
  std::filesystem::path stderr_path() const { return dir_ / "stderr.txt"; }

  std::string stdout_text() const;
  std::string stderr_text() const;

  // Sends `sig` to the daemon (if still running).
  void signal(int sig) const;
  // Waits (bounded) for the daemon to exit by itself; nullopt on timeout.
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `timeout`, then SIGKILL. Idempotent: returns the recorded status.
  // Default: 15 s, three times the shutdown_timeout daemon_config renders (5 s).
  exit_status stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  bool running() const noexcept { return !status_.has_value(); }

 private:
  bool reap(bool block);

  daemon_options opts_;
  std::filesystem::path dir_;
  bool remove_dir_ = false;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::string bootstrap_;
  std::optional<exit_status> status_;
};

// A process's descriptors and threads.
struct proc_counts {
  int fds = -1;
  int threads = -1;
  bool operator==(const proc_counts&) const = default;
};
proc_counts sample_counts(pid_t pid);

// The counts once they stayed the same for `quiet` consecutive samples 50 ms apart; nullopt if
// that does not happen within `timeout`. Both come and go asynchronously: the daemon starts
// its I/O threads after it printed its port, and closes consumers in the background. A
// baseline taken before they settle would count a thread that was still starting as a leak.
std::optional<proc_counts> settled_counts(pid_t pid, std::chrono::milliseconds timeout,
                                          int quiet = 10);

// What a one-shot run of the daemon binary (e.g. --check-config) exited with and printed.
struct command_result {
  int code = -1;       // exit status; -1 if it could not start, was killed or timed out
  std::string output;  // stdout and stderr
};

// Runs the daemon binary with `args`, stdout and stderr to `out_file`, and waits for it to exit;
// bounded by `timeout` (then killed: code -1).
command_result run_daemon_binary(const std::vector<std::string>& args,
                                 const std::filesystem::path& out_file,
                                 std::chrono::milliseconds timeout);

// SIGKILLs every daemon this process started and has not reaped yet. Async-signal-safe: the
// benchmark's watchdog and signal handlers call it before the driver exits.
void kill_all_daemons() noexcept;

// With EVENTSTREAMS_IT_TRACE set, prints how long `what` took since `since` (for tuning).
void trace(const char* what, std::chrono::steady_clock::time_point since);

// Polls `condition` every `interval` until it holds or `timeout` passes; returns its last value.
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
              std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace eventstreams::test

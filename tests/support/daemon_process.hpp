// Runs the eventstreams daemon as a child process for integration tests: writes its YAML
// configuration to a temporary directory, captures stdout/stderr to files, and waits (bounded,
// by polling) until it printed its embedded Kafka bootstrap address and its listening port.
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

namespace eventstreams::test {

// One configured stream.
struct stream_def {
  std::string name;
  std::vector<std::string> topics;
  std::vector<std::string> aliases;
  bool pass_canary = false;
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
  std::string kafka_timeout;                   // server.kafka_timeout; "" = the daemon's default
  // More kafka.properties for the daemon's consumers (name, value).
  std::vector<std::pair<std::string, std::string>> kafka_properties;

  std::string to_yaml() const;
  bool embedded() const { return bootstrap_servers == "embedded"; }
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
  // Starts the daemon with this configuration text and waits until it listens (and, with
  // `embedded_kafka`, printed its embedded bootstrap address). Throws std::runtime_error (with
  // the daemon's stderr) if it exits or is not ready in `timeout`.
  explicit daemon_process(const std::string& yaml,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20),
                          bool embedded_kafka = true);
  explicit daemon_process(const daemon_config& cfg)
      : daemon_process(cfg.to_yaml(), std::chrono::seconds(20), cfg.embedded()) {}
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // The embedded cluster's bootstrap address ("" when the daemon uses external brokers).
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }

  std::string stdout_text() const;
  std::string stderr_text() const;

  // Sends `sig` to the daemon (if still running).
  void signal(int sig) const;
  // Waits (bounded) for the daemon to exit by itself; nullopt on timeout.
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `timeout`, then SIGKILL. Idempotent: returns the recorded status.
  exit_status stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  bool running() const noexcept { return !status_.has_value(); }

 private:
  bool reap(bool block);

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string bootstrap_;
  std::optional<exit_status> status_;
};

// Entries in /proc/PID/fd and /proc/PID/task; -1 if the process is gone.
int count_fds(pid_t pid);
int count_threads(pid_t pid);

// With EVENTSTREAMS_IT_TRACE set, prints how long `what` took since `since` (for tuning).
void trace(const char* what, std::chrono::steady_clock::time_point since);

// Polls `condition` every `interval` until it holds or `timeout` passes; returns its last value.
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
              std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace eventstreams::test

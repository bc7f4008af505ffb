// The daemon under test as a child process, and what /proc says about it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace bench {

// CPU time, memory, threads and descriptors of one process at one instant.
struct proc_sample {
  std::chrono::steady_clock::time_point at;
  double cpu_seconds = 0;       // utime + stime
  double mock_cpu_seconds = 0;  // of the thread named "rdk:mock" (the embedded cluster)
  long rss_kb = 0;              // VmRSS
  long hwm_kb = 0;              // VmHWM (peak RSS)
  int threads = 0;              // entries of /proc/PID/task
  int fds = 0;                  // entries of /proc/PID/fd
};

// Reads /proc/PID/{stat,status,task,fd}. Fields it cannot read stay 0.
proc_sample sample_process(pid_t pid);

// CPU use between two samples in percent of one core: of the whole process, and of its
// embedded Kafka cluster thread alone.
double cpu_percent(const proc_sample& from, const proc_sample& to);
double mock_cpu_percent(const proc_sample& from, const proc_sample& to);

// Runs `binary --config FILE` with `config_yaml` written to a file in `work_dir`; its stdout
// is read for the embedded bootstrap address and the listening port, its stderr goes to
// `log_path`. The child gets SIGKILL if this process dies. The destructor stops it.
class daemon_runner {
 public:
  daemon_runner(std::string binary, std::string work_dir, std::string name);
  ~daemon_runner();
  daemon_runner(const daemon_runner&) = delete;
  daemon_runner& operator=(const daemon_runner&) = delete;

  // Starts the child and waits (at most `timeout`) for "listening on http://HOST:PORT".
  // Returns false (with `error()` set) when it exits, says nothing, or the wait times out.
  bool start(const std::string& config_yaml, std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; always reaps the child. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // True while the child has not exited.
  bool alive();

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  const std::string& bootstrap() const { return bootstrap_; }
  const std::string& error() const { return error_; }
  const std::string& log_path() const { return log_path_; }
  int exit_status() const { return exit_status_; }

 private:
  std::string binary_, work_dir_, name_;
  std::string config_path_, log_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string bootstrap_;
  std::string error_;
  int exit_status_ = -1;
};

// Kills every daemon started by this process with SIGKILL (async-signal-safe); used by the
// watchdog and signal handlers before the driver exits.
void kill_all_daemons() noexcept;

// Installs SIGALRM (after `seconds`), SIGINT and SIGTERM handlers that kill the daemons and
// exit the driver, so that a hung benchmark always ends.
void install_watchdog(unsigned seconds);

}  // namespace bench

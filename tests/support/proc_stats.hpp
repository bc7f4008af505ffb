// What /proc says about a process (the daemon under test): CPU time, memory, threads and
// descriptors. Shared by the integration tests and the load benchmark.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>

namespace eventstreams::test {

// CPU time, memory, threads and descriptors of one process at one instant.
struct proc_sample {
  std::chrono::steady_clock::time_point at;
  double cpu_seconds = 0;       // utime + stime
  double system_seconds = 0;    // stime alone (the kernel's work for the process)
  double mock_cpu_seconds = 0;  // of the threads named "rdk:mock" (an embedded Kafka cluster)
  long rss_kb = 0;              // VmRSS
  long hwm_kb = 0;              // VmHWM (peak RSS)
  int threads = 0;              // entries of /proc/PID/task
  int fds = 0;                  // entries of /proc/PID/fd
};

// Reads /proc/PID/{stat,status,task,fd}. Fields it cannot read stay 0.
proc_sample sample_process(pid_t pid);

// CPU use between two samples in percent of one core: of the whole process, and of its
// embedded Kafka cluster threads alone.
double cpu_percent(const proc_sample& from, const proc_sample& to);
double mock_cpu_percent(const proc_sample& from, const proc_sample& to);

// VmRSS and VmHWM (the peak of VmRSS since the process started) in bytes; 0 if unreadable.
std::size_t rss_bytes(pid_t pid);
std::size_t peak_rss_bytes(pid_t pid);

// Entries in /proc/PID/fd and /proc/PID/task; -1 if the process is gone.
int count_fds(pid_t pid);
int count_threads(pid_t pid);
// Every descriptor of the process, one per line: "fd -> target", and for a TCP socket its
// local and remote address from /proc/PID/net/tcp (hexadecimal, as the kernel writes them).
// For the message of a failed check on descriptors left open.
std::string describe_fds(pid_t pid);
// The process's TCP sockets connected to one of `remote_ports` (e.g. a Kafka cluster's
// brokers).
int count_sockets_to(pid_t pid, const std::set<unsigned>& remote_ports);
// Threads whose name (/proc/PID/task/TID/comm) is `name`, e.g. "rdk:main": one per librdkafka
// client handle.
int count_threads_named(pid_t pid, std::string_view name);

}  // namespace eventstreams::test

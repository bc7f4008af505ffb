// /proc sampling of a process.
#include "proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <filesystem>
#include <string>

namespace eventstreams::test {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Entries of a directory other than "." and ".."; -1 if it cannot be opened.
int count_entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      ++n;
  }
  ::closedir(d);
  return n;
}

// The number of kB after `key` ("VmRSS:") in the text of /proc/PID/status, 0 if absent.
long status_kb(const std::string& status, const char* key) {
  auto at = status.find(key);
  if (at == std::string::npos)
    return 0;
  return std::strtol(status.c_str() + at + std::strlen(key), nullptr, 10);
}

// utime + stime in clock ticks from a /proc/.../stat file, and the thread's name and stime.
unsigned long long stat_ticks(const std::string& path, std::string* comm = nullptr,
                              unsigned long long* system = nullptr) {
  const std::string text = read_text(path);
  auto open_paren = text.find('(');
  auto close_paren = text.rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos ||
      close_paren + 2 > text.size())
    return 0;
  if (comm)
    *comm = text.substr(open_paren + 1, close_paren - open_paren - 1);
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After "(comm) " come fields 3..; utime is field 14 and stime field 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15)
      stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (system)
    *system = stime;
  return utime + stime;
}

double percent(double seconds, const proc_sample& from, const proc_sample& to) {
  const double wall = std::chrono::duration<double>(to.at - from.at).count();
  return wall > 0 ? 100.0 * seconds / wall : 0.0;
}

}  // namespace

proc_sample sample_process(pid_t pid) {
  proc_sample s;
  s.at = std::chrono::steady_clock::now();
  const std::string base = "/proc/" + std::to_string(pid);
  const auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  unsigned long long system = 0;
  s.cpu_seconds = static_cast<double>(stat_ticks(base + "/stat", nullptr, &system)) / tick;
  s.system_seconds = static_cast<double>(system) / tick;
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
  const std::string status = read_text(base + "/status");
  s.rss_kb = status_kb(status, "VmRSS:");
  s.hwm_kb = status_kb(status, "VmHWM:");
  s.fds = std::max(0, count_entries(base + "/fd"));
  return s;
}

double cpu_percent(const proc_sample& from, const proc_sample& to) {
  return percent(to.cpu_seconds - from.cpu_seconds, from, to);
}

double mock_cpu_percent(const proc_sample& from, const proc_sample& to) {
  return percent(to.mock_cpu_seconds - from.mock_cpu_seconds, from, to);
}

std::size_t rss_bytes(pid_t pid) {
  return static_cast<std::size_t>(
             status_kb(read_text("/proc/" + std::to_string(pid) + "/status"), "VmRSS:")) *
         1024;
}

std::size_t peak_rss_bytes(pid_t pid) {
  return static_cast<std::size_t>(
             status_kb(read_text("/proc/" + std::to_string(pid) + "/status"), "VmHWM:")) *
         1024;
}

int count_fds(pid_t pid) {
  return count_entries("/proc/" + std::to_string(pid) + "/fd");
}

namespace {

// A TCP socket as /proc/PID/net/tcp{,6} writes it: addresses in hexadecimal.
struct tcp_socket {
  std::string local, remote, state;
  // The remote port (the hexadecimal after the last ':').
  unsigned remote_port() const {
    return static_cast<unsigned>(
        std::strtoul(remote.substr(remote.rfind(':') + 1).c_str(), nullptr, 16));
  }
};

// Each descriptor of the process, with its TCP socket if it is one.
template <typename Fn>
void for_each_fd(pid_t pid, Fn&& fn) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::map<std::string, tcp_socket> tcp;  // by socket inode
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in(proc + table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, queues, timer, retransmits, uid, timeout, inode;
      tcp_socket t;
      f >> slot >> t.local >> t.remote >> t.state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      tcp[inode] = std::move(t);
    }
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(proc + "/fd", ec)) {
    const auto target = std::filesystem::read_symlink(e.path(), ec).string();
    const tcp_socket* socket = nullptr;
    if (target.starts_with("socket:[")) {
      if (auto it = tcp.find(target.substr(8, target.size() - 9)); it != tcp.end())
        socket = &it->second;
    }
    fn(e.path().filename().string(), target, socket);
  }
}

}  // namespace

std::string describe_fds(pid_t pid) {
  std::string out;
  for_each_fd(pid, [&](const std::string& fd, const std::string& target, const tcp_socket* t) {
    out += fd + " -> " + target;
    if (t != nullptr)
      out += " tcp " + t->local + " " + t->remote + " state " + t->state;
    out += "\n";
  });
  return out;
}

int count_sockets_to(pid_t pid, const std::set<unsigned>& remote_ports) {
  int n = 0;
  for_each_fd(pid, [&](const std::string&, const std::string&, const tcp_socket* t) {
    n += t != nullptr && remote_ports.contains(t->remote_port());
  });
  return n;
}

int count_threads(pid_t pid) {
  return count_entries("/proc/" + std::to_string(pid) + "/task");
}

int count_threads_named(pid_t pid, std::string_view name) {
  std::error_code ec;
  int n = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    n += comm == name;
  }
  return n;
}

}  // namespace eventstreams::test

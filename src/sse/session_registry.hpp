// The set of live SSE sessions: counted for limits, ended together at shutdown.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace eventstreams {

class sse_session;

// Thread-safe. Sessions join when streaming starts and leave in their destructor.
class session_registry {
 public:
  enum class join_result { ok, process_limit, client_limit };
  // Registers `s` for client `ip` unless the process already has `limit` sessions or that
  // client has `ip_limit` (0 = no per-client limit).
  join_result try_join(sse_session* s, std::weak_ptr<sse_session> weak, const std::string& ip,
                       std::size_t limit, std::size_t ip_limit);
  void leave(sse_session* s);
  std::size_t size() const;
  // Calls `f` on every live session (f should only post work onto the session's strand).
  void for_each(const std::function<void(std::shared_ptr<sse_session>)>& f) const;

 private:
  mutable std::mutex mutex_;
  struct entry {
    std::weak_ptr<sse_session> session;
    std::string ip;
  };
  std::unordered_map<sse_session*, entry> sessions_;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

}  // namespace eventstreams

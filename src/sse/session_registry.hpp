// The set of live SSE sessions: counted for limits, ended together at shutdown.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace eventstreams {

class sse_session;

// Thread-safe. Sessions join when streaming starts and leave in their destructor.
class session_registry {
 public:
  // Registers `s` unless `limit` sessions are already registered. Returns false at the limit.
  bool try_join(sse_session* s, std::weak_ptr<sse_session> weak, std::size_t limit);
  void leave(sse_session* s);
  std::size_t size() const;
  // Calls `f` on every live session (f should only post work onto the session's strand).
  void for_each(const std::function<void(std::shared_ptr<sse_session>)>& f) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<sse_session*, std::weak_ptr<sse_session>> sessions_;
};

}  // namespace eventstreams

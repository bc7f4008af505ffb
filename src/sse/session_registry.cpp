// Registry of live SSE sessions.
#include "sse/session_registry.hpp"

#include <vector>

namespace eventstreams {

bool session_registry::try_join(sse_session* s, std::weak_ptr<sse_session> weak,
                                std::size_t limit) {
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= limit) return false;
  sessions_.emplace(s, std::move(weak));
  return true;
}

void session_registry::leave(sse_session* s) {
  std::lock_guard lock(mutex_);
  sessions_.erase(s);
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void session_registry::for_each(const std::function<void(std::shared_ptr<sse_session>)>& f) const {
  std::vector<std::shared_ptr<sse_session>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) f(std::move(s));
}

}  // namespace eventstreams

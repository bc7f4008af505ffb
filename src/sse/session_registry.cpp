// Registry of live SSE sessions.
#include "sse/session_registry.hpp"

#include <vector>

namespace eventstreams {

session_registry::join_result session_registry::try_join(sse_session* s,
                                                         std::weak_ptr<sse_session> weak,
                                                         const std::string& ip, std::size_t limit,
                                                         std::size_t ip_limit) {
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= limit)
    return join_result::process_limit;
  auto& count = per_ip_[ip];
  if (ip_limit != 0 && count >= ip_limit) {
    if (count == 0)
      per_ip_.erase(ip);
    return join_result::client_limit;
  }
  ++count;
  sessions_.emplace(s, entry{std::move(weak), ip});
  return join_result::ok;
}

void session_registry::leave(sse_session* s) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(s);
  if (it == sessions_.end())
    return;
  auto ip = per_ip_.find(it->second.ip);
  if (ip != per_ip_.end() && --ip->second == 0)
    per_ip_.erase(ip);
  sessions_.erase(it);
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void session_registry::for_each(const std::function<void(std::shared_ptr<sse_session>)>& f) const {
  std::vector<std::shared_ptr<sse_session>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, e] : sessions_) {
      if (auto s = e.session.lock())
        live.push_back(std::move(s));
    }
  }
  for (auto& s : live)
    f(std::move(s));
}

}  // namespace eventstreams

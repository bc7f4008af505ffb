// Registry of live streams.
#include "context/session_registry.hpp"

#include <vector>

namespace eventstreams {

session_registry::join_result session_registry::try_join(stream_member* s,
                                                         std::weak_ptr<stream_member> weak,
                                                         const std::string& ip, std::size_t limit,
                                                         std::size_t ip_limit) {
  std::lock_guard lock(mutex_);
  if (members_.size() >= limit)
    return join_result::process_limit;
  auto& count = per_ip_[ip];
  if (ip_limit != 0 && count >= ip_limit) {
    if (count == 0)
      per_ip_.erase(ip);
    return join_result::client_limit;
  }
  ++count;
  members_.emplace(s, entry{std::move(weak), ip});
  return join_result::ok;
}

void session_registry::hand_over(stream_member* from, stream_member* to,
                                 std::weak_ptr<stream_member> weak) {
  std::lock_guard lock(mutex_);
  auto it = members_.find(from);
  if (it == members_.end())
    return;
  entry e{std::move(weak), std::move(it->second.ip)};
  members_.erase(it);
  members_.emplace(to, std::move(e));
}

void session_registry::leave(stream_member* s) {
  std::lock_guard lock(mutex_);
  auto it = members_.find(s);
  if (it == members_.end())
    return;
  auto ip = per_ip_.find(it->second.ip);
  if (ip != per_ip_.end() && --ip->second == 0)
    per_ip_.erase(ip);
  members_.erase(it);
  ++departures_;
}

std::uint64_t session_registry::departures() const {
  std::lock_guard lock(mutex_);
  return departures_;
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mutex_);
  return members_.size();
}

void session_registry::for_each(
    const std::function<void(std::shared_ptr<stream_member>)>& f) const {
  std::vector<std::shared_ptr<stream_member>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, e] : members_) {
      if (auto s = e.member.lock())
        live.push_back(std::move(s));
    }
  }
  for (auto& s : live)
    f(std::move(s));
}

}  // namespace eventstreams

// Registry of live streams.
#include "context/session_registry.hpp"

#include <vector>

namespace eventstreams {

std::pair<session_registry::member_map*, session_registry::member_map::iterator>
session_registry::find(stream_member* s) {
  if (auto it = members_.find(s); it != members_.end())
    return {&members_, it};
  if (auto it = elsewhere_.find(s); it != elsewhere_.end())
    return {&elsewhere_, it};
  return {nullptr, {}};
}

session_registry::join_result session_registry::try_join(stream_member* s,
                                                         std::weak_ptr<stream_member> weak,
                                                         const std::string& ip, std::size_t limit,
                                                         std::size_t ip_limit) {
  std::lock_guard lock(mutex_);
  if (members_.size() + elsewhere_.size() >= limit)
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
  auto [map, it] = find(from);
  if (!map)
    return;
  entry e{std::move(weak), std::move(it->second.ip)};
  map->erase(it);
  members_.emplace(to, std::move(e));  // sampled by the server until it says otherwise
}

void session_registry::leave(stream_member* s) {
  std::lock_guard lock(mutex_);
  auto [map, it] = find(s);
  if (!map)
    return;
  auto ip = per_ip_.find(it->second.ip);
  if (ip != per_ip_.end() && --ip->second == 0)
    per_ip_.erase(ip);
  map->erase(it);
  ++departures_;
}

std::uint64_t session_registry::departures() const {
  std::lock_guard lock(mutex_);
  return departures_;
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mutex_);
  return members_.size() + elsewhere_.size();
}

void session_registry::sampled_elsewhere(stream_member* s) {
  std::lock_guard lock(mutex_);
  if (auto node = members_.extract(s))
    elsewhere_.insert(std::move(node));
}

void session_registry::sampled_here(stream_member* s) {
  std::lock_guard lock(mutex_);
  if (auto node = elsewhere_.extract(s))
    members_.insert(std::move(node));
}

void session_registry::visit(const member_map& m,
                             std::vector<std::shared_ptr<stream_member>>& live) {
  for (const auto& [_, e] : m) {
    if (auto s = e.member.lock())
      live.push_back(std::move(s));
  }
}

void session_registry::for_each(
    const std::function<void(std::shared_ptr<stream_member>)>& f) const {
  std::vector<std::shared_ptr<stream_member>> live;
  {
    std::lock_guard lock(mutex_);
    visit(members_, live);
    visit(elsewhere_, live);
  }
  for (auto& s : live)
    f(std::move(s));
}

void session_registry::for_each_sampled_here(
    const std::function<void(std::shared_ptr<stream_member>)>& f) const {
  std::vector<std::shared_ptr<stream_member>> live;
  {
    std::lock_guard lock(mutex_);
    visit(members_, live);
  }
  for (auto& s : live)
    f(std::move(s));
}

}  // namespace eventstreams

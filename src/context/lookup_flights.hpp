// Start-position lookups shared by concurrent requests that ask the same question (docs/api.md
// §11): the clients of a reconnect storm that hold one id, or ask for one `since`, get their
// start positions from one Kafka lookup instead of one each. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eventstreams/resume.hpp"
#include "eventstreams/start_resolver.hpp"

namespace eventstreams {

class lookup_flights {
 public:
  struct result {
    lookup_error error;
    std::vector<partition_position> positions;
    std::vector<position_gap> gaps;  // partitions whose start is a gap (docs/api.md §5.4)
    bool internal = false;           // the lookup failed unexpectedly (answered 500)
  };
  using landed = std::function<void(std::shared_ptr<const result>)>;

  // Waits for the lookup of `key`: true when none was in flight, and the caller must then look
  // it up and call land(key, ...), which hands the result to every request that joined
  // meanwhile, itself included (on the thread that lands it: post to your own).
  bool join(const std::string& key, landed then) {
    std::lock_guard lock(mutex_);
    auto [it, first] = flights_.try_emplace(key);
    it->second.push_back(std::move(then));
    return first;
  }

  void land(const std::string& key, std::shared_ptr<const result> r) {
    std::vector<landed> waiting;
    {
      std::lock_guard lock(mutex_);
      auto it = flights_.find(key);
      if (it == flights_.end())
        return;
      waiting = std::move(it->second);
      flights_.erase(it);
    }
    for (auto& w : waiting)
      w(r);
  }

  // What decides a request's start positions: its topics, Last-Event-ID entries and `since`
  // (the resume policy is the process's).
  static std::string key(const std::vector<std::string>& topics,
                         const std::vector<last_event_entry>& entries,
                         std::optional<std::int64_t> since) {
    // Every string length-prefixed: a header's topic names may hold any character.
    std::string k;
    auto add = [&k](const std::string& s) { k += std::to_string(s.size()) + ':' + s; };
    for (const auto& t : topics)
      add(t);
    k += '|';
    for (const auto& e : entries) {
      add(e.topic);
      k += (e.partition ? std::to_string(*e.partition) : "*") + "," +
           (e.offset ? std::to_string(*e.offset) : "") + "," +
           (e.timestamp ? std::to_string(*e.timestamp) : "") + ";";
    }
    k += '|';
    if (since)
      k += std::to_string(*since);
    return k;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<landed>> flights_;
};

}  // namespace eventstreams

// The set of live streams (being opened or streaming): counted for limits, ended together at
// shutdown.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace eventstreams {

class lag_batch;  // metrics/metrics.hpp

// What the registry holds: a stream that shutdown can end.
class stream_member {
 public:
  virtual ~stream_member() = default;
  // Ends the stream after the events already encoded (shutdown, duration). Thread-safe: posts
  // onto the member's strand. `retry` > 0: an SSE stream tells its client to reconnect after
  // that long (a `retry:` field before its end, docs/api.md §5.5). `acted` is released once the
  // member acted on the end (its last bytes written or queued behind a full socket), or dropped
  // it (already closed): the drain counts the ends still to be acted on.
  virtual void end(std::string reason, std::chrono::milliseconds retry = {},
                   std::shared_ptr<void> acted = {}) = 0;
  // Samples the stream's lag into the metrics (docs/api.md "Metrics"); a stream that does not
  // stream yet has none. Thread-safe: posts onto the member's strand.
  virtual void sample_lag() {}
  // Members that share a strand (the shared mode's streams of one I/O shard) are sampled with
  // one post for all of them rather than one each: the key of that strand, or null for a member
  // sampled alone. Thread-safe.
  virtual const void* lag_group() const { return nullptr; }
  // Samples `group` (members with this one's lag_group(), this one among them) with one post
  // onto this member's strand, where each runs sample_lag_here().
  virtual void sample_lag_group(std::vector<std::shared_ptr<stream_member>> group) { (void)group; }
  // On the member's strand: adds its sample at `now_ms` (wall clock) to `batch`.
  virtual void sample_lag_here(std::int64_t now_ms, lag_batch& batch) {
    (void)now_ms;
    (void)batch;
  }
};

// Thread-safe. A stream joins when its request is admitted and leaves in its destructor.
class session_registry {
 public:
  enum class join_result { ok, process_limit, client_limit };
  // Registers `s` for client `ip` unless the process already has `limit` members or that
  // client has `ip_limit` (0 = no per-client limit).
  join_result try_join(stream_member* s, std::weak_ptr<stream_member> weak, const std::string& ip,
                       std::size_t limit, std::size_t ip_limit);
  // `to` takes the place of `from` (same client, same count): a stream that was opened by one
  // object and is served by another is one member throughout.
  void hand_over(stream_member* from, stream_member* to, std::weak_ptr<stream_member> weak);
  void leave(stream_member* s);
  std::size_t size() const;
  // Members that left since the process started.
  std::uint64_t departures() const;
  // Calls `f` on every live member (f should only post work onto the member's strand).
  void for_each(const std::function<void(std::shared_ptr<stream_member>)>& f) const;

 private:
  mutable std::mutex mutex_;
  struct entry {
    std::weak_ptr<stream_member> member;
    std::string ip;
  };
  std::unordered_map<stream_member*, entry> members_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::uint64_t departures_ = 0;
};

}  // namespace eventstreams

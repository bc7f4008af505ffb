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
#include <utility>
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
  // On the member's strand: adds its sample at `now_ms` (wall clock) to `batch`. Where the
  // member's streams run together (the shared mode's I/O shard) the shard calls it for all of
  // them in one pass, and the server's walk leaves the member out (session_registry::
  // sampled_elsewhere).
  // Whether the stream is counted in eventstreams_clients_lagging after it.
  virtual bool sample_lag_here(std::int64_t now_ms, lag_batch& batch) {
    (void)now_ms;
    (void)batch;
    return false;
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
  // `s` is sampled where it runs from now on: for_each_sampled_here() leaves it out.
  void sampled_elsewhere(stream_member* s);
  // Undoes sampled_elsewhere(): the server samples `s` again.
  void sampled_here(stream_member* s);
  // for_each() over the members the server samples itself.
  void for_each_sampled_here(const std::function<void(std::shared_ptr<stream_member>)>& f) const;

 private:
  mutable std::mutex mutex_;
  struct entry {
    std::weak_ptr<stream_member> member;
    std::string ip;
  };
  using member_map = std::unordered_map<stream_member*, entry>;
  // The member's map and its entry, or null.
  std::pair<member_map*, member_map::iterator> find(stream_member* s);
  static void visit(const member_map& m, std::vector<std::shared_ptr<stream_member>>& live);
  // Members the server samples, and those sampled where they run: the once-a-second walk does
  // not touch the second (tens of thousands in the shared mode).
  member_map members_;
  member_map elsewhere_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::uint64_t departures_ = 0;
};

}  // namespace eventstreams

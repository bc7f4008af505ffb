// A timer_wheel (include/eventstreams/timer_wheel.hpp) behind one Asio timer on a strand: the
// shared mode's I/O shard keeps its streams' heartbeat deadlines here instead of a timer per
// stream (docs/api.md §5.1). Every call on the strand.
#pragma once

#include <cstdint>
#include <optional>

#include "eventstreams/timer_wheel.hpp"
#include "net/net.hpp"

namespace eventstreams {

class strand_wheel {
 public:
  explicit strand_wheel(const net::any_io_executor& strand) : timer_(std::in_place, strand) {}

  // Schedules `e` at `due`; its on_due() runs on the strand once `due` passed.
  void schedule(timer_wheel::entry& e, timer_wheel::clock::time_point due) {
    wheel_.schedule(e, due);
    arm();
  }
  std::size_t size() const noexcept { return wheel_.size(); }
  // Before the I/O context goes (its threads stopped): the timer must not outlive its services.
  // Entries stay linked until they are cancelled or destroyed.
  void release() {
    timer_.reset();
    armed_.reset();
  }

 private:
  // Waits for the earliest deadline, unless the timer already waits for it or an earlier one.
  void arm() {
    auto next = wheel_.next_due();
    if (!next || !timer_ || (armed_ && *armed_ <= *next))
      return;
    armed_ = *next;
    timer_->expires_at(*next);  // cancels a later wait: its handler sees the generation moved
    timer_->async_wait([this, generation = ++generation_](beast::error_code ec) {
      if (ec || generation != generation_)
        return;
      armed_.reset();
      wheel_.run_due(timer_wheel::clock::now());
      arm();
    });
  }

  timer_wheel wheel_;
  std::optional<net::steady_timer> timer_;
  std::optional<timer_wheel::clock::time_point> armed_;  // what the timer waits for
  std::uint64_t generation_ = 0;
};

}  // namespace eventstreams

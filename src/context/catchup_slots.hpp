// fanout.catchup.readers_max (docs/api.md §11): the Kafka consumers of the shared streams'
// requests that the partition rings cannot serve (resumes from before them, or with a filter
// that reads $key), whole process. A request beyond the limit waits in line, first come first
// served, for a slot another one releases. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include <prometheus/gauge.h>

namespace eventstreams {

class catchup_slots {
 public:
  // Held while the consumer reads; the slot is released when the last copy goes.
  using slot = std::shared_ptr<void>;
  // Gets a slot once one is free; runs on the thread that released it (post to your own).
  using granted = std::function<void(slot)>;

  // `active` and `queued` are set as they change (eventstreams_fanout_catchup_readers{state}).
  catchup_slots(std::size_t max, prometheus::Gauge& active, prometheus::Gauge& queued)
      : max_(max), active_gauge_(active), queued_gauge_(queued) {}
  catchup_slots(const catchup_slots&) = delete;
  catchup_slots& operator=(const catchup_slots&) = delete;

  // A slot now, or null (nothing queued).
  slot try_acquire() {
    std::lock_guard lock(mutex_);
    return take_free();
  }

  // A slot now, or null with `then` queued to get one later, as `ticket` (for cancel()).
  slot acquire(granted then, std::uint64_t& ticket) {
    std::lock_guard lock(mutex_);
    if (auto s = take_free())
      return s;
    ticket = ++tickets_;
    waiting_.emplace_back(ticket, std::move(then));
    queued_gauge_.Set(static_cast<double>(waiting_.size()));
    return nullptr;
  }

  // A request that stopped waiting (it gave up, or its client left) leaves the line: it is no
  // longer counted as queued. Nothing when it already got its slot.
  void cancel(std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    std::erase_if(waiting_, [&](const auto& w) { return w.first == ticket; });
    queued_gauge_.Set(static_cast<double>(waiting_.size()));
  }

 private:
  // Under mutex_: a free slot, or null.
  slot take_free() {
    if (active_ >= max_)
      return nullptr;
    ++active_;
    active_gauge_.Set(static_cast<double>(active_));
    return make_slot();
  }
  slot make_slot() {
    return slot(static_cast<void*>(this), [this](void*) { release(); });
  }
  // The slot goes to the first in line (which may drop it at once: then to the next).
  void release() {
    granted next;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        --active_;
        active_gauge_.Set(static_cast<double>(active_));
        return;
      }
      next = std::move(waiting_.front().second);
      waiting_.pop_front();
      queued_gauge_.Set(static_cast<double>(waiting_.size()));
    }
    next(make_slot());
  }

  std::mutex mutex_;
  std::size_t max_;
  std::size_t active_ = 0;
  std::uint64_t tickets_ = 0;
  std::deque<std::pair<std::uint64_t, granted>> waiting_;
  prometheus::Gauge& active_gauge_;
  prometheus::Gauge& queued_gauge_;
};

}  // namespace eventstreams

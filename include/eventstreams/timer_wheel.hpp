// Deadlines of many streams behind one timer (docs/api.md §5.1: heartbeats). The shared mode
// keeps tens of thousands of idle streams on one I/O shard: instead of a timer each (an Asio
// timer object, a heap entry and a waiting operation per stream), a stream holds an `entry`
// (three pointers and its deadline) linked into the slot of its deadline, and the shard's one
// timer waits for the earliest slot. Heartbeat deadlines lie on a grid (heartbeat_due()), so a
// slot holds every stream due at one step, and a wake-up serves them all.
//
// Sans-io and single-threaded: every call on the owner's strand (net/strand_wheel.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>

namespace eventstreams {

class timer_wheel {
  struct slot;

 public:
  using clock = std::chrono::steady_clock;

  // A deadline in a wheel; at most one wheel at a time. Destroying it cancels it.
  class entry {
   public:
    entry() = default;
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;
    bool scheduled() const noexcept { return slot_ != nullptr; }
    clock::time_point due() const noexcept { return due_; }
    // Takes it out of its wheel; nothing if it is not in one.
    void cancel() noexcept;

   protected:
    virtual ~entry() { cancel(); }
    // Its deadline passed (timer_wheel::run_due): it is no longer scheduled.
    virtual void on_due() = 0;

   private:
    friend class timer_wheel;
    slot* slot_ = nullptr;
    entry* prev_ = nullptr;
    entry* next_ = nullptr;
    clock::time_point due_{};
  };

  timer_wheel() = default;
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;
  // Entries still scheduled are taken out (they are not called).
  ~timer_wheel();

  // Schedules `e` at `due` (moved if it was scheduled already, in this wheel or another).
  void schedule(entry& e, clock::time_point due);
  // The earliest deadline; nothing when no entry is scheduled.
  std::optional<clock::time_point> next_due() const;
  // Calls on_due() of the entries due at `now`: earliest deadline first, and those of one
  // deadline in the order they were scheduled. An entry may schedule or cancel any entry
  // meanwhile; at most as many calls as entries were scheduled when it began (one that
  // schedules itself again at a passed instant goes after the others, and waits for the next
  // call once the budget is spent). How many were called.
  std::size_t run_due(clock::time_point now);
  std::size_t size() const noexcept { return size_; }
  std::size_t slots() const noexcept { return slots_.size(); }

 private:
  // The entries due at one instant: an intrusive list.
  struct slot {
    timer_wheel* wheel = nullptr;
    entry* head = nullptr;
    entry* tail = nullptr;
  };
  // Takes `e` out of its slot, and the slot out of the wheel once empty.
  static void unlink(entry& e) noexcept;

  std::map<clock::time_point, slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace eventstreams

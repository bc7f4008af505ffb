// Many deadlines behind one timer (include/eventstreams/timer_wheel.hpp).
#include "eventstreams/timer_wheel.hpp"

namespace eventstreams {

void timer_wheel::entry::cancel() noexcept {
  if (slot_ != nullptr)
    timer_wheel::unlink(*this);
}

timer_wheel::~timer_wheel() {
  while (!slots_.empty())
    unlink(*slots_.begin()->second.head);
}

void timer_wheel::unlink(entry& e) noexcept {
  slot* s = e.slot_;
  timer_wheel* w = s->wheel;
  if (e.prev_ != nullptr)
    e.prev_->next_ = e.next_;
  else
    s->head = e.next_;
  if (e.next_ != nullptr)
    e.next_->prev_ = e.prev_;
  else
    s->tail = e.prev_;
  e.slot_ = nullptr;
  e.prev_ = e.next_ = nullptr;
  --w->size_;
  if (s->head == nullptr)
    w->slots_.erase(e.due_);
}

void timer_wheel::schedule(entry& e, clock::time_point due) {
  e.cancel();
  auto [it, created] = slots_.try_emplace(due);
  slot& s = it->second;
  if (created)
    s.wheel = this;
  e.slot_ = &s;
  e.due_ = due;
  e.prev_ = s.tail;  // last: the slot runs in scheduling order
  e.next_ = nullptr;
  if (s.tail != nullptr)
    s.tail->next_ = &e;
  else
    s.head = &e;
  s.tail = &e;
  ++size_;
}

std::optional<timer_wheel::clock::time_point> timer_wheel::next_due() const {
  if (slots_.empty())
    return std::nullopt;
  return slots_.begin()->first;
}

std::size_t timer_wheel::run_due(clock::time_point now) {
  std::size_t called = 0;
  // Bounded by the entries present now: one that schedules itself again at or before `now`
  // waits for the next call instead of running forever.
  for (std::size_t budget = size_; budget > 0; --budget) {
    if (slots_.empty() || slots_.begin()->first > now)
      break;
    entry& e = *slots_.begin()->second.head;
    unlink(e);
    ++called;
    e.on_due();
  }
  return called;
}

}  // namespace eventstreams

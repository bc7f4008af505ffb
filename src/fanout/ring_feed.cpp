// The records of a catch-up reader's partitions that the rings hold (docs/api.md §11).
#include "fanout/ring_feed.hpp"

#include <algorithm>
#include <utility>

namespace eventstreams::fanout {

std::size_t ring_feed::space() const {
  std::lock_guard lock(mutex_);
  return closed_ || bytes_ >= window_ ? 0 : window_ - bytes_;
}

void ring_feed::push(std::vector<item>& items, std::size_t bytes) {
  std::function<void()> ready;
  std::optional<net::any_io_executor> ex;
  {
    std::lock_guard lock(mutex_);
    if (closed_)
      return;
    for (auto& i : items)
      items_.push_back(std::move(i));
    bytes_ += bytes;
    if (bytes_ >= window_)
      starved_ = true;
    if (ready_ && !items_.empty()) {
      ready = std::exchange(ready_, nullptr);
      ex = std::exchange(ready_ex_, std::nullopt);
    }
  }
  items.clear();
  if (ready)
    net::post(*ex, std::move(ready));
}

void ring_feed::set_puller(std::function<void()> pull) {
  std::lock_guard lock(mutex_);
  pull_ = std::move(pull);
}

std::size_t ring_feed::take(std::vector<item>& out, std::size_t max) {
  out.clear();
  std::function<void()> pull;
  {
    std::lock_guard lock(mutex_);
    while (out.size() < max && !items_.empty()) {
      auto& i = items_.front();
      if (i.chunk)
        bytes_ -= std::min(bytes_, ring_record_bytes(i.chunk->at(i.record)));
      out.push_back(std::move(i));
      items_.pop_front();
    }
    if (starved_ && bytes_ < window_ / 2 && !closed_) {
      starved_ = false;
      pull = pull_;
    }
  }
  if (pull)
    pull();
  return out.size();
}

void ring_feed::on_ready(const net::any_io_executor& ex, std::function<void()> ready) {
  {
    std::lock_guard lock(mutex_);
    if (closed_)
      return;
    if (items_.empty()) {
      ready_ = std::move(ready);
      ready_ex_ = ex;
      return;
    }
  }
  net::post(ex, std::move(ready));
}

void ring_feed::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  items_.clear();
  bytes_ = 0;
  ready_ = nullptr;
  ready_ex_.reset();
  pull_ = nullptr;
}

bool ring_feed::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace eventstreams::fanout

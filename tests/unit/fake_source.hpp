// An event source in memory for session tests: the test queues records and errors, fires the
// wake-up, and sees what the session asked of it (polls, resets, close, where it was destroyed).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sse/event_source.hpp"

namespace eventstreams::test {

class fake_source final : public event_source {
 public:
  // What the test and the source share; it outlives the source (destroyed on the pool).
  struct state {
    struct item {
      bool is_error = false;
      source_record record;  // `topic` and `value` point into `topic`/`value` below
      std::string topic;
      std::string value;
      source_error error;
    };
    std::deque<item> queue;
    std::deque<item> held;  // what the last poll handed out: valid until the next one

    std::size_t polls = 0;
    std::size_t largest_ask = 0;  // the most records one poll asked for
    std::size_t taken = 0;        // records handed out
    std::size_t resets = 0;
    std::uint64_t kicks = 0;
    std::uint64_t kicks_per_poll = 0;  // added to `kicks` by every poll
    std::optional<source_lag> lag;     // what lag() answers
    std::size_t lag_asked = 0;
    bool attached = false;
    bool closed = false;
    std::optional<wait_handler> waiter;
    std::optional<net::any_io_executor> executor;
    std::atomic<bool> destroyed{false};
    std::thread::id destroyed_on;

    void push(std::size_t index, std::string topic, std::int64_t offset, std::string value,
              std::int64_t timestamp = 1000) {
      item it;
      it.record.index = index;
      it.record.partition = 0;
      it.record.offset = offset;
      it.record.timestamp = timestamp;
      it.topic = std::move(topic);
      it.value = std::move(value);
      queue.push_back(std::move(it));
    }
    void push_error(std::string kind, bool fatal) {
      item it;
      it.is_error = true;
      it.error.kind = std::move(kind);
      it.error.fatal = fatal;
      it.error.detail = "test";
      queue.push_back(std::move(it));
    }
    // Wakes a waiting session, as the consumer's eventfd would once records arrived.
    bool fire() {
      if (!waiter)
        return false;
      auto h = std::move(*waiter);
      waiter.reset();
      net::post(*executor, [h = std::move(h)] { h(beast::error_code{}); });
      return true;
    }
  };

  explicit fake_source(std::shared_ptr<state> s) : s_(std::move(s)) {}
  ~fake_source() override {
    s_->destroyed_on = std::this_thread::get_id();
    s_->destroyed = true;
  }

  std::optional<std::string> attach(const net::any_io_executor& ex) override {
    s_->attached = true;
    s_->executor = ex;
    return std::nullopt;
  }

  std::size_t poll(std::span<source_record> out, std::vector<source_error>& errors) override {
    ++s_->polls;
    s_->largest_ask = std::max(s_->largest_ask, out.size());
    s_->kicks += s_->kicks_per_poll;
    s_->held.clear();
    std::size_t n = 0;
    // Like librdkafka's batch: up to out.size() messages, records and errors alike.
    for (std::size_t taken = 0; taken < out.size() && !s_->queue.empty(); ++taken) {
      s_->held.push_back(std::move(s_->queue.front()));
      s_->queue.pop_front();
      auto& it = s_->held.back();
      if (it.is_error) {
        errors.push_back(it.error);
        continue;
      }
      it.record.topic = it.topic;
      it.record.value = it.value;
      out[n++] = it.record;
    }
    s_->taken += n;
    return n;
  }

  void async_wait(wait_handler ready) override {
    if (s_->closed)
      return;
    s_->waiter = std::move(ready);
  }
  void reset_wake() override { ++s_->resets; }
  source_stats stats() const override { return {s_->kicks}; }
  std::optional<source_lag> lag(std::int64_t) override {
    ++s_->lag_asked;
    return s_->lag;
  }

  void close() override {
    if (s_->closed)
      return;
    s_->closed = true;
    if (s_->waiter) {
      auto h = std::move(*s_->waiter);
      s_->waiter.reset();
      net::post(*s_->executor, [h = std::move(h)] { h(net::error::operation_aborted); });
    }
  }

 private:
  std::shared_ptr<state> s_;
};

}  // namespace eventstreams::test

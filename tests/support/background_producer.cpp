// Paced record producer on a background thread.
#include "background_producer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

namespace eventstreams::test {

background_producer::background_producer(const std::string& bootstrap,
                                         std::vector<topic_partition_ref> targets,
                                         std::uint64_t seed, std::chrono::microseconds interval)
    : producer_(bootstrap), targets_(std::move(targets)) {
  if (targets_.empty())
    throw std::invalid_argument("background_producer: no target partition");
  thread_ = std::thread([this, seed, interval] { run(seed, interval); });
}

background_producer::~background_producer() {
  if (!stopped_) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void background_producer::set_targets(std::vector<topic_partition_ref> targets) {
  if (targets.empty())
    throw std::invalid_argument("background_producer: no target partition");
  std::lock_guard lock(mutex_);
  targets_ = std::move(targets);
}

void background_producer::run(std::uint64_t seed, std::chrono::microseconds interval) {
  std::mt19937_64 rng(seed);
  auto next = std::chrono::steady_clock::now();
  // Only this thread touches producer_ until stop() joined it (its delivery reports are
  // served inside produce(), on this thread too).
  try {
    for (std::size_t seq = 0;; ++seq) {
      topic_partition_ref target;
      {
        std::unique_lock lock(mutex_);
        // Pacing, not settling: the stream of records is what the test exercises.
        if (cv_.wait_until(lock, next, [this] { return stopping_; }))
          break;
        target = targets_[rng() % targets_.size()];
      }
      next += interval;
      std::string value = "{\"seq\":" + std::to_string(seq) +
                          ",\"group\":" + std::to_string(seq / 16 % 8) + ",\"pad\":\"" +
                          std::string(rng() % 200, static_cast<char>('a' + seq % 26)) + "\"}";
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      producer_.produce(target.topic, target.partition, value, now_ms);
      produced_.store(seq + 1);
    }
  } catch (const std::exception& e) {
    error_ = e.what();
  }
}

bool background_producer::stop(std::chrono::milliseconds flush_timeout) {
  if (!stopped_) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
    stopped_ = true;
    flushed_ = producer_.flush(flush_timeout);
    if (!error_.empty()) {
      ADD_FAILURE() << "background producer: " << error_;
      flushed_ = false;
    }
  }
  return flushed_;
}

const std::vector<produced_record>& background_producer::records() const {
  if (!stopped_)
    throw std::logic_error("background_producer::records() before stop()");
  return producer_.records();
}

}  // namespace eventstreams::test

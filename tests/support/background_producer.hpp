// A test_producer on its own thread: writes small JSON records, each with a sequence number, to a
// changeable set of partitions at a steady pace until stopped, so that a test can connect,
// disconnect and resume while records keep arriving. After stop() the records, with the offsets
// Kafka gave them, tell exactly what each partition holds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_producer.hpp"

namespace eventstreams::test {

struct topic_partition_ref {
  std::string topic;
  std::int32_t partition = 0;
};

class background_producer {
 public:
  // Starts producing at once: one record every `interval` to a partition drawn (with `seed`)
  // from `targets`. Record values are {"seq":N,"group":G,"pad":"..."} with N = the record's
  // index in records(), G = N / 16 % 8 (runs of 16 records share a group: a filter on one group
  // sees bursts of matches with longer gaps between them), and a pad of random length, so events
  // differ in size.
  background_producer(const std::string& bootstrap, std::vector<topic_partition_ref> targets,
                      std::uint64_t seed, std::chrono::microseconds interval);
  ~background_producer();
  background_producer(const background_producer&) = delete;
  background_producer& operator=(const background_producer&) = delete;

  // Where the next records go (thread-safe).
  void set_targets(std::vector<topic_partition_ref> targets);
  // Records whose produce() call has returned (thread-safe): a record with a larger index was
  // handed to librdkafka after this call.
  std::size_t produced() const noexcept { return produced_.load(); }

  // Stops producing and waits for every delivery report; false (with a gtest failure) if a
  // record failed or the flush timed out. Idempotent. 30 s: twice the records' 15 s message
  // timeout, by which every record has its report, delivered or failed.
  bool stop(std::chrono::milliseconds flush_timeout = std::chrono::seconds(30));
  // Every record, in produce order; only valid after stop().
  const std::vector<produced_record>& records() const;

 private:
  void run(std::uint64_t seed, std::chrono::microseconds interval);

  test_producer producer_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<topic_partition_ref> targets_;  // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  std::atomic<std::size_t> produced_{0};
  std::string error_;  // set by the thread if produce() threw
  std::thread thread_;
  bool stopped_ = false;
  bool flushed_ = false;
};

}  // namespace eventstreams::test

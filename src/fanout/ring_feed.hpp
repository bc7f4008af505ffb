// The records of some partitions of one catch-up reader, read from the partition rings by the
// hub (docs/api.md §11): the partitions the rings hold from the reader's positions go on from
// them while the others are read from Kafka. The hub thread pushes records (pinned chunks, no
// copy) up to a window; the reader's strand takes them and pulls more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "eventstreams/partition_ring.hpp"
#include "net/net.hpp"

namespace eventstreams::fanout {

class ring_feed {
 public:
  // One record of a partition, or its loss: the rings no longer hold its next record (their
  // bounds moved past it before the reader took it), and it must be read from Kafka from
  // `offset` on.
  struct item {
    std::shared_ptr<const ring_chunk> chunk;  // pins the record; null for a loss
    std::uint32_t record = 0;                 // in chunk
    std::uint32_t index = 0;                  // the partition's position index
    std::int64_t offset = 0;                  // a loss: where Kafka goes on
  };

  explicit ring_feed(std::size_t window) : window_(window) {}

  // The hub thread. The bytes the feed takes before its window is full (0 once closed).
  std::size_t space() const;
  // Appends `items` (`bytes` of them); wakes the reader if it waits.
  void push(std::vector<item>& items, std::size_t bytes);
  // What the reader calls, from its strand, when it took enough for the hub to push more.
  void set_puller(std::function<void()> pull);

  // The reader's strand. Moves up to `max` items into `out` (cleared first).
  std::size_t take(std::vector<item>& out, std::size_t max);
  // Runs `ready` on `ex` once an item is waiting (at once if one is).
  void on_ready(const net::any_io_executor& ex, std::function<void()> ready);
  // No more items; a pending on_ready never runs. Any thread.
  void close();
  bool closed() const;

 private:
  mutable std::mutex mutex_;
  std::deque<item> items_;
  std::size_t bytes_ = 0;
  std::size_t window_;
  bool starved_ = false;  // the hub stopped at the window: pull when half of it was taken
  bool closed_ = false;
  std::function<void()> pull_;
  std::optional<net::any_io_executor> ready_ex_;
  std::function<void()> ready_;
};

}  // namespace eventstreams::fanout

// A catch-up reader that reads from the rings the partitions they hold (docs/api.md §11).
#include "sse/split_source.hpp"

#include <algorithm>
#include <utility>

namespace eventstreams {

split_source::split_source(std::unique_ptr<event_source> reader, fanout::hub& hub,
                           const std::vector<partition_position>& positions, std::size_t window,
                           counters counted)
    : reader_(std::move(reader)), hub_(hub), window_(window), counted_(counted) {
  for (const auto& p : positions) {
    topics_.push_back(p.topic);
    partitions_.push_back(p.partition);
  }
}

split_source::~split_source() {
  if (feed_)
    feed_->close();
}

std::optional<std::string> split_source::attach(const net::any_io_executor& ex) {
  ex_ = ex;
  return reader_->attach(ex);
}

std::size_t split_source::poll(std::span<source_record> out, std::vector<source_error>& errors) {
  std::size_t n = 0;
  if (feed_) {
    // The rings' records first: the hub queued them, and taking them lets it queue more.
    feed_->take(taken_, out.size());
    for (const auto& item : taken_) {
      if (!item.chunk) {
        // The rings lost the partition before the stream was handed over: Kafka goes on from
        // where the rings' records ended (every one of them was taken before this).
        if (reader_->park(item.index, false, item.offset) && counted_.to_kafka)
          counted_.to_kafka->Increment();
        continue;
      }
      const auto rec = item.chunk->at(item.record);
      auto& r = out[n++];
      r.index = item.index;
      r.topic = topics_[item.index];
      r.partition = partitions_[item.index];
      r.offset = rec.offset;
      r.timestamp = rec.timestamp;
      r.value = rec.json;
      r.key = std::nullopt;
      r.gap = nullptr;
      r.from_ring = true;
      r.ring_flags = rec.flags;
    }
  }
  if (n && counted_.replayed)
    counted_.replayed->Increment(static_cast<double>(n));
  if (n < out.size())
    n += reader_->poll(out.subspan(n), errors);
  return n;
}

void split_source::waits::fire(const std::shared_ptr<waits>& w, beast::error_code ec) {
  if (!w->handler)
    return;  // woken by the other one meanwhile; the session polls both
  auto h = std::exchange(w->handler, nullptr);
  h(ec);
}

void split_source::async_wait(wait_handler ready) {
  waits_->handler = std::move(ready);
  if (!waits_->reader) {
    waits_->reader = true;
    reader_->async_wait([w = waits_](beast::error_code ec) {
      w->reader = false;
      waits::fire(w, ec);
    });
  }
  wait_feed();
}

void split_source::wait_feed() {
  if (!feed_ || !ex_ || waits_->feed || !waits_->handler)
    return;
  waits_->feed = true;
  feed_->on_ready(*ex_, [w = waits_] {
    w->feed = false;
    waits::fire(w, {});
  });
}

void split_source::reset_wake() {
  reader_->reset_wake();
}

source_stats split_source::stats() const {
  return reader_->stats();
}

std::optional<source_lag> split_source::lag(std::int64_t now_ms) {
  return reader_->lag(now_ms);
}

bool split_source::park(std::size_t index, bool parked, std::int64_t next_offset) {
  // The consumer keeps which partitions are parked: it says false for one parked already.
  if (!parked || index >= topics_.size() || (feed_ && feed_->closed()))
    return false;
  if (!reader_->park(index, true, next_offset))
    return false;
  if (!feed_)
    feed_ = std::make_shared<fanout::ring_feed>(window_);
  hub_.feed(feed_, static_cast<std::uint32_t>(index), topics_[index], partitions_[index],
            next_offset);
  wait_feed();  // a session waiting for the consumer now also waits for the rings
  if (counted_.to_ring)
    counted_.to_ring->Increment();
  return true;
}

void split_source::close() {
  if (feed_)
    feed_->close();
  reader_->close();
}

}  // namespace eventstreams

// The benchmark's synthetic recentchange events, written burst or paced.
#include "workload.hpp"

#include <thread>

#include "sse_client_pool.hpp"  // realtime_ns

namespace bench {

void event_writer::produce_event(std::uint64_t seq) {
  value_.clear();
  make_event(seq, eventstreams::test::realtime_ns(), value_, titles_);
  bytes_ += value_.size();
  const std::uint64_t t = topics_.size();
  producer_.produce(topics_[seq % t],
                    static_cast<std::int32_t>(seq / t % static_cast<std::uint64_t>(partitions_)),
                    value_);
}

produce_result event_writer::burst(std::uint64_t count,
                                   std::chrono::steady_clock::time_point deadline) {
  produce_result res;
  bytes_ = 0;
  delivered_before_ = producer_.delivered();
  start_ = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 0; seq < count && std::chrono::steady_clock::now() < deadline; ++seq) {
    produce_event(seq);
    ++res.produced;
  }
  res.avg_bytes = res.produced ? bytes_ / res.produced : 0;
  await_acks(res, deadline);
  return res;
}

produce_result event_writer::paced(double rate, std::chrono::milliseconds duration,
                                   std::chrono::steady_clock::time_point deadline) {
  produce_result res;
  bytes_ = 0;
  delivered_before_ = producer_.delivered();
  start_ = std::chrono::steady_clock::now();
  const auto count = static_cast<std::uint64_t>(rate * static_cast<double>(duration.count()) / 1e3);
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(seq) / rate));
    if (due > deadline)
      break;
    std::this_thread::sleep_until(due);  // pacing
    produce_event(seq);
    ++res.produced;
  }
  res.avg_bytes = res.produced ? bytes_ / res.produced : 0;
  return res;
}

void event_writer::await_acks(produce_result& res, std::chrono::steady_clock::time_point deadline) {
  producer_.await_delivery(deadline);
  res.delivered = producer_.delivered() - delivered_before_;
  res.failed = res.produced - res.delivered;  // errors, and what was not acknowledged in time
  res.seconds = std::chrono::duration<double>(producer_.last_delivery() - start_).count();
}

}  // namespace bench

// What a streaming session reads from: records with their position index, a wake-up when more
// may be waiting, and how a source is closed and destroyed. Today's per-connection Kafka
// consumer is one implementation (per_connection_source); the session does not know which one
// it reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "eventstreams/cohort.hpp"
#include "eventstreams/source_record.hpp"
#include "net/net.hpp"

namespace eventstreams {

class stream_member;  // context/session_registry.hpp
class strand_wheel;   // net/strand_wheel.hpp

// Counters a source keeps; monotonic, read by the session for the metrics.
struct source_stats {
  // Times the source restarted fetchers parked at the prefetch cap
  // (eventstreams_kafka_fetch_restarts_total).
  std::uint64_t fetch_kicks = 0;
};

// Every call is made on the session's strand, except the destructor (see retire()).
class event_source {
 public:
  using wait_handler = std::function<void(beast::error_code)>;

  virtual ~event_source() = default;

  // Once, before the first wait: ties the wake-up to the session's executor. A reason when the
  // process is out of resources (the stream is then refused with 503, docs/api.md §6).
  virtual std::optional<std::string> attach(const net::any_io_executor& ex) = 0;

  // Non-blocking: up to out.size() records; errors met are appended to `errors`. Fewer records
  // than asked and no error means the source is empty: wait before polling again.
  virtual std::size_t poll(std::span<source_record> out, std::vector<source_error>& errors) = 0;

  // A source whose events come framed already, shared by many streams (the shared mode): the
  // session writes the chunks as they are, instead of records it frames itself.
  virtual bool framed() const noexcept { return false; }
  // Non-blocking, for a framed() source: up to out.size() chunks, in order; errors as poll().
  // Fewer chunks than asked and no error: wait before polling again.
  virtual std::size_t poll_framed(std::span<std::shared_ptr<const framed_chunk>> out,
                                  std::vector<source_error>& errors) {
    (void)out;
    (void)errors;
    return 0;
  }

  // Runs `ready` on the attached executor once records or errors may be waiting after a poll
  // that found the source empty; a pending wait ends with operation_aborted when close() runs,
  // and a wait started after close() never completes. One wait at a time.
  virtual void async_wait(wait_handler ready) = 0;
  // Clears the wake-up; call when it fired, before polling again.
  virtual void reset_wake() = 0;

  virtual source_stats stats() const = 0;

  // Non-blocking: how far the stream is behind the end of its partitions at `now_ms` (wall
  // clock), docs/api.md "Metrics"; nothing when the source cannot tell (then the stream is left
  // out of the lag metrics).
  virtual std::optional<source_lag> lag(std::int64_t now_ms) {
    (void)now_ms;
    return std::nullopt;
  }

  // A source whose streams are sampled where they run (the shared mode's I/O shard walks its
  // members once a second, docs/api.md "Metrics") calls `member`'s sample_lag_here() on the
  // strand from now until close(), and says true; false: the server samples the stream.
  virtual bool sample_lag_by(stream_member& member) {
    (void)member;
    return false;
  }

  // A reader of Kafka: stops reading the partition at position index `index` (`parked`), or
  // reads it again from `next_offset`. Nothing it fetched of the partition before the call is
  // handed out after it. A catch-up reader of a shared stream reads a parked partition from the
  // rings instead (split_source). Whether anything changed: false when the source cannot (the
  // default), or when it was so already.
  virtual bool park(std::size_t index, bool parked, std::int64_t next_offset) {
    (void)index;
    (void)parked;
    (void)next_offset;
    return false;
  }

  // Sources whose streams share a strand (the shared mode's I/O shard) keep the streams'
  // heartbeat deadlines in one wheel there, instead of a timer per stream (docs/api.md §5.1);
  // null: the session keeps its own timer.
  virtual strand_wheel* heartbeat_wheel() noexcept { return nullptr; }
  // After poll_framed() said "overrun": the positions after the last chunk it handed out, where
  // the stream can go on from Kafka (the shared mode's unfiltered SSE streams, docs/api.md
  // §11); nothing when it cannot.
  virtual std::optional<std::vector<partition_position>> overrun_positions() const {
    return std::nullopt;
  }
  // Ends the wait and releases what is tied to the strand. Idempotent.
  virtual void close() = 0;
};

// Closes `source` here (on the strand) and destroys it on `blocking`: destroying a source may
// block (the per-connection consumer joins librdkafka's threads), never on an I/O thread.
inline void retire(std::unique_ptr<event_source> source, net::thread_pool& blocking) {
  if (!source)
    return;
  source->close();
  net::post(blocking, [s = std::move(source)]() mutable { s.reset(); });
}

}  // namespace eventstreams

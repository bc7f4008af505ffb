// librdkafka consumer behind the non-blocking interface the SSE session needs.
#include "consumer.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "eventstreams/resume.hpp"
#include "kafka_conf.hpp"

namespace eventstreams::kafka {

namespace {

// An integer property of a configuration, or `fallback` when it cannot be read.
std::int64_t conf_int(rd_kafka_conf_t* conf, const char* name, std::int64_t fallback) {
  char buf[64];
  size_t size = sizeof buf;
  if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK)
    return fallback;
  char* end = nullptr;
  long long v = std::strtoll(buf, &end, 10);
  return end != buf ? v : fallback;
}

}  // namespace

struct consumer::impl {
  kafka_ptr rk;
  queue_ptr queue;
  int wake_fd = -1;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  std::int64_t created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  std::vector<rd_kafka_message_t*> held;  // records handed out by the last poll()
  std::vector<position_gap> gaps;         // of those records (reserved: pointers stay valid)

  // Every assigned partition: the next offset, as delivered so far, and its index in the
  // positions the consumer was created with (handed out with each record).
  struct assigned {
    std::int64_t next = -1;  // -1: not assigned
    std::size_t index = source_record::no_index;
    // For the lag (docs/api.md "Metrics"): the timestamp of the last record handed out, and
    // when lag() last saw the partition caught up (ms since the epoch; -1: never).
    std::int64_t last_timestamp = -1;
    std::int64_t caught_up_ms = -1;
    bool parked = false;  // paused by park(): not fetched, not sought by kick()
  };
  struct topic_positions {
    std::string name;
    rd_kafka_topic_t* rkt = nullptr;   // learnt from the first record (stable per handle)
    std::vector<assigned> partitions;  // by partition number
  };
  std::vector<topic_positions> topics;
  // Every assigned partition, for rd_kafka_position() in lag(); made at the first call.
  partition_list_ptr lag_list;

  // Prefetch kick (see poll()). Thresholds, then what was seen since the queue was last
  // empty: records taken (and their bytes) and the longest queue, which also counts records a
  // seek made stale (librdkafka drops those inside poll, but they count against its cap).
  std::int64_t kick_bytes = 0;
  std::int64_t kick_messages = 0;
  std::int64_t bytes_since_empty = 0;
  std::int64_t messages_since_empty = 0;
  std::int64_t longest_queue = 0;
  std::int64_t total_bytes = 0;  // of every record taken: their mean size estimates the queue's
  std::int64_t total_messages = 0;
  std::uint64_t kicks = 0;

  // The assigned partition of a record: a pointer comparison per topic once the topic's handle
  // is known (the name is compared only until then).
  assigned* find(rd_kafka_topic_t* rkt, std::int32_t partition) {
    for (auto& t : topics) {
      if (t.rkt != rkt) {
        if (t.rkt || t.name != rd_kafka_topic_name(rkt))
          continue;
        t.rkt = rkt;
      }
      if (partition < 0 || static_cast<std::size_t>(partition) >= t.partitions.size() ||
          t.partitions[static_cast<std::size_t>(partition)].next < 0)
        return nullptr;
      return &t.partitions[static_cast<std::size_t>(partition)];
    }
    return nullptr;
  }

  // Seeks every assigned partition to the next offset it delivers: restarts fetchers that
  // librdkafka parked at its prefetch cap without waiting for their one-second re-check. The
  // seek sets a new version barrier in this thread before it returns, so records fetched before
  // it (in the queue or in flight) are dropped by librdkafka and never delivered twice; the
  // exact-sequence checks of the tests would see a duplicate.
  void kick() {
    partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
    for (const auto& t : topics) {
      for (std::size_t p = 0; p < t.partitions.size(); ++p) {
        if (t.partitions[p].next >= 0 && !t.partitions[p].parked)
          rd_kafka_topic_partition_list_add(list.get(), t.name.c_str(), static_cast<int>(p))
              ->offset = t.partitions[p].next;
      }
    }
    // timeout 0: asynchronous, never blocks the caller.
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk.get(), list.get(), 0)) {
      spdlog::debug("librdkafka seek: {}", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
    ++kicks;
  }

  // The queue ran dry: if it held about a cap's worth since it was last empty, the fetchers may
  // be parked; restart them. (A reader that keeps up never gets near the cap: no seeks.)
  void empty_queue_seen() {
    total_bytes += bytes_since_empty;
    total_messages += messages_since_empty;
    std::int64_t mean = total_messages > 0 ? total_bytes / total_messages : 1;
    if (bytes_since_empty >= kick_bytes || messages_since_empty >= kick_messages ||
        longest_queue >= kick_messages || longest_queue * mean >= kick_bytes)
      kick();
    bytes_since_empty = 0;
    messages_since_empty = 0;
    longest_queue = 0;
  }

  // A record that is not the next one its partition expected: a hole (compaction, transaction
  // markers: no gap), or librdkafka moved the position after Kafka answered "offset out of
  // range" (auto.offset.reset): a gap (docs/api.md §5.4), told apart by the low watermark of the
  // last fetch. Backwards can only be a reset log: a seek (kick) never lets older records through.
  std::optional<position_gap> jumped(const rd_kafka_message_t* m, const assigned& slot) {
    std::int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(rk.get(), rd_kafka_topic_name(m->rkt), m->partition, &low,
                                   &high);
    position_gap g;
    g.index = slot.index;
    g.requested = slot.next;
    g.resumed = m->offset;
    if (m->offset < slot.next) {
      g.reason = gap_reason::reset;
      g.missing = std::max<std::int64_t>(0, m->offset - std::max<std::int64_t>(0, low));
      return g;
    }
    // The record must lie in the range as last fetched: one queued before retention moved the
    // start (a slow reader) and found after a hole (a transaction marker, compaction) is below
    // it, and is no gap.
    if (low >= 0 && slot.next < low && m->offset >= low) {
      g.reason = gap_reason::retention;
      g.missing = m->offset - slot.next;
      return g;
    }
    return std::nullopt;
  }

  void release_held() {
    for (auto* m : held)
      rd_kafka_message_destroy(m);
    held.clear();
    gaps.clear();
  }
  ~impl() {
    release_held();
    if (queue)
      rd_kafka_queue_io_event_enable(queue.get(), -1, nullptr, 0);
    // librdkafka 2.0.2 never frees the state of an assigned partition (the toppar and its
    // queues, ~3 KB each) when the consumer is destroyed before its first metadata response:
    // clients that leave right after the response header (churn) leaked ~6 KB per connection
    // (heaptrack, bench/README.md). A young consumer therefore first waits for its metadata
    // (rd_kafka_controllerid blocks until it is known; bounded for a cluster that went away),
    // then serves its queue briefly, which settles the last partitions. This runs on the
    // blocking pool, so the wait costs no I/O thread.
    if (queue && std::chrono::steady_clock::now() - created < std::chrono::seconds(2)) {
      rd_kafka_controllerid(rk.get(), 1000);
      if (auto* m = rd_kafka_consume_queue(queue.get(), 10))
        rd_kafka_message_destroy(m);
    }
    queue.reset();
    rk.reset();
    if (wake_fd >= 0)
      ::close(wake_fd);
  }
};

consumer::consumer(const kafka_config& cfg, const std::string& bootstrap,
                   const std::vector<partition_position>& positions)
    : impl_(std::make_unique<impl>()) {
  auto conf = make_conf(cfg, bootstrap, client_role::consumer);
  // Half the prefetch cap taken in one go means the queue probably reached the cap.
  impl_->kick_bytes = conf_int(conf.get(), "queued.max.messages.kbytes", 65536) * 1024 / 2;
  impl_->kick_messages = conf_int(conf.get(), "queued.min.messages", 100000) / 2;
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (!rk)
    throw std::runtime_error(std::string("cannot create consumer: ") + err);
  conf.release();
  impl_->rk.reset(rk);
  // Route the main queue (errors) into the consumer queue so one queue carries everything.
  rd_kafka_poll_set_consumer(rk);
  impl_->queue.reset(rd_kafka_queue_get_consumer(rk));

  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wake_fd < 0)
    throw std::runtime_error(std::string("eventfd: ") + strerror(errno));
  static const std::uint64_t one = 1;  // eventfd writes must be 8 bytes
  rd_kafka_queue_io_event_enable(impl_->queue.get(), impl_->wake_fd, &one, sizeof one);

  partition_list_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())));
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const auto& p = positions[i];
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset =
        p.next_offset;
    auto it = std::find_if(impl_->topics.begin(), impl_->topics.end(),
                           [&](const auto& t) { return t.name == p.topic; });
    if (it == impl_->topics.end())
      it = impl_->topics.insert(impl_->topics.end(), impl::topic_positions{p.topic, nullptr, {}});
    auto index = static_cast<std::size_t>(std::max(0, p.partition));
    if (it->partitions.size() <= index)
      it->partitions.resize(index + 1);
    it->partitions[index] = {std::max<std::int64_t>(0, p.next_offset), i};
  }
  if (auto e = rd_kafka_assign(rk, list.get())) {
    throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(e));
  }
}

consumer::~consumer() = default;

std::uint64_t consumer::fetch_kicks() const {
  return impl_->kicks;
}

int consumer::dup_wake_fd() const noexcept {
  return ::fcntl(impl_->wake_fd, F_DUPFD_CLOEXEC, 0);
}

void consumer::reset_wake() const {
  std::uint64_t value;
  // EAGAIN when already zero: nothing to do.
  [[maybe_unused]] auto n = ::read(impl_->wake_fd, &value, sizeof value);
}

std::size_t consumer::poll(std::span<record> out, std::vector<consumer_error>& errors) {
  impl_->release_held();
  impl_->held.resize(out.size());
  impl_->gaps.reserve(out.size());  // at most one per record: no reallocation below
  impl_->longest_queue =
      std::max<std::int64_t>(impl_->longest_queue, rd_kafka_queue_length(impl_->queue.get()));
  ssize_t got = rd_kafka_consume_batch_queue(impl_->queue.get(), 0, impl_->held.data(), out.size());
  std::size_t n = 0;
  for (ssize_t i = 0; i < got; ++i) {
    rd_kafka_message_t* m = impl_->held[static_cast<std::size_t>(i)];
    if (m->err) {
      consumer_error e;
      e.kind = rd_kafka_err2name(m->err);
      e.detail = rd_kafka_message_errstr(m);
      if (m->rkt) {
        e.topic = rd_kafka_topic_name(m->rkt);
        e.detail = e.topic + ": " + e.detail;
      }
      // librdkafka retries transport and broker errors itself; these end the stream.
      e.fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                m->err == RD_KAFKA_RESP_ERR__AUTHENTICATION;
      errors.push_back(std::move(e));
      continue;
    }
    rd_kafka_timestamp_type_t tstype;
    const std::int64_t timestamp = rd_kafka_message_timestamp(m, &tstype);
    auto* slot = impl_->find(m->rkt, m->partition);
    record& r = out[n++];
    r.gap = nullptr;
    r.from_ring = false;
    if (slot) {
      if (m->offset != slot->next) {
        if (auto g = impl_->jumped(m, *slot))
          r.gap = &impl_->gaps.emplace_back(*g);
      }
      slot->next = m->offset + 1;
      if (timestamp >= 0)
        slot->last_timestamp = timestamp;
    }
    impl_->bytes_since_empty += static_cast<std::int64_t>(m->len);
    ++impl_->messages_since_empty;
    r.index = slot ? slot->index : record::no_index;  // not assigned: the session skips it
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    r.timestamp = timestamp;
    r.value = m->payload ? std::string_view(static_cast<const char*>(m->payload), m->len)
                         : std::string_view{};
    r.key = m->key ? std::optional<std::string_view>(std::in_place,
                                                     static_cast<const char*>(m->key), m->key_len)
                   : std::nullopt;
  }
  // Keep every message (errors too) alive until the next poll; release_held destroys them.
  impl_->held.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  // librdkafka 2.0 (before fetch.queue.backoff.ms) stops fetching once the consumer queue holds
  // queued.max.messages.kbytes or queued.min.messages, and looks again only when a broker
  // thread wakes on its own, up to a second later: a reader faster than Kafka would idle most
  // of every second. When the queue runs dry after about a cap's worth, wake the fetchers.
  if (got < static_cast<ssize_t>(out.size())) {
    impl_->empty_queue_seen();
  }
  return n;
}

bool consumer::park(std::size_t index, bool parked, std::int64_t next_offset) {
  for (auto& t : impl_->topics) {
    for (std::size_t p = 0; p < t.partitions.size(); ++p) {
      auto& a = t.partitions[p];
      if (a.next < 0 || a.index != index)
        continue;
      if (a.parked == parked)
        return false;
      partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(list.get(), t.name.c_str(), static_cast<std::int32_t>(p))
          ->offset = next_offset;
      if (!parked) {
        // Where the stream is now (records came from elsewhere meanwhile): a seek while paused
        // sets where the fetch starts when the resume below takes effect (both go through the
        // partition's queue in order). Timeout 0: asynchronous.
        if (rd_kafka_error_t* e = rd_kafka_seek_partitions(impl_->rk.get(), list.get(), 0)) {
          spdlog::debug("librdkafka seek: {}", rd_kafka_error_string(e));
          rd_kafka_error_destroy(e);
          return false;
        }
        a.next = next_offset;
      }
      // Both are asynchronous. A pause sets a version barrier before it returns, so records of
      // the partition already queued are dropped, not handed out.
      auto e = parked ? rd_kafka_pause_partitions(impl_->rk.get(), list.get())
                      : rd_kafka_resume_partitions(impl_->rk.get(), list.get());
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::debug("librdkafka {}: {}", parked ? "pause" : "resume",
                      rd_kafka_err2str(e != RD_KAFKA_RESP_ERR_NO_ERROR ? e : list->elems[0].err));
        return false;
      }
      a.parked = parked;
      return true;
    }
  }
  return false;
}

void consumer::next_offsets(std::vector<std::int64_t>& out) {
  partition_list_ptr list(rd_kafka_topic_partition_list_new(1));
  std::vector<const impl::assigned*> slots;
  for (const auto& t : impl_->topics) {
    for (std::size_t p = 0; p < t.partitions.size(); ++p) {
      if (t.partitions[p].next < 0)
        continue;
      rd_kafka_topic_partition_list_add(list.get(), t.name.c_str(), static_cast<std::int32_t>(p));
      slots.push_back(&t.partitions[p]);
    }
  }
  rd_kafka_position(impl_->rk.get(), list.get());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const auto& a = *slots[i];
    if (a.index >= out.size())
      out.resize(a.index + 1, -1);
    const auto& position = list->elems[i];
    out[a.index] =
        position.err == RD_KAFKA_RESP_ERR_NO_ERROR ? std::max(a.next, position.offset) : a.next;
  }
}

source_lag consumer::lag(std::int64_t now_ms) {
  source_lag out;
  if (!impl_->lag_list) {
    impl_->lag_list.reset(rd_kafka_topic_partition_list_new(1));
    for (const auto& t : impl_->topics) {
      for (std::size_t p = 0; p < t.partitions.size(); ++p) {
        if (t.partitions[p].next >= 0)
          rd_kafka_topic_partition_list_add(impl_->lag_list.get(), t.name.c_str(),
                                            static_cast<std::int32_t>(p));
      }
    }
  }
  // librdkafka's position moves past the transaction markers that end a partition, which it
  // never hands out: without it, a partition ending with one would look a record behind for
  // ever. Non-blocking (the consumer's own state, under its lock).
  rd_kafka_position(impl_->rk.get(), impl_->lag_list.get());
  int listed = 0;
  for (auto& t : impl_->topics) {
    for (std::size_t p = 0; p < t.partitions.size(); ++p) {
      auto& a = t.partitions[p];
      if (a.next < 0)
        continue;
      const auto& position = impl_->lag_list->elems[listed++];
      if (a.parked)
        continue;  // read elsewhere (park()): this consumer's end for it is not fetched
      const std::int64_t next =
          position.err == RD_KAFKA_RESP_ERR_NO_ERROR ? std::max(a.next, position.offset) : a.next;
      // The end as of the last Fetch answer for the partition, read from librdkafka's cache:
      // non-blocking (rd_kafka_query_watermark_offsets would ask the broker).
      std::int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(impl_->rk.get(), t.name.c_str(),
                                         static_cast<std::int32_t>(p), &low,
                                         &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        ++out.unknown;
        continue;
      }
      if (high <= next) {
        a.caught_up_ms = now_ms;
        continue;
      }
      out.records += high - next;
      // The oldest record not received yet (offset `next`) came after the last one received
      // and after the partition was last seen caught up: its age is at most the time since the
      // later of the two. With neither known, the time since the consumer was created.
      std::int64_t after = std::max(a.last_timestamp, a.caught_up_ms);
      if (after < 0)
        after = impl_->created_ms;
      out.seconds = std::max(
          out.seconds, static_cast<double>(std::max<std::int64_t>(0, now_ms - after)) / 1000.0);
    }
  }
  return out;
}

}  // namespace eventstreams::kafka

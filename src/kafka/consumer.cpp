// librdkafka consumer behind the non-blocking interface the SSE session needs.
#include "consumer.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "kafka_conf.hpp"

namespace eventstreams::kafka {

struct consumer::impl {
  kafka_ptr rk;
  queue_ptr queue;
  int wake_fd = -1;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  std::vector<rd_kafka_message_t*> held;  // records handed out by the last poll()

  void release_held() {
    for (auto* m : held)
      rd_kafka_message_destroy(m);
    held.clear();
  }
  ~impl() {
    release_held();
    if (queue)
      rd_kafka_queue_io_event_enable(queue.get(), -1, nullptr, 0);
    // librdkafka 2.0.2 leaks its topic objects (~5.6 KB) when a consumer is destroyed within
    // milliseconds of assign(); serving the queue briefly first avoids it. This runs on the
    // blocking pool, so the short wait costs no I/O thread.
    if (queue && std::chrono::steady_clock::now() - created < std::chrono::seconds(2)) {
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
  for (const auto& p : positions) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset =
        p.next_offset;
  }
  if (auto e = rd_kafka_assign(rk, list.get())) {
    throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(e));
  }
}

consumer::~consumer() = default;

int consumer::dup_wake_fd() const {
  int fd = ::fcntl(impl_->wake_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(std::string("dup: ") + strerror(errno));
  return fd;
}

void consumer::reset_wake() const {
  std::uint64_t value;
  // EAGAIN when already zero: nothing to do.
  [[maybe_unused]] auto n = ::read(impl_->wake_fd, &value, sizeof value);
}

std::size_t consumer::poll(std::span<record> out, std::vector<consumer_error>& errors) {
  impl_->release_held();
  impl_->held.resize(out.size());
  ssize_t got = rd_kafka_consume_batch_queue(impl_->queue.get(), 0, impl_->held.data(), out.size());
  std::size_t n = 0;
  for (ssize_t i = 0; i < got; ++i) {
    rd_kafka_message_t* m = impl_->held[static_cast<std::size_t>(i)];
    if (m->err) {
      consumer_error e;
      e.kind = rd_kafka_err2name(m->err);
      e.detail = rd_kafka_message_errstr(m);
      if (m->rkt)
        e.detail = std::string(rd_kafka_topic_name(m->rkt)) + ": " + e.detail;
      // librdkafka retries transport and broker errors itself; these end the stream.
      e.fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                m->err == RD_KAFKA_RESP_ERR__AUTHENTICATION;
      errors.push_back(std::move(e));
      continue;
    }
    record& r = out[n++];
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    rd_kafka_timestamp_type_t tstype;
    r.timestamp = rd_kafka_message_timestamp(m, &tstype);
    r.value = m->payload ? std::string_view(static_cast<const char*>(m->payload), m->len)
                         : std::string_view{};
  }
  // Keep every message (errors too) alive until the next poll; release_held destroys them.
  impl_->held.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return n;
}

}  // namespace eventstreams::kafka

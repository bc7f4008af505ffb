// librdkafka C-API producer with per-record delivery tracking.
#include "test_producer.hpp"

#include <gtest/gtest.h>

#include "daemon_process.hpp"  // trace()

#include <algorithm>
#include <array>
#include <stdexcept>
#include <thread>

namespace eventstreams::test {
namespace {

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error("producer property " + name + ": " + err);
  }
}

}  // namespace

test_producer::test_producer(const std::string& bootstrap, producer_options opts)
    : opts_(std::move(opts)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstrap);
  set(conf, "client.id", opts_.client_id);
  set(conf, "linger.ms", std::to_string(opts_.linger_ms));
  // Per-partition order must be exactly produce() order, even with retries. (Idempotence
  // would also keep it, but its producer-id handshake adds up to a second per test.)
  set(conf, "max.in.flight.requests.per.connection", "1");
  // A record not delivered within 15 s fails (flush() reports it): brokers answer in
  // milliseconds, and the fault tests' outages end (and the producer reconnects, within the
  // 1 s backoff below) well inside it.
  set(conf, "message.timeout.ms", "15000");
  // Back at most a second after brokers return (librdkafka's default backoff grows to 10 s,
  // which on a busy machine outlasted the message timeout of records written in an outage).
  set(conf, "reconnect.backoff.max.ms", "1000");
  // Room for a benchmark's bursts; produce() waits while even this is full.
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "2097151");
  for (const auto& [name, value] : opts_.properties)
    set(conf, name, value);
  rd_kafka_conf_set_dr_msg_cb(conf, &test_producer::on_delivery);
  if (opts_.quiet)
    rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create producer: ") + err);
  }
}

test_producer::~test_producer() {
  rd_kafka_flush(rk_, 5000);  // bounded: a test that wanted its records flushed already
  rd_kafka_destroy(rk_);
}

std::size_t test_producer::produce(const std::string& topic, std::int32_t partition,
                                   std::string_view value, std::int64_t timestamp_ms,
                                   bool null_value) {
  const std::size_t index = static_cast<std::size_t>(produced_);
  if (opts_.keep_records) {
    produced_record rec;
    rec.topic = topic;
    rec.partition = partition;
    rec.value = std::string(value);
    rec.timestamp = timestamp_ms;
    records_.push_back(std::move(rec));
  }

  static char empty_buffer[1] = {0};
  std::array<rd_kafka_vu_t, 6> vu{};
  vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[0].u.cstr = topic.c_str();
  vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
  vu[1].u.i32 = partition;
  vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[2].u.mem.ptr = null_value      ? nullptr
                    : value.empty() ? empty_buffer
                                    : const_cast<char*>(value.data());
  vu[2].u.mem.size = value.size();
  vu[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[3].u.i = RD_KAFKA_MSG_F_COPY;
  vu[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  // The opaque carries the record's index + 1 (not a pointer: records_ may reallocate), or 0
  // when records are not kept.
  vu[4].u.ptr = opts_.keep_records ? reinterpret_cast<void*>(index + 1) : nullptr;
  vu[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
  vu[5].u.i64 = timestamp_ms;
  while (true) {
    rd_kafka_error_t* error = rd_kafka_produceva(rk_, vu.data(), vu.size());
    if (!error)
      break;
    auto code = rd_kafka_error_code(error);
    std::string text = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (opts_.keep_records)
        records_.pop_back();
      throw std::runtime_error("produce to " + topic + ": " + text);
    }
    rd_kafka_poll(rk_, 10);  // queue full: serve delivery reports, then retry
  }
  ++produced_;
  rd_kafka_poll(rk_, 0);
  return index;
}

void test_producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<test_producer*>(opaque);
  self->last_delivery_ = std::chrono::steady_clock::now();
  if (msg->err) {
    ++self->failed_;
    if (self->first_error_.empty())
      self->first_error_ = rd_kafka_err2str(msg->err);
  } else {
    ++self->delivered_;
    const char* topic = rd_kafka_topic_name(msg->rkt);
    auto& r = self->ranges_[{topic, msg->partition}];
    r.first = r.first < 0 ? msg->offset : std::min(r.first, msg->offset);
    r.last = std::max(r.last, msg->offset);
    ++r.count;
  }
  auto index = reinterpret_cast<std::size_t>(msg->_private);
  if (index == 0 || index > self->records_.size())
    return;
  produced_record& rec = self->records_[index - 1];
  rec.delivered = true;
  rec.offset = msg->offset;
  rec.error = msg->err ? rd_kafka_err2str(msg->err) : "";
  if (rec.timestamp == 0) {
    rd_kafka_timestamp_type_t type;
    rec.timestamp = rd_kafka_message_timestamp(msg, &type);
  }
}

void test_producer::poll() {
  rd_kafka_poll(rk_, 0);
}

bool test_producer::await_delivery(std::chrono::steady_clock::time_point deadline) {
  while (outstanding() > 0 && std::chrono::steady_clock::now() < deadline)
    rd_kafka_poll(rk_, 10);
  return outstanding() == 0;
}

bool test_producer::flush(std::chrono::milliseconds timeout) {
  auto t0 = std::chrono::steady_clock::now();
  auto err = rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
  trace("producer flush", t0);
  rd_kafka_poll(rk_, 0);  // serve the last delivery reports
  bool ok = true;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || outstanding() != 0) {
    ADD_FAILURE() << "producer flush: " << rd_kafka_err2str(err) << ", " << outstanding()
                  << " records without a delivery report";
    ok = false;
  }
  if (!opts_.keep_records && failed_ > 0) {
    ADD_FAILURE() << failed_ << " records failed, the first with: " << first_error_;
    ok = false;
  }
  for (std::size_t i = checked_; i < records_.size(); ++i) {
    const auto& r = records_[i];
    if (r.delivered && (!r.error.empty() || r.offset < 0)) {
      ADD_FAILURE() << "record " << i << " to " << r.topic << "/" << r.partition
                    << " failed: " << r.error << " (offset " << r.offset << ")";
      ok = false;
    }
  }
  if (outstanding() == 0)
    checked_ = records_.size();
  return ok;
}

}  // namespace eventstreams::test

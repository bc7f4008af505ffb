// The benchmark's Kafka producer and its synthetic recentchange events.
#include "event_producer.hpp"

#include <librdkafka/rdkafka.h>

#include <array>
#include <charconv>
#include <ctime>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "sse_client.hpp"  // realtime_ns

namespace bench {
namespace {

struct wiki {
  std::string_view db, domain;
};
constexpr std::array<wiki, 6> wikis{{{"enwiki", "en.wikipedia.org"},
                                     {"dewiki", "de.wikipedia.org"},
                                     {"frwiki", "fr.wikipedia.org"},
                                     {"commonswiki", "commons.wikimedia.org"},
                                     {"wikidatawiki", "www.wikidata.org"},
                                     {"jawiki", "ja.wikipedia.org"}}};
constexpr std::array<std::string_view, 4> types{"edit", "new", "log", "categorize"};
constexpr std::array<std::string_view, 4> comments{
    R"(/* Early life */ copyedit, fix \"citation needed\")",
    R"(Reverted edits by [[Special:Contributions/203.0.113.7]])",
    R"(→‎References: add {{cite web}}, remove dead link)",
    R"(Created page with \"'''Example''' is a village.\")"};

template <class Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_hex(std::string& out, std::uint64_t v, int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(hex[(v >> (4 * i)) & 0xF]);
}

void append_uuid(std::string& out, std::uint64_t seed) {
  std::uint64_t a = seed * 0x9E3779B97F4A7C15ULL, b = (seed + 17) * 0xC2B2AE3D27D4EB4FULL;
  append_hex(out, a >> 32, 8);
  out.push_back('-');
  append_hex(out, a >> 16, 4);
  out += "-4";
  append_hex(out, a, 3);
  out += "-8";
  append_hex(out, b >> 48, 3);
  out.push_back('-');
  append_hex(out, b, 12);
}

}  // namespace

void make_event(std::uint64_t seq, std::int64_t sent_ns, std::string& out) {
  const wiki& w = wikis[seq % wikis.size()];
  const std::int64_t secs = sent_ns / 1000000000;
  char dt[32];
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(dt, sizeof dt, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string title = "Bench_";
  append_int(title, seq % 100000);
  const std::string_view comment = comments[seq % comments.size()];
  const std::uint64_t rev = 1226788000 + seq;

  out += R"({"bench_sent_ns":)";
  append_int(out, sent_ns);
  out += R"(,"bench_seq":)";
  append_int(out, seq);
  out += R"(,"$schema":"/mediawiki/recentchange/1.0.0","meta":{"uri":"https://)";
  out += w.domain;
  out += "/wiki/";
  out += title;
  out += R"(","request_id":")";
  append_uuid(out, seq);
  out += R"(","id":")";
  append_uuid(out, seq ^ 0x5bd1e995);
  out += R"(","dt":")";
  out += dt;
  out += ".";
  append_int(out, 100 + (sent_ns / 1000000) % 900);
  out += R"(Z","domain":")";
  out += w.domain;
  out += R"(","stream":"mediawiki.recentchange"},"id":)";
  append_int(out, 1789012345 + seq);
  out += R"(,"type":")";
  out += types[seq % types.size()];
  out += R"(","namespace":)";
  append_int(out, seq % 15 == 0 ? 14 : 0);
  out += R"(,"title":")";
  out += title;
  out += R"(","title_url":"https://)";
  out += w.domain;
  out += "/wiki/";
  out += title;
  out += R"(","comment":")";
  out += comment;
  out += R"(","timestamp":)";
  append_int(out, secs);
  out += R"(,"user":"BenchUser)";
  append_int(out, seq % 997);
  out += R"(","bot":)";
  out += seq % 7 == 0 ? "true" : "false";
  out += R"(,"notify_url":"https://)";
  out += w.domain;
  out += "/w/index.php?diff=";
  append_int(out, rev);
  out += "&oldid=";
  append_int(out, rev - 1);
  out += R"(","minor":)";
  out += seq % 3 == 0 ? "true" : "false";
  out += R"(,"patrolled":)";
  out += seq % 2 == 0 ? "true" : "false";
  out += R"(,"length":{"old":)";
  append_int(out, 10000 + seq % 90000);
  out += R"(,"new":)";
  append_int(out, 10000 + (seq * 7) % 90000);
  out += R"(},"revision":{"old":)";
  append_int(out, rev - 1);
  out += R"(,"new":)";
  append_int(out, rev);
  out += R"(},"server_url":"https://)";
  out += w.domain;
  out += R"(","server_name":")";
  out += w.domain;
  out += R"(","server_script_path":"/w","wiki":")";
  out += w.db;
  out += R"(","parsedcomment":"<span class=\"autocomment\">→‎Section: </span> )";
  out += comment;
  out += R"("})";
}

struct event_producer::impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  std::string topic;
  int partitions = 1;
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::chrono::steady_clock::time_point last_ack;
  std::chrono::steady_clock::time_point start;  // of the last paced() run

  // Serves delivery reports until every produced event is acknowledged or `deadline`.
  void await_acks(std::uint64_t produced, std::chrono::steady_clock::time_point deadline) {
    while (delivered + failed < produced && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_poll(rk, 10);
    }
  }

  // Produces one event to `partition`, waiting while the local queue is full.
  bool produce(std::string& value, std::int32_t partition,
               std::chrono::steady_clock::time_point deadline) {
    while (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, value.data(), value.size(),
                            nullptr, 0, nullptr) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
          std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      rd_kafka_poll(rk, 1);
    }
    return true;
  }

  // Builds event `seq` (stamped now) in `value`, adds its size to `bytes` and produces it to
  // partition seq % partitions.
  bool produce_event(std::uint64_t seq, std::string& value, std::uint64_t& bytes,
                     std::chrono::steady_clock::time_point deadline) {
    value.clear();
    make_event(seq, realtime_ns(), value);
    bytes += value.size();
    return produce(value, static_cast<std::int32_t>(seq % static_cast<std::uint64_t>(partitions)),
                   deadline);
  }
};

namespace {
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* p = static_cast<event_producer::impl*>(opaque);
  if (m->err) {
    ++p->failed;
  } else {
    ++p->delivered;
  }
  p->last_ack = std::chrono::steady_clock::now();
}
}  // namespace

event_producer::event_producer(const std::string& bootstrap, std::string topic, int partitions,
                               const std::vector<std::pair<std::string, std::string>>& properties)
    : impl_(std::make_unique<impl>()) {
  impl_->topic = std::move(topic);
  impl_->partitions = partitions;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("producer property " + name + ": " + err);
    }
  };
  set("bootstrap.servers", bootstrap);
  set("client.id", "eventstreams-load-bench");
  set("linger.ms", "5");
  set("queue.buffering.max.messages", "1000000");
  set("queue.buffering.max.kbytes", "2097151");
  for (const auto& [name, value] : properties)
    set(name, value);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  // The daemon (and its embedded cluster) goes away at the end of a scenario: keep the
  // client's reconnect complaints out of the report.
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  rd_kafka_conf_set_opaque(conf, impl_.get());
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (impl_->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("producer: ") + err);
  }
  impl_->rkt = rd_kafka_topic_new(impl_->rk, impl_->topic.c_str(), nullptr);
}

event_producer::~event_producer() {
  if (impl_->rkt)
    rd_kafka_topic_destroy(impl_->rkt);
  if (impl_->rk) {
    rd_kafka_flush(impl_->rk, 2000);
    rd_kafka_destroy(impl_->rk);
  }
}

produce_result event_producer::burst(std::uint64_t count,
                                     std::chrono::steady_clock::time_point deadline) {
  produce_result res;
  impl_->delivered = impl_->failed = 0;
  std::string value;
  std::uint64_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    if (!impl_->produce_event(seq, value, bytes, deadline))
      break;
    ++res.produced;
    if (seq % 1024 == 0)
      rd_kafka_poll(impl_->rk, 0);
  }
  impl_->await_acks(res.produced, deadline);
  res.delivered = impl_->delivered;
  res.failed = impl_->failed + (res.produced - impl_->delivered - impl_->failed);
  res.seconds = std::chrono::duration<double>(impl_->last_ack - start).count();
  res.avg_bytes = res.produced ? bytes / res.produced : 0;
  return res;
}

produce_result event_producer::paced(double rate, std::chrono::milliseconds duration,
                                     std::chrono::steady_clock::time_point deadline) {
  produce_result res;
  impl_->delivered = impl_->failed = 0;
  std::string value;
  std::uint64_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto count = static_cast<std::uint64_t>(rate * static_cast<double>(duration.count()) / 1e3);
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(seq) / rate));
    if (due > deadline)
      break;
    std::this_thread::sleep_until(due);
    if (!impl_->produce_event(seq, value, bytes, deadline))
      break;
    ++res.produced;
    rd_kafka_poll(impl_->rk, 0);
  }
  impl_->start = start;
  res.avg_bytes = res.produced ? bytes / res.produced : 0;
  return res;
}

void event_producer::await_acks(produce_result& res,
                                std::chrono::steady_clock::time_point deadline) {
  impl_->await_acks(res.produced, deadline);
  res.delivered = impl_->delivered;
  res.failed = impl_->failed + (res.produced - impl_->delivered - impl_->failed);
  res.seconds = std::chrono::duration<double>(impl_->last_ack - impl_->start).count();
}

}  // namespace bench

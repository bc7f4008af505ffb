// librdkafka configuration defaults and the log callback.
#include "kafka_conf.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace eventstreams::kafka {
namespace {

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error("kafka.properties." + name + ": " + err);
  }
}

void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0-2 critical, 3 error, 4 warning, 5-6 info, 7 debug.
  auto lvl = level <= 2   ? spdlog::level::critical
             : level == 3 ? spdlog::level::err
             : level == 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  spdlog::log(lvl, "librdkafka {} {}: {}", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

}  // namespace

conf_ptr make_conf(const kafka_config& cfg, const std::string& bootstrap, client_role role) {
  conf_ptr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", bootstrap);
  set(conf.get(), "client.id", "eventstreams");
  switch (role) {
    case client_role::consumer:
      // One consumer per client connection: cap prefetching so memory does not follow the
      // client count (librdkafka's default is 64 MB). With assign() every partition feeds one
      // consumer queue, so the cap is per connection. librdkafka 2.0 parks the fetchers for up
      // to a second once the queue is over the cap; consumer::poll restarts them when the
      // reader has caught up, so the cap bounds memory without limiting catch-up speed.
      set(conf.get(), "queued.min.messages", "100000");
      set(conf.get(), "queued.max.messages.kbytes", "16384");
      set(conf.get(), "fetch.max.bytes", "4194304");
      set(conf.get(), "receive.message.max.bytes", "8388608");
      set(conf.get(), "enable.auto.commit", "false");
      set(conf.get(), "enable.auto.offset.store", "false");
      set(conf.get(), "enable.partition.eof", "false");
      // After retention removed the position mid-stream: continue at the oldest record.
      set(conf.get(), "auto.offset.reset", "earliest");
      set(conf.get(), "group.id", "eventstreams");  // required by the API; never joined
      break;
    case client_role::lookup:
      // A metadata lookup must never create a topic: a missing topic is an error to report.
      // (Consumers default to false already.)
      set(conf.get(), "allow.auto.create.topics", "false");
      break;
    case client_role::producer:
      set(conf.get(), "linger.ms", "5");
      break;
  }
  for (const auto& [name, value] : cfg.properties) {
    set(conf.get(), name, value);
  }
  rd_kafka_conf_set_log_cb(conf.get(), log_callback);
  return conf;
}

}  // namespace eventstreams::kafka

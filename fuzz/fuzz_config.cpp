// Fuzzes parse_config (YAML text -> validated config): config_error is the only exception
// allowed out; an accepted config must satisfy the documented ranges and build a catalog in
// which every stream name and alias resolves to its stream.
//
// The corpus keeps the inputs that once made parse_config loop forever inside yaml-cpp 0.7's
// LoadAll (a stray ','): parse_config now counts documents with a bounded loop.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>
#include <sstream>
#include <typeinfo>

#include <yaml-cpp/yaml.h>

#include "fuzz_check.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/stream_catalog.hpp"

namespace {

using namespace eventstreams;

using eventstreams::fuzz::check;
using eventstreams::fuzz::fail;

bool is_name(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

void check_config(const config& cfg) {
  const auto& s = cfg.server;
  check(s.threads <= 256, "server.threads out of range");
  check(s.max_connections >= 1, "server.max_connections < 1");
  check(s.max_streams_per_request >= 1, "server.max_streams_per_request < 1");
  check(s.max_buffered_bytes >= 4096, "server.max_buffered_bytes < 4096");
  check(s.max_request_header_bytes >= 1024 && s.max_request_header_bytes <= (1 << 20),
        "server.max_request_header_bytes out of range");
  constexpr std::int64_t max_ms = 7LL * 24 * 3600 * 1000;
  for (const auto d : {s.heartbeat_interval, s.max_connection_duration}) {
    check(d.count() >= 0 && d.count() <= max_ms, "zero-allowed duration out of range");
  }
  for (const auto d : {s.kafka_timeout, s.shutdown_timeout, s.stall_timeout,
                       s.request_header_timeout, cfg.kafka.readiness_interval}) {
    check(d.count() > 0 && d.count() <= max_ms, "positive duration out of range");
  }
  check(!cfg.kafka.bootstrap_servers.empty(), "empty kafka.bootstrap_servers");
  check(cfg.kafka.properties.count("bootstrap.servers") == 0 &&
            cfg.kafka.properties.count("metadata.broker.list") == 0,
        "brokers set through kafka.properties");
  const auto& e = cfg.kafka.embedded;
  check(e.brokers >= 1 && e.brokers <= 16, "embedded.brokers out of range");
  check(e.partitions >= 1 && e.partitions <= 256, "embedded.partitions out of range");
  check(e.demo_rate >= 0 && e.demo_rate <= 100000, "embedded.demo_rate out of range");

  std::set<std::string> names;
  for (const auto& stream : cfg.streams) {
    check(is_name(stream.name), "invalid stream name accepted");
    check(names.insert(stream.name).second, "duplicate stream name accepted");
    check(!stream.topics.empty(), "stream without topics accepted");
    std::set<std::string> topics;
    for (const auto& topic : stream.topics) {
      check(is_name(topic) && topic.size() <= 249 && topic != "." && topic != "..",
            "invalid topic name accepted");
      check(topics.insert(topic).second, "duplicate topic accepted");
    }
    for (const auto& alias : stream.aliases) {
      check(is_name(alias), "invalid alias accepted");
      check(names.insert(alias).second, "alias clashing with a name or alias accepted");
    }
  }

  const stream_catalog catalog(cfg.streams);
  for (const auto& stream : cfg.streams) {
    const stream_config* found = catalog.find(stream.name);
    check(found != nullptr && found->name == stream.name, "stream name does not resolve");
    for (const auto& alias : stream.aliases) {
      found = catalog.find(alias);
      check(found != nullptr && found->name == stream.name, "alias does not resolve");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check_config(parse_config(text, "fuzz.yaml"));
  } catch (const config_error& e) {
    check(std::string_view(e.what()).starts_with("fuzz.yaml: "), "error without the file name");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config let %s escape: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    fail("parse_config let a non-std exception escape");
  }
  return 0;
}

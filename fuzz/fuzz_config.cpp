// Fuzzes parse_config (YAML text -> validated config): config_error is the only exception
// allowed out; an accepted config must satisfy the documented ranges and build a catalog in
// which every stream name and alias resolves to its stream. Names are checked against an oracle
// written from the documentation, not from the loader's code: a regular expression of the
// documented rule. Each input is also read as up to three lines (a stream name, an alias, a
// topic) put into a config of their own, which the loader must accept exactly when the oracle
// says all three are valid.
//
// The corpus keeps the inputs that once made parse_config loop forever inside yaml-cpp 0.7's
// LoadAll (a stray ','): parse_config now counts documents with a bounded loop.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>
#include <regex>
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

// The oracle. config/eventstreams.yaml (`streams:`): names and aliases "use only letters, digits,
// '.', '_' and '-', and are matched case-sensitively" (ASCII letters, as in URLs), at least one
// of them. Topics follow Kafka's rule, quoted by the loader's error message and the same in
// Kafka's documentation: 1 to 249 of those characters, and not "." or "..". Written as a search
// for one character outside the set (libstdc++ matches a repetition recursively, once per
// character, which a long input would turn into a stack overflow).
bool documented_name(std::string_view s) {
  static const std::regex outside_the_set("[^A-Za-z0-9._-]");
  return !s.empty() && !std::regex_search(s.begin(), s.end(), outside_the_set);
}

bool documented_topic(std::string_view s) {
  return documented_name(s) && s.size() <= 249 && s != "." && s != "..";
}

// `s` as a YAML double-quoted scalar: printable ASCII as itself, every other byte as \xHH.
// Returns the text and, in `decoded`, the string YAML reads back (\xHH is the code point U+00HH,
// which yaml-cpp stores as UTF-8).
std::string yaml_quoted(std::string_view s, std::string& decoded) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  decoded.clear();
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && c != '"' && c != '\\') {
      out += c;
      decoded += c;
      continue;
    }
    out += "\\x";
    out += hex[b >> 4];
    out += hex[b & 0xF];
    if (b < 0x80) {
      decoded += c;
    } else {
      decoded += static_cast<char>(0xC0 | (b >> 6));
      decoded += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out + "\"";
}

// The input's first three lines as a stream name, an alias and a topic (valid defaults for
// missing lines), in a config of their own: accepted exactly when the oracle allows all three
// and the alias differs from the name.
void check_names(std::string_view text) {
  std::array<std::string, 3> field{"", "default-alias", "default.topic"};
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto nl = text.find('\n');
    if (i > 0 && text.empty())
      break;
    field[i] = std::string(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  std::array<std::string, 3> decoded;
  const std::string yaml = "streams:\n  " + yaml_quoted(field[0], decoded[0]) + ":\n    topics: [" +
                           yaml_quoted(field[2], decoded[2]) + "]\n    aliases: [" +
                           yaml_quoted(field[1], decoded[1]) + "]\n";
  const bool expected = documented_name(decoded[0]) && documented_name(decoded[1]) &&
                        decoded[0] != decoded[1] && documented_topic(decoded[2]);
  bool accepted = false;
  try {
    const config cfg = parse_config(yaml, "names.yaml");
    accepted = true;
    check(cfg.streams.size() == 1 && cfg.streams[0].name == decoded[0] &&
              cfg.streams[0].aliases == std::vector<std::string>{decoded[1]} &&
              cfg.streams[0].topics == std::vector<std::string>{decoded[2]},
          "the loader changed a name, an alias or a topic");
  } catch (const config_error&) {
  }
  if (accepted != expected) {
    std::fprintf(stderr, "names config %s but the documented rule says %s:\n%s",
                 accepted ? "accepted" : "refused", expected ? "valid" : "invalid", yaml.c_str());
    fail("the name rule disagrees with its documentation");
  }
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
    check(documented_name(stream.name), "invalid stream name accepted");
    check(names.insert(stream.name).second, "duplicate stream name accepted");
    check(!stream.topics.empty(), "stream without topics accepted");
    std::set<std::string> topics;
    for (const auto& topic : stream.topics) {
      check(documented_topic(topic), "invalid topic name accepted");
      check(topics.insert(topic).second, "duplicate topic accepted");
    }
    for (const auto& alias : stream.aliases) {
      check(documented_name(alias), "invalid alias accepted");
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
  try {
    check_names(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config let %s escape: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}

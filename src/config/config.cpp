// YAML text -> validated config (API.md §2). Every key is checked for type and range here,
// so the rest of the program can trust the values; every error names the file and the key.
#include "eventstreams/config.hpp"

#include "filter_section.hpp"
#include "stream_config_section.hpp"
#include "streams_section.hpp"
#include "yaml_reader.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace eventstreams {

namespace {

// Parses a document and discards it: used only to count the documents of a file.
class document_counter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

using config_detail::child_key;
using config_detail::format_byte_size;
using config_detail::is_name;
using config_detail::no_limit;
using config_detail::read_delivery_mode;
using config_detail::read_filter;
using config_detail::read_stream_source;
using config_detail::read_streams;
using config_detail::resolve_streams;
using config_detail::stream_entry;
using config_detail::yaml_reader;

std::string format_message(const std::string& file, const std::string& key,
                           const std::string& reason) {
  return key.empty() ? file + ": " + reason : file + ": " + key + ": " + reason;
}

// HTTP header field names are RFC 9110 tokens.
bool is_token(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool has_control_char(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

// "host:port", "[v6]:port". Port 0 asks the OS for a free port (used by tests).
void read_listen(const yaml_reader& r, const std::string& text, const std::string& key,
                 std::string& out_host, std::uint16_t& out_port) {
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      r.fail(key, "expected \"[ipv6]:port\" (got \"" + text + "\")");
    }
    host = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
    if (host.empty() || host.find(':') == std::string::npos ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") < host.find('%')) {
      r.fail(key, "invalid IPv6 address \"" + host + "\"");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      r.fail(key, "expected \"host:port\" (got \"" + text + "\")");
    }
    host = text.substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      r.fail(key, "IPv6 addresses must be in brackets, e.g. \"[::1]:8092\"");
    }
    if (host.empty()) {
      r.fail(key, "missing host (use 0.0.0.0 for every interface)");
    }
    if (!is_name(host) || host.find('_') != std::string::npos) {
      r.fail(key, "invalid host \"" + host + "\"");
    }
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos ||
      ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
    r.fail(key, "invalid port \"" + std::string(port) + "\" (expected 0..65535)");
  }
  out_host = host;
  out_port = static_cast<std::uint16_t>(value);
}

void read_server(const yaml_reader& r, const YAML::Node& node, server_config& s) {
  r.for_each_entry(
      node, "server", [&](const std::string& name, const YAML::Node& v, const std::string& key) {
        if (name == "listen") {
          read_listen(r, r.scalar(v, key), key, s.listen_host, s.listen_port);
        } else if (name == "reuse_port") {
          s.reuse_port = r.one_of(v, key, {"true", "false"}) == "true";
        } else if (name == "admin_listen") {
          const std::string text = r.scalar(v, key);
          s.admin_listen_host.clear();
          if (!text.empty())
            read_listen(r, text, key, s.admin_listen_host, s.admin_listen_port);
        } else if (name == "threads") {
          s.threads = static_cast<unsigned>(r.integer(v, key, 0, 256));
        } else if (name == "heartbeat_interval") {
          s.heartbeat_interval = r.duration(v, key, true);
        } else if (name == "max_connections") {
          s.max_connections = r.integer(v, key, 1, no_limit);
        } else if (name == "client_ip_connection_limit") {
          s.client_ip_connection_limit = r.integer(v, key, 0, no_limit);
        } else if (name == "client_ip_header") {
          s.client_ip_header = r.scalar(v, key);
          if (!is_token(s.client_ip_header)) {
            r.fail(key, "not a valid HTTP header name: \"" + s.client_ip_header + "\"");
          }
        } else if (name == "max_connection_duration") {
          s.max_connection_duration = r.duration(v, key, true);
        } else if (name == "cors_allow_origin") {
          s.cors_allow_origin.clear();
          auto add = [&](const YAML::Node& item, const std::string& item_key) {
            std::string origin = r.scalar(item, item_key);
            // Copied into a response header: a line break would split the response.
            if (has_control_char(origin))
              r.fail(item_key, "must not contain control characters");
            if (origin.empty())
              r.fail(item_key, "must not be empty");
            s.cors_allow_origin.push_back(std::move(origin));
          };
          if (v.IsSequence()) {
            r.for_each_item(v, key, add);
          } else {
            add(v, key);
          }
        } else if (name == "max_streams_per_request") {
          s.max_streams_per_request = r.integer(v, key, 1, no_limit);
        } else if (name == "max_buffered_bytes") {
          s.max_buffered_bytes = r.integer(v, key, 4096, no_limit);
        } else if (name == "kafka_timeout") {
          s.kafka_timeout = r.duration(v, key, false);
        } else if (name == "shutdown_timeout") {
          s.shutdown_timeout = r.duration(v, key, false);
        } else if (name == "stall_timeout") {
          s.stall_timeout = r.duration(v, key, false);
        } else if (name == "max_request_header_bytes") {
          s.max_request_header_bytes = r.integer(v, key, 1024, 1 << 20);
        } else if (name == "request_header_timeout") {
          s.request_header_timeout = r.duration(v, key, false);
        } else if (name == "memory_trim_interval") {
          s.memory_trim_interval = r.duration(v, key, true);
        } else if (name == "max_starting_streams") {
          s.max_starting_streams = r.integer(v, key, 1, 100000);
        } else if (name == "blocking_threads") {
          s.blocking_threads = static_cast<unsigned>(r.integer(v, key, 1, 256));
        } else if (name == "retry_after") {
          s.retry_after = r.duration(v, key, false);
          if (s.retry_after.count() % 1000 != 0) {
            r.fail(key, "must be whole seconds (Retry-After counts seconds)");
          }
        } else {
          return false;
        }
        return true;
      });
  if (!s.admin_listen_host.empty() && s.admin_listen_port != 0 &&
      s.admin_listen_port == s.listen_port &&
      (s.admin_listen_host == s.listen_host || s.admin_listen_host == "0.0.0.0" ||
       s.listen_host == "0.0.0.0")) {
    r.fail("server.admin_listen", "must be another address or port than server.listen");
  }
}

void read_properties(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                     std::map<std::string, std::string>& properties) {
  r.for_each_entry(
      node, key,
      [&](const std::string& name, const YAML::Node& v, const std::string& property_key) {
        // The brokers come from bootstrap_servers only, so there is one place to look.
        if (name == "bootstrap.servers" || name == "metadata.broker.list") {
          r.fail(property_key, "set kafka.bootstrap_servers instead");
        }
        // librdkafka takes every value as text; the scalar's own text ("100", "true") is it.
        properties[name] = r.scalar(v, property_key);
        return true;
      });
}

void read_embedded(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                   embedded_kafka_config& e) {
  r.for_each_entry(
      node, key, [&](const std::string& name, const YAML::Node& v, const std::string& setting_key) {
        if (name == "brokers") {
          e.brokers = static_cast<unsigned>(r.integer(v, setting_key, 1, 16));
        } else if (name == "partitions") {
          e.partitions = static_cast<unsigned>(r.integer(v, setting_key, 1, 256));
        } else if (name == "demo_rate") {
          e.demo_rate = r.number(v, setting_key, 0, 100000);
        } else {
          return false;
        }
        return true;
      });
}

void read_kafka(const yaml_reader& r, const YAML::Node& node, kafka_config& k) {
  r.for_each_entry(
      node, "kafka", [&](const std::string& name, const YAML::Node& v, const std::string& key) {
        if (name == "bootstrap_servers") {
          k.bootstrap_servers = r.scalar(v, key);
          if (k.bootstrap_servers.empty()) {
            r.fail(key, "must not be empty (use \"embedded\" for the in-process cluster)");
          }
        } else if (name == "properties") {
          read_properties(r, v, key, k.properties);
        } else if (name == "resume_by") {
          const bool by_offset = r.one_of(v, key, {"offset", "timestamp"}) == "offset";
          k.resume_by = by_offset ? resume_policy::offset : resume_policy::timestamp;
        } else if (name == "readiness_interval") {
          k.readiness_interval = r.duration(v, key, false);
        } else if (name == "metadata_cache_ttl") {
          k.metadata_cache_ttl = r.duration(v, key, true);
        } else if (name == "embedded") {
          read_embedded(r, v, key, k.embedded);
        } else {
          return false;
        }
        return true;
      });
}

void read_logging(const yaml_reader& r, const YAML::Node& node, logging_config& l) {
  r.for_each_entry(
      node, "logging", [&](const std::string& name, const YAML::Node& v, const std::string& key) {
        if (name == "level") {
          l.level =
              r.one_of(v, key, {"trace", "debug", "info", "warn", "error", "critical", "off"});
        } else if (name == "format") {
          l.format = r.one_of(v, key, {"text", "json"});
        } else {
          return false;
        }
        return true;
      });
}

// The smallest fanout.cohort_window: a group must be able to hold a few large events for its
// slowest member, or ordinary jitter would end clients with "overrun".
constexpr std::uint64_t min_cohort_window = std::uint64_t{64} << 10;

// The `fanout` section: the shared delivery mode (docs/api.md, "Delivery modes").
void read_fanout(const yaml_reader& r, const YAML::Node& node, const std::string& key,
                 fanout_config& f) {
  // Which ring bound the file set, to name it when the two contradict each other.
  bool per_partition_set = false;
  const auto read_ring = [&](const YAML::Node& ring, const std::string& ring_key) {
    r.for_each_entry(
        ring, ring_key,
        [&](const std::string& name, const YAML::Node& v, const std::string& setting_key) {
          if (name == "max_bytes_per_partition") {
            f.ring_max_bytes_per_partition = r.byte_size(v, setting_key, 1, no_limit);
            per_partition_set = true;
          } else if (name == "max_age") {
            f.ring_max_age = r.duration(v, setting_key, false);
          } else if (name == "max_bytes") {
            f.ring_max_bytes = r.byte_size(v, setting_key, 1, no_limit);
          } else if (name == "warm_records") {
            f.ring_warm_records = static_cast<std::int64_t>(
                r.integer(v, setting_key, 0, std::numeric_limits<std::int64_t>::max()));
          } else {
            return false;
          }
          return true;
        });
  };
  const auto read_catchup = [&](const YAML::Node& catchup, const std::string& catchup_key) {
    r.for_each_entry(
        catchup, catchup_key,
        [&](const std::string& name, const YAML::Node& v, const std::string& setting_key) {
          if (name == "readers_max") {
            f.catchup_readers_max = r.integer(v, setting_key, 1, no_limit);
          } else {
            return false;
          }
          return true;
        });
  };
  r.for_each_entry(
      node, key, [&](const std::string& name, const YAML::Node& v, const std::string& setting_key) {
        if (name == "mode") {
          f.mode = read_delivery_mode(r, v, setting_key);
        } else if (name == "ring") {
          read_ring(v, setting_key);
        } else if (name == "catchup") {
          read_catchup(v, setting_key);
        } else if (name == "cohort_window") {
          f.cohort_window = r.byte_size(v, setting_key, min_cohort_window, no_limit);
        } else if (name == "flush_delay") {
          f.flush_delay = r.duration(v, setting_key, true);
        } else if (name == "hub_properties") {
          read_properties(r, v, setting_key, f.hub_properties);
        } else {
          return false;
        }
        return true;
      });
  if (f.ring_max_bytes_per_partition > f.ring_max_bytes) {
    // Name the key the file set: a lowered max_bytes can contradict the per-partition default.
    const std::string ring_key = child_key(key, "ring");
    r.fail(child_key(ring_key, per_partition_set ? "max_bytes_per_partition" : "max_bytes"),
           "max_bytes_per_partition (" + format_byte_size(f.ring_max_bytes_per_partition) +
               (per_partition_set ? "" : ", its default") + ") must not exceed max_bytes (" +
               format_byte_size(f.ring_max_bytes) + ")");
  }
}

// Closes the config file however parsing ends.
struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

config_error::config_error(std::string file, std::string key, std::string reason)
    : std::runtime_error(format_message(file, key, reason)),
      file_(std::move(file)),
      key_(std::move(key)),
      reason_(std::move(reason)) {}

config parse_config(std::string_view yaml_text, const std::string& file_name) {
  const yaml_reader r(file_name);
  std::vector<YAML::Node> documents;
  try {
    // Count documents with a bounded loop: yaml-cpp 0.7's LoadAll never returns on some inputs
    // (a stray top-level ',' yields empty documents without consuming input; found by fuzzing).
    std::istringstream input{std::string(yaml_text)};
    YAML::Parser parser(input);
    document_counter counter;
    std::size_t count = 0;
    while (count < 2 && parser.HandleNextDocument(counter))
      ++count;
    if (count > 1)
      r.fail("", "expected one YAML document, found more");
    if (count == 1)
      documents.push_back(YAML::Load(std::string(yaml_text)));
  } catch (const YAML::Exception& e) {
    r.fail("", "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  config result;
  if (documents.empty()) {
    return result;  // an empty file: every default, no streams
  }
  std::vector<stream_entry> streams;
  r.for_each_entry(documents.front(), "",
                   [&](const std::string& section, const YAML::Node& v, const std::string& key) {
                     if (section == "server") {
                       read_server(r, v, result.server);
                     } else if (section == "kafka") {
                       read_kafka(r, v, result.kafka);
                     } else if (section == "logging") {
                       read_logging(r, v, result.logging);
                     } else if (section == "fanout") {
                       read_fanout(r, v, key, result.fanout);
                     } else if (section == "streams") {
                       streams = read_streams(r, v, key);
                     } else if (section == "stream_config") {
                       read_stream_source(r, v, key, result.stream_source);
                     } else if (section == "filter") {
                       read_filter(r, v, key, result.filter);
                     } else {
                       return false;
                     }
                     return true;
                   });
  // After every section: `fanout.mode`, the default of each stream, may follow `streams`.
  // A SIGHUP reload parses the whole file again, so it resolves the same way.
  result.streams = resolve_streams(std::move(streams), result.fanout.mode);
  return result;
}

config load_config_file(const std::string& path) {
  // stdio rather than ifstream: it reports the errno of a failed open or read (e.g. EISDIR),
  // where an ifstream would read a directory as an empty, valid file.
  const std::unique_ptr<std::FILE, file_closer> file(std::fopen(path.c_str(), "rb"));
  const auto cannot_read = [&path] {
    return config_error(path, "", std::string("cannot read file: ") + std::strerror(errno));
  };
  if (!file) {
    throw cannot_read();
  }
  std::string text;
  char buffer[8192];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get()) != 0) {
    throw cannot_read();
  }
  return parse_config(text, path);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  return config_detail::parse_duration_detailed(text).value;
}

}  // namespace eventstreams

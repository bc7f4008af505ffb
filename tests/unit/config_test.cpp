// The YAML loader: shipped files, every key, one-defect documents, durations.
#include "eventstreams/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace eventstreams {
namespace {

using std::chrono::milliseconds;

const std::string source_dir = EVENTSTREAMS_SOURCE_DIR;
const std::string data_dir = EVENTSTREAMS_TEST_DATA;

// Parsing `yaml` fails with a config_error naming `key`; returns the reason ("" if accepted).
std::string rejection(const std::string& yaml, const std::string& key) {
  try {
    parse_config(yaml, "bad.yaml");
    ADD_FAILURE() << "accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    return e.reason();
  }
  return "";
}

// The loader's defaults must be the struct defaults, whatever the file omits.
void expect_default_settings(const config& c) {
  const config d;
  EXPECT_EQ(c.server.listen_host, d.server.listen_host);
  EXPECT_EQ(c.server.listen_port, d.server.listen_port);
  EXPECT_EQ(c.server.reuse_port, d.server.reuse_port);
  EXPECT_EQ(c.server.admin_listen_host, d.server.admin_listen_host);
  EXPECT_EQ(c.server.threads, d.server.threads);
  EXPECT_EQ(c.server.max_starting_streams, d.server.max_starting_streams);
  EXPECT_EQ(c.server.blocking_threads, d.server.blocking_threads);
  EXPECT_EQ(c.server.retry_after, d.server.retry_after);
  EXPECT_EQ(c.server.memory_trim_interval, d.server.memory_trim_interval);
  EXPECT_EQ(c.kafka.metadata_cache_ttl, d.kafka.metadata_cache_ttl);
  EXPECT_EQ(c.server.heartbeat_interval, d.server.heartbeat_interval);
  EXPECT_EQ(c.server.max_connections, d.server.max_connections);
  EXPECT_EQ(c.server.client_ip_connection_limit, d.server.client_ip_connection_limit);
  EXPECT_EQ(c.server.client_ip_header, d.server.client_ip_header);
  EXPECT_EQ(c.server.max_connection_duration, d.server.max_connection_duration);
  EXPECT_EQ(c.server.cors_allow_origin, d.server.cors_allow_origin);
  EXPECT_EQ(c.server.max_streams_per_request, d.server.max_streams_per_request);
  EXPECT_EQ(c.server.max_buffered_bytes, d.server.max_buffered_bytes);
  EXPECT_EQ(c.server.kafka_timeout, d.server.kafka_timeout);
  EXPECT_EQ(c.server.shutdown_timeout, d.server.shutdown_timeout);
  EXPECT_EQ(c.server.stall_timeout, d.server.stall_timeout);
  EXPECT_EQ(c.server.max_request_header_bytes, d.server.max_request_header_bytes);
  EXPECT_EQ(c.server.request_header_timeout, d.server.request_header_timeout);
  EXPECT_EQ(c.kafka.bootstrap_servers, d.kafka.bootstrap_servers);
  EXPECT_EQ(c.kafka.properties, d.kafka.properties);
  EXPECT_EQ(c.kafka.resume_by, d.kafka.resume_by);
  EXPECT_EQ(c.kafka.embedded.brokers, d.kafka.embedded.brokers);
  EXPECT_EQ(c.kafka.embedded.partitions, d.kafka.embedded.partitions);
  EXPECT_EQ(c.kafka.embedded.demo_rate, d.kafka.embedded.demo_rate);
  EXPECT_EQ(c.logging.level, d.logging.level);
  EXPECT_EQ(c.logging.format, d.logging.format);
  EXPECT_EQ(c.fanout.mode, d.fanout.mode);
  EXPECT_EQ(c.fanout.ring_max_bytes_per_partition, d.fanout.ring_max_bytes_per_partition);
  EXPECT_EQ(c.fanout.ring_max_age, d.fanout.ring_max_age);
  EXPECT_EQ(c.fanout.ring_max_bytes, d.fanout.ring_max_bytes);
  EXPECT_EQ(c.fanout.ring_warm_records, d.fanout.ring_warm_records);
  EXPECT_EQ(c.fanout.catchup_readers_max, d.fanout.catchup_readers_max);
  EXPECT_EQ(c.fanout.cohort_window, d.fanout.cohort_window);
  EXPECT_EQ(c.fanout.flush_delay, d.fanout.flush_delay);
  EXPECT_EQ(c.fanout.hub_properties, d.fanout.hub_properties);
  EXPECT_EQ(c.stream_source.uri, d.stream_source.uri);
  EXPECT_EQ(c.stream_source.object_path, d.stream_source.object_path);
  EXPECT_EQ(c.stream_source.ttl, d.stream_source.ttl);
  EXPECT_EQ(c.stream_source.timeout, d.stream_source.timeout);
  EXPECT_EQ(c.stream_source.allowed_streams, d.stream_source.allowed_streams);
  EXPECT_FALSE(c.stream_source.defaults.topic_prefixes.has_value());
  EXPECT_EQ(c.stream_source.ca_file, d.stream_source.ca_file);
  EXPECT_EQ(c.stream_source.max_bytes, d.stream_source.max_bytes);
}

TEST(ConfigParse, EmptyDocumentsGiveDefaultsAndNoStreams) {
  for (const char* text : {"", "# only a comment\n", "---\n", "server:\nkafka:\nstreams:\n"}) {
    SCOPED_TRACE(text);
    const config c = parse_config(text, "empty.yaml");
    expect_default_settings(c);
    EXPECT_TRUE(c.streams.empty());
  }
}

TEST(ConfigParse, DocumentedDefaultValues) {
  const config d;
  EXPECT_EQ(d.server.listen_host, "0.0.0.0");
  EXPECT_EQ(d.server.listen_port, 8092);
  EXPECT_FALSE(d.server.reuse_port);
  EXPECT_EQ(d.server.admin_listen_host, "");  // no admin address
  EXPECT_EQ(d.server.heartbeat_interval, milliseconds(15000));
  EXPECT_EQ(d.kafka.bootstrap_servers, "localhost:9092");
  EXPECT_FALSE(d.kafka.is_embedded());
  // The fanout defaults as docs/api.md and config/eventstreams.yaml state them.
  EXPECT_EQ(d.fanout.mode, delivery_mode::per_connection);
  EXPECT_EQ(d.fanout.ring_max_bytes_per_partition, 32u << 20);
  EXPECT_EQ(d.fanout.ring_max_age, milliseconds(300000));
  EXPECT_EQ(d.fanout.ring_max_bytes, 512u << 20);
  EXPECT_EQ(d.fanout.ring_warm_records, 10000);
  EXPECT_EQ(d.fanout.catchup_readers_max, 64u);
  EXPECT_EQ(d.fanout.cohort_window, 1u << 20);
  EXPECT_EQ(d.fanout.flush_delay, milliseconds(0));
  EXPECT_TRUE(d.fanout.hub_properties.empty());
  EXPECT_EQ(stream_config{}.fanout, delivery_mode::per_connection);
}

TEST(ConfigFiles, ReferenceConfigHoldsEveryDefault) {
  const config c = load_config_file(source_dir + "/config/eventstreams.yaml");
  expect_default_settings(c);
  ASSERT_EQ(c.streams.size(), 1u);
  const stream_config& s = c.streams[0];
  EXPECT_EQ(s.name, "recentchange");
  EXPECT_EQ(s.topics, (std::vector<std::string>{"eqiad.mediawiki.recentchange",
                                                "codfw.mediawiki.recentchange"}));
  EXPECT_EQ(s.aliases, std::vector<std::string>{"rc"});
  EXPECT_EQ(s.description, "Edits and log actions on all wikis");
  EXPECT_EQ(s.schema_title, "mediawiki/recentchange");
  EXPECT_EQ(s.canary_events, canary_policy::drop);
  EXPECT_EQ(s.fanout, delivery_mode::per_connection);
}

TEST(ConfigFiles, ReferenceConfigShowsEveryKey) {
  // The operator's reference must not fall behind the loader: every accepted key appears,
  // uncommented, at its nesting depth. The one exception is a stream's `fanout`: its default
  // is fanout.mode, which no value states, so the reference shows it commented out.
  std::ifstream in(source_dir + "/config/eventstreams.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* line : {"\nserver:\n",
                           "\n  listen: ",
                           "\n  reuse_port: ",
                           "\n  admin_listen: ",
                           "\n  threads: ",
                           "\n  heartbeat_interval: ",
                           "\n  max_connections: ",
                           "\n  client_ip_connection_limit: ",
                           "\n  client_ip_header: ",
                           "\n  max_connection_duration: ",
                           "\n  cors_allow_origin: ",
                           "\n  max_streams_per_request: ",
                           "\n  max_buffered_bytes: ",
                           "\n  kafka_timeout: ",
                           "\n  shutdown_timeout: ",
                           "\n  stall_timeout: ",
                           "\n  max_request_header_bytes: ",
                           "\n  request_header_timeout: ",
                           "\n  max_starting_streams: ",
                           "\n  blocking_threads: ",
                           "\n  retry_after: ",
                           "\n  memory_trim_interval: ",
                           "\nkafka:\n",
                           "\n  bootstrap_servers: ",
                           "\n  properties: ",
                           "\n  resume_by: ",
                           "\n  readiness_interval: ",
                           "\n  metadata_cache_ttl: ",
                           "\n  embedded:\n",
                           "\n    brokers: ",
                           "\n    partitions: ",
                           "\n    demo_rate: ",
                           "\nlogging:\n",
                           "\n  level: ",
                           "\n  format: ",
                           "\nfanout:\n",
                           "\n  mode: ",
                           "\n  ring:\n",
                           "\n    max_bytes_per_partition: ",
                           "\n    max_age: ",
                           "\n    max_bytes: ",
                           "\n    warm_records: ",
                           "\n  catchup:\n",
                           "\n    readers_max: ",
                           "\n  cohort_window: ",
                           "\n  flush_delay: ",
                           "\n  hub_properties: ",
                           "\nstream_config:\n",
                           "\n  uri: ",
                           "\n  object_path: ",
                           "\n  ttl: ",
                           "\n  timeout: ",
                           "\n  allowed_streams: ",
                           "\n  defaults: ",
                           "\n  ca_file: ",
                           "\n  max_bytes: ",
                           "\nstreams:\n",
                           "\n    topics:",
                           "\n    description: ",
                           "\n    aliases: ",
                           "\n    schema_title: ",
                           "\n    canary_events: ",
                           "\n    # fanout: "}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing:" << line;
  }
}

TEST(ConfigFiles, DemoConfig) {
  const config c = load_config_file(source_dir + "/config/demo.yaml");
  EXPECT_EQ(c.server.listen_host, "127.0.0.1");
  EXPECT_EQ(c.server.listen_port, 8092);
  EXPECT_TRUE(c.kafka.is_embedded());
  EXPECT_EQ(c.kafka.embedded.brokers, 3u);
  EXPECT_EQ(c.kafka.embedded.partitions, 1u);
  EXPECT_EQ(c.kafka.embedded.demo_rate, 20.0);
  EXPECT_EQ(c.logging.level, "info");
  ASSERT_EQ(c.streams.size(), 2u);
  EXPECT_EQ(c.streams[0].name, "recentchange");
  EXPECT_EQ(c.streams[0].topics, (std::vector<std::string>{"eqiad.mediawiki.recentchange",
                                                           "codfw.mediawiki.recentchange"}));
  EXPECT_EQ(c.streams[0].aliases, std::vector<std::string>{"rc"});
  EXPECT_EQ(c.streams[0].schema_title, "mediawiki/recentchange");
  EXPECT_EQ(c.streams[1].name, "page-create");
  EXPECT_EQ(c.streams[1].topics, (std::vector<std::string>{"eqiad.mediawiki.page-create",
                                                           "codfw.mediawiki.page-create"}));
  EXPECT_TRUE(c.streams[1].aliases.empty());
  EXPECT_EQ(c.streams[1].schema_title, "mediawiki/revision/create");
  EXPECT_EQ(c.streams[1].canary_events, canary_policy::drop);
}

TEST(ConfigFiles, EveryKeyIsRead) {
  const config c = load_config_file(data_dir + "/full.yaml");
  EXPECT_EQ(c.server.listen_host, "::1");
  EXPECT_EQ(c.server.listen_port, 0);
  EXPECT_TRUE(c.server.reuse_port);
  EXPECT_EQ(c.server.admin_listen_host, "127.0.0.1");
  EXPECT_EQ(c.server.admin_listen_port, 9100);
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.server.heartbeat_interval, milliseconds(500));
  EXPECT_EQ(c.server.max_connections, 20u);
  EXPECT_EQ(c.server.client_ip_connection_limit, 3u);
  EXPECT_EQ(c.server.client_ip_header, "X-Client-IP");
  EXPECT_EQ(c.server.max_connection_duration, milliseconds(3600000));
  EXPECT_EQ(c.server.cors_allow_origin, std::vector<std::string>{"https://example.org"});
  auto listed = parse_config("server: {cors_allow_origin: [\"https://a.org\", \"https://b.org\"]}",
                             "list.yaml");
  EXPECT_EQ(listed.server.cors_allow_origin,
            (std::vector<std::string>{"https://a.org", "https://b.org"}));
  EXPECT_EQ(c.server.max_streams_per_request, 2u);
  EXPECT_EQ(c.server.max_buffered_bytes, 4096u);
  EXPECT_EQ(c.server.kafka_timeout, milliseconds(120000));
  EXPECT_EQ(c.server.shutdown_timeout, milliseconds(3000));
  EXPECT_EQ(c.server.stall_timeout, milliseconds(7000));
  EXPECT_EQ(c.server.max_request_header_bytes, 16384u);
  EXPECT_EQ(c.server.request_header_timeout, milliseconds(2000));
  EXPECT_EQ(c.server.max_starting_streams, 8u);
  EXPECT_EQ(c.server.blocking_threads, 2u);
  EXPECT_EQ(c.server.retry_after, milliseconds(30000));
  EXPECT_EQ(c.server.memory_trim_interval, milliseconds(0));
  EXPECT_EQ(c.kafka.metadata_cache_ttl, milliseconds(0));
  EXPECT_EQ(c.kafka.bootstrap_servers, "kafka1:9092,kafka2:9092");
  EXPECT_FALSE(c.kafka.is_embedded());
  const std::map<std::string, std::string> properties{{"security.protocol", "SSL"},
                                                      {"fetch.wait.max.ms", "100"},
                                                      {"enable.auto.commit", "false"},
                                                      {"socket.keepalive.enable", "true"},
                                                      {"client.rack", "eqiad"}};
  EXPECT_EQ(c.kafka.properties, properties);
  EXPECT_EQ(c.kafka.resume_by, resume_policy::timestamp);
  EXPECT_EQ(c.kafka.readiness_interval, milliseconds(45000));
  EXPECT_EQ(c.kafka.embedded.brokers, 1u);
  EXPECT_EQ(c.kafka.embedded.partitions, 256u);
  EXPECT_EQ(c.kafka.embedded.demo_rate, 0.5);
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.logging.format, "json");
  EXPECT_EQ(c.fanout.mode, delivery_mode::shared);
  EXPECT_EQ(c.fanout.ring_max_bytes_per_partition, 8u << 20);
  EXPECT_EQ(c.fanout.ring_max_age, milliseconds(90000));
  EXPECT_EQ(c.fanout.ring_max_bytes, std::size_t{2} << 30);
  EXPECT_EQ(c.fanout.ring_warm_records, 0);
  EXPECT_EQ(c.fanout.catchup_readers_max, 1u);
  EXPECT_EQ(c.fanout.cohort_window, 64u << 10);
  EXPECT_EQ(c.fanout.flush_delay, milliseconds(5));
  const std::map<std::string, std::string> hub_properties{{"fetch.wait.max.ms", "10"},
                                                          {"client.rack", "codfw"}};
  EXPECT_EQ(c.fanout.hub_properties, hub_properties);
  ASSERT_EQ(c.streams.size(), 3u);  // file order
  EXPECT_EQ(c.streams[0].name, "recentchange");
  EXPECT_EQ(c.streams[0].aliases, (std::vector<std::string>{"rc", "recent_changes"}));
  EXPECT_EQ(c.streams[0].description, "Edits");
  EXPECT_EQ(c.streams[0].canary_events, canary_policy::pass);
  EXPECT_EQ(c.streams[0].fanout, delivery_mode::per_connection);  // its own key
  EXPECT_EQ(c.streams[1].name, "mediawiki.page_change.v1");
  EXPECT_EQ(c.streams[1].topics, std::vector<std::string>{"eqiad.mediawiki.page_change.v1"});
  EXPECT_EQ(c.streams[1].description, "");
  EXPECT_EQ(c.streams[1].fanout, delivery_mode::shared);  // fanout.mode, set after streams
  EXPECT_EQ(c.streams[2].name, "test");
  EXPECT_TRUE(c.streams[2].aliases.empty());
  EXPECT_EQ(c.streams[2].canary_events, canary_policy::drop);
  EXPECT_EQ(c.streams[2].fanout, delivery_mode::shared);  // its own key, equal to the default
}

// Delivery modes (docs/api.md, "Delivery modes") ---------------------------------------------

std::vector<delivery_mode> stream_modes(const config& c) {
  std::vector<delivery_mode> modes;
  for (const auto& s : c.streams) {
    modes.push_back(s.fanout);
  }
  return modes;
}

TEST(ConfigFanout, EachStreamTakesItsOwnKeyElseFanoutMode) {
  using enum delivery_mode;
  const std::string streams =
      "streams:\n"
      "  a: {topics: [t1]}\n"
      "  b: {topics: [t2], fanout: shared}\n"
      "  c: {topics: [t3], fanout: per_connection}\n";
  struct row {
    std::string name, yaml;
    std::vector<delivery_mode> modes;  // a, b, c
  };
  for (const auto& [name, yaml, modes] : std::vector<row>{
           {"no fanout section", streams, {per_connection, shared, per_connection}},
           {"empty fanout section",
            "fanout:\n" + streams,
            {per_connection, shared, per_connection}},
           {"per_connection before streams",
            "fanout: {mode: per_connection}\n" + streams,
            {per_connection, shared, per_connection}},
           {"per_connection after streams",
            streams + "fanout: {mode: per_connection}\n",
            {per_connection, shared, per_connection}},
           {"shared before streams",
            "fanout: {mode: shared}\n" + streams,
            {shared, shared, per_connection}},
           {"shared after streams",
            streams + "fanout: {mode: shared}\n",
            {shared, shared, per_connection}},
           {"shared between other sections",
            "server: {}\nfanout: {mode: shared}\nlogging: {}\n" + streams + "kafka: {}\n",
            {shared, shared, per_connection}},
       }) {
    SCOPED_TRACE(name);
    EXPECT_EQ(stream_modes(parse_config(yaml, "f.yaml")), modes);
  }
}

TEST(ConfigFanout, ModeAloneChangesNothingElse) {
  const config c = parse_config("fanout: {mode: shared}\n", "f.yaml");
  EXPECT_EQ(c.fanout.mode, delivery_mode::shared);
  const fanout_config d;
  EXPECT_EQ(c.fanout.ring_max_bytes_per_partition, d.ring_max_bytes_per_partition);
  EXPECT_EQ(c.fanout.ring_max_bytes, d.ring_max_bytes);
  EXPECT_EQ(c.fanout.cohort_window, d.cohort_window);
  EXPECT_TRUE(c.streams.empty());
}

TEST(ConfigFanout, ByteSizeForms) {
  struct row {
    const char* text;
    std::uint64_t bytes;
  };
  for (const auto& [text, bytes] :
       {row{"1", 1}, row{"65536", 65536}, row{"\"4096\"", 4096}, row{"1KiB", 1024},
        row{"64KiB", 64 << 10}, row{"0010KiB", 10 << 10}, row{"32MiB", std::uint64_t{32} << 20},
        row{"512MiB", std::uint64_t{512} << 20}, row{"1GiB", std::uint64_t{1} << 30},
        row{"16384GiB", std::uint64_t{16384} << 30}}) {
    SCOPED_TRACE(text);
    const config c = parse_config(
        std::string("fanout: {ring: {max_bytes_per_partition: ") + text + ", max_bytes: 16384GiB}}",
        "f.yaml");
    EXPECT_EQ(c.fanout.ring_max_bytes_per_partition, bytes);
  }
}

TEST(ConfigFanout, LimitsAreInclusive) {
  const config c = parse_config(
      "fanout:\n"
      "  ring: {max_bytes_per_partition: 1MiB, max_bytes: 1048576, max_age: 1ms, warm_records: 0}\n"
      "  catchup: {readers_max: 1}\n"
      "  cohort_window: 65536\n"
      "  flush_delay: 0\n",
      "f.yaml");
  EXPECT_EQ(c.fanout.ring_max_bytes_per_partition, c.fanout.ring_max_bytes);
  EXPECT_EQ(c.fanout.ring_max_age, milliseconds(1));
  EXPECT_EQ(c.fanout.ring_warm_records, 0);
  EXPECT_EQ(c.fanout.catchup_readers_max, 1u);
  EXPECT_EQ(c.fanout.cohort_window, 64u << 10);
  EXPECT_EQ(c.fanout.flush_delay, milliseconds(0));
  // The largest warm_records an int64 holds.
  EXPECT_EQ(parse_config("fanout: {ring: {warm_records: 9223372036854775807}}", "f.yaml")
                .fanout.ring_warm_records,
            std::numeric_limits<std::int64_t>::max());
}

TEST(ConfigFanout, RingBoundsThatContradictNameTheKeyTheFileSet) {
  struct row {
    std::string yaml, key;
  };
  for (const auto& [yaml, key] : std::vector<row>{
           // Only max_bytes set, below the 32MiB per-partition default.
           {"fanout: {ring: {max_bytes: 16MiB}}", "fanout.ring.max_bytes"},
           {"fanout: {ring: {max_bytes_per_partition: 1GiB}}",
            "fanout.ring.max_bytes_per_partition"},
           {"fanout: {ring: {max_bytes_per_partition: 2MiB, max_bytes: 1MiB}}",
            "fanout.ring.max_bytes_per_partition"},
           {"fanout: {ring: {max_bytes: 1MiB, max_bytes_per_partition: 1048577}}",
            "fanout.ring.max_bytes_per_partition"},
       }) {
    SCOPED_TRACE(yaml);
    EXPECT_NE(rejection(yaml, key).find("must not exceed max_bytes"), std::string::npos);
  }
}

TEST(ConfigFanout, SizeErrorsSayWhy) {
  struct row {
    std::string yaml, key, reason;
  };
  for (const auto& [yaml, key, reason] : std::vector<row>{
           {"fanout: {cohort_window: 32KiB}", "fanout.cohort_window",
            "must be at least 64KiB (got 32KiB)"},
           {"fanout: {cohort_window: 1MB}", "fanout.cohort_window",
            "invalid size \"1MB\": unknown unit \"MB\"; use KiB, MiB or GiB"},
           {"fanout: {ring: {max_bytes: 1.5GiB}}", "fanout.ring.max_bytes",
            "invalid size \"1.5GiB\": must be a whole number (e.g. 1536KiB, not 1.5MiB)"},
           {"fanout: {ring: {max_bytes: -1}}", "fanout.ring.max_bytes",
            "invalid size \"-1\": must not be negative"},
           {"fanout: {ring: {max_bytes: 0}}", "fanout.ring.max_bytes",
            "must be at least 1 (got 0)"},
           {"fanout: {ring: {max_bytes: 17179869184GiB}}", "fanout.ring.max_bytes",
            "invalid size \"17179869184GiB\": is out of range"},
           {"fanout: {ring: {max_bytes: MiB}}", "fanout.ring.max_bytes",
            "invalid size \"MiB\": expected a number of bytes, optionally with KiB, MiB or GiB "
            "(e.g. 32MiB)"},
       }) {
    SCOPED_TRACE(yaml);
    EXPECT_EQ(rejection(yaml, key), reason);
  }
}

TEST(ConfigParse, TextThatIsNotUtf8IsRefusedWithItsKey) {
  // Such text would end up in /v2/streams and /?spec, whose JSON must be valid UTF-8.
  struct row {
    std::string yaml, key;
  };
  for (const auto& [yaml, key] : std::vector<row>{
           {"streams: {rc: {topics: [a], description: \"caf\xc3 au lait\"}}",
            "streams.rc.description"},
           {"streams: {rc: {topics: [a], schema_title: \"\xff\xfe\"}}", "streams.rc.schema_title"},
           {"streams: {rc: {topics: [a], description: \"\xed\xa0\x80\"}}",  // a surrogate
            "streams.rc.description"},
           {"server: {cors_allow_origin: \"https://\xe9t\xe9.org\"}", "server.cors_allow_origin"},
           {"streams: {\"r\xe9"
            "c\": {topics: [a]}}",
            "streams"},
       }) {
    SCOPED_TRACE(yaml);
    EXPECT_NE(rejection(yaml, key).find("UTF-8"), std::string::npos);
  }
  // Well-formed multi-byte text is fine.
  auto ok = parse_config("streams: {rc: {topics: [a], description: \"caf\xc3\xa9 \xe2\x9c\x93\"}}",
                         "ok.yaml");
  EXPECT_EQ(ok.streams.at(0).description, "caf\xc3\xa9 \xe2\x9c\x93");
}

TEST(ConfigParse, ListenForms) {
  struct listen_case {
    const char* text;
    const char* host;
    std::uint16_t port;
  };
  for (const auto& t : {listen_case{"127.0.0.1:0", "127.0.0.1", 0},
                        listen_case{"localhost:65535", "localhost", 65535},
                        listen_case{"events.example-1.org:443", "events.example-1.org", 443},
                        listen_case{"[::]:8092", "::", 8092},
                        listen_case{"[fe80::1%eth0]:80", "fe80::1%eth0", 80}}) {
    SCOPED_TRACE(t.text);
    const config c = parse_config(std::string("server: {listen: \"") + t.text + "\"}", "f");
    EXPECT_EQ(c.server.listen_host, t.host);
    EXPECT_EQ(c.server.listen_port, t.port);
  }
}

TEST(ConfigParse, AdminListenTakesTheListenFormsAndNotTheListenAddress) {
  const config c =
      parse_config("server: {listen: \"0.0.0.0:8092\", admin_listen: \"[::1]:9100\"}", "f");
  EXPECT_EQ(c.server.admin_listen_host, "::1");
  EXPECT_EQ(c.server.admin_listen_port, 9100);
  EXPECT_EQ(parse_config("server: {admin_listen: \"\"}", "f").server.admin_listen_host, "");
  // The address streams are served on (any address with the same port, when either is
  // 0.0.0.0) cannot also be the admin one.
  for (const char* text : {"server: {listen: \"127.0.0.1:8092\", admin_listen: \"127.0.0.1:8092\"}",
                           "server: {admin_listen: \"127.0.0.1:8092\"}",
                           "server: {listen: \"127.0.0.1:9\", admin_listen: \"0.0.0.0:9\"}"}) {
    SCOPED_TRACE(text);
    try {
      parse_config(text, "f");
      ADD_FAILURE() << "accepted";
    } catch (const config_error& e) {
      EXPECT_EQ(e.key(), "server.admin_listen");
      EXPECT_NE(std::string(e.what()).find("another address or port than server.listen"),
                std::string::npos)
          << e.what();
    }
  }
  // Two ports on one host, or one port on two hosts, are two addresses.
  EXPECT_NO_THROW(
      parse_config("server: {listen: \"127.0.0.1:0\", admin_listen: \"127.0.0.1:0\"}", "f"));
  EXPECT_NO_THROW(
      parse_config("server: {listen: \"127.0.0.1:9\", admin_listen: \"127.0.0.2:9\"}", "f"));
}

TEST(ConfigParse, ZeroDurationsMeanOff) {
  const config c =
      parse_config("server:\n  heartbeat_interval: 0\n  max_connection_duration: 0s\n", "f");
  EXPECT_EQ(c.server.heartbeat_interval, milliseconds(0));
  EXPECT_EQ(c.server.max_connection_duration, milliseconds(0));
}

TEST(ConfigParse, AnchorsAndQuotedScalarsAreValues) {
  const config c = parse_config(
      "server: {threads: \"8\", heartbeat_interval: &hb '5s', kafka_timeout: *hb}\n", "f");
  EXPECT_EQ(c.server.threads, 8u);
  EXPECT_EQ(c.server.heartbeat_interval, milliseconds(5000));
  EXPECT_EQ(c.server.kafka_timeout, milliseconds(5000));
}

TEST(ConfigError, MessageFormat) {
  const config_error with_key("a.yaml", "server.threads", "too many");
  EXPECT_STREQ(with_key.what(), "a.yaml: server.threads: too many");
  EXPECT_EQ(with_key.file(), "a.yaml");
  EXPECT_EQ(with_key.key(), "server.threads");
  EXPECT_EQ(with_key.reason(), "too many");
  const config_error without_key("a.yaml", "", "cannot read file");
  EXPECT_STREQ(without_key.what(), "a.yaml: cannot read file");
}

TEST(ConfigError, SyntaxErrorHasPosition) {
  try {
    parse_config("server:\n  listen: [1,\n", "bad.yaml");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "");
    EXPECT_NE(e.reason().find("line "), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("bad.yaml: YAML syntax error at line", 0), 0u)
        << e.what();
  }
}

TEST(ConfigError, BareNumberDurationSaysToUseAUnit) {
  try {
    parse_config("server: {heartbeat_interval: 15}", "f.yaml");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "server.heartbeat_interval");
    EXPECT_NE(e.reason().find("unit"), std::string::npos) << e.what();
  }
}

TEST(ConfigFiles, MissingFile) {
  const std::string path = data_dir + "/does-not-exist.yaml";
  try {
    load_config_file(path);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.key(), "");
    EXPECT_EQ(e.reason(), "cannot read file: No such file or directory");
    EXPECT_EQ(std::string(e.what()), path + ": cannot read file: No such file or directory");
  }
}

TEST(ConfigFiles, DirectoryIsUnreadable) {
  try {
    load_config_file(data_dir);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "");
    EXPECT_EQ(e.reason(), "cannot read file: Is a directory");
  }
}

TEST(ConfigFiles, ErrorNamesThePathAndKey) {
  const std::string path = data_dir + "/unknown_key.yaml";
  try {
    load_config_file(path);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": server.heartbeat: unknown key");
  }
}

// One-defect documents ---------------------------------------------------------------------

struct invalid_case {
  std::string name;
  std::string key;  // the key the error must name
  std::string yaml;
};

// Reads data/invalid_configs.txt; its header explains the format.
std::vector<invalid_case> load_invalid_cases() {
  std::ifstream in(data_dir + "/invalid_configs.txt");
  std::vector<invalid_case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("=== ", 0) == 0) {
      const auto bar = line.find('|');
      const auto trim = [](std::string s) {
        s.erase(0, s.find_first_not_of(' '));
        s.erase(s.find_last_not_of(' ') + 1);
        return s;
      };
      cases.push_back({trim(line.substr(4, bar - 4)), trim(line.substr(bar + 1)), ""});
    } else if (!cases.empty()) {
      cases.back().yaml += line + "\n";
    }
  }
  return cases;
}

class ConfigInvalidTest : public testing::TestWithParam<invalid_case> {};

TEST_P(ConfigInvalidTest, NamesTheKey) {
  const invalid_case& t = GetParam();
  try {
    parse_config(t.yaml, "bad.yaml");
    FAIL() << "accepted:\n" << t.yaml;
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), t.key) << e.what();
    EXPECT_EQ(e.file(), "bad.yaml");
    EXPECT_FALSE(e.reason().empty());
    const std::string expected =
        t.key.empty() ? "bad.yaml: " + e.reason() : "bad.yaml: " + t.key + ": " + e.reason();
    EXPECT_EQ(std::string(e.what()), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(ConfigInvalid, ConfigInvalidTest, testing::ValuesIn(load_invalid_cases()),
                         [](const testing::TestParamInfo<invalid_case>& case_info) {
                           return case_info.param.name;
                         });

TEST(ConfigInvalid, CaseFileIsLoaded) {
  // Guards against a silently empty table (wrong path, format change).
  EXPECT_GE(load_invalid_cases().size(), 100u);
}

// Durations ------------------------------------------------------------------------------

struct duration_case {
  const char* text;
  std::optional<long long> ms;
};

class DurationTest : public testing::TestWithParam<duration_case> {};

TEST_P(DurationTest, Parses) {
  const auto result = parse_duration(GetParam().text);
  if (GetParam().ms) {
    ASSERT_TRUE(result.has_value()) << GetParam().text;
    EXPECT_EQ(result->count(), *GetParam().ms) << GetParam().text;
  } else {
    EXPECT_FALSE(result.has_value()) << GetParam().text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Duration, DurationTest,
    testing::Values(duration_case{"0", 0}, duration_case{"0ms", 0}, duration_case{"0s", 0},
                    duration_case{"500ms", 500}, duration_case{"1ms", 1},
                    duration_case{"15s", 15000}, duration_case{"5m", 300000},
                    duration_case{"1h", 3600000}, duration_case{"0010s", 10000},
                    duration_case{"9223372036854775807ms", 9223372036854775807LL},
                    duration_case{"", std::nullopt}, duration_case{"15", std::nullopt},
                    duration_case{"00", std::nullopt}, duration_case{"-1s", std::nullopt},
                    duration_case{"-0", std::nullopt}, duration_case{"1.5s", std::nullopt},
                    duration_case{"15 s", std::nullopt}, duration_case{" 15s", std::nullopt},
                    duration_case{"15s ", std::nullopt}, duration_case{"15S", std::nullopt},
                    duration_case{"1d", std::nullopt}, duration_case{"1us", std::nullopt},
                    duration_case{"s", std::nullopt}, duration_case{"ms", std::nullopt},
                    duration_case{"+5s", std::nullopt}, duration_case{"1h30m", std::nullopt},
                    duration_case{"9223372036854775808ms", std::nullopt},
                    duration_case{"9223372036854776s", std::nullopt},
                    duration_case{"99999999999999999999h", std::nullopt}));

}  // namespace
}  // namespace eventstreams

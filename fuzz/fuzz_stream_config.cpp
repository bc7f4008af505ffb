// Fuzzes map_stream_config (a fetched EventStreamConfig document: untrusted remote input) and
// merge_streams: nothing but a result may come out; an accepted document yields streams that
// a catalog can serve, with valid, unique names and aliases and non-empty, valid topic lists.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "eventstreams/stream_catalog.hpp"
#include "eventstreams/stream_config_map.hpp"
#include "fuzz_check.hpp"

namespace {

using eventstreams::fuzz::check;

bool valid_name(std::string_view s) {
  if (s.empty())
    return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

void check_servable(const std::vector<eventstreams::stream_config>& streams) {
  std::set<std::string> names;
  for (const auto& s : streams) {
    check(valid_name(s.name), "a stream name outside the URL-safe set");
    check(names.insert(s.name).second, "a name used twice");
    check(!s.topics.empty(), "a stream without topics");
    std::set<std::string> topics;
    for (const auto& t : s.topics) {
      check(valid_name(t) && t.size() <= 249 && t != "." && t != "..", "an invalid topic");
      check(topics.insert(t).second, "a topic listed twice");
    }
  }
  for (const auto& s : streams) {
    for (const auto& a : s.aliases) {
      check(valid_name(a), "an alias outside the URL-safe set");
      check(names.insert(a).second, "an alias that is already a name or alias");
    }
  }
  const eventstreams::stream_catalog catalog(streams);
  for (const auto& s : streams) {
    check(catalog.find(s.name) != nullptr && catalog.find(s.name)->name == s.name,
          "a name the catalog does not find");
    for (const auto& a : s.aliases)
      check(catalog.find(a) != nullptr && catalog.find(a)->name == s.name,
            "an alias the catalog does not find");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  eventstreams::stream_source_config settings;
  settings.uri = "https://example.org/w/api.php";
  for (const char* path : {"streams", ""}) {
    settings.object_path = path;
    const auto r =
        eventstreams::map_stream_config(text, settings, eventstreams::delivery_mode::shared);
    check(r.ok() == !r.streams.empty(), "ok() disagrees with the streams");
    if (!r.ok())
      continue;
    check_servable(r.streams);
    eventstreams::stream_config local;
    local.name = "recentchange";
    local.topics = {"eqiad.mediawiki.recentchange"};
    local.aliases = {"rc"};
    const auto merged = eventstreams::merge_streams({local}, r.streams);
    check(!merged.streams.empty() && merged.streams.front().name == "recentchange",
          "the inline stream is not first");
    check(merged.streams.front().topics == local.topics, "the inline stream lost to a fetched one");
    check_servable(merged.streams);
  }
  return 0;
}

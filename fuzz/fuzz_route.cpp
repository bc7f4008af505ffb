// Fuzzes request-target handling: match_route, url_decode and query_param, then feeds the
// decoded {streams} list to stream_catalog::select of a small fixed catalog and checks that
// the selection only ever contains topics of configured streams.
// Input: "METHOD\nTARGET" (without a newline the whole input is a GET target).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "eventstreams/config.hpp"
#include "eventstreams/router.hpp"
#include "eventstreams/stream_catalog.hpp"

namespace {

using namespace eventstreams;

using eventstreams::fuzz::check;
using eventstreams::fuzz::fail;

stream_config make_stream(std::string name, std::vector<std::string> topics,
                          std::vector<std::string> aliases, canary_policy canary) {
  stream_config s;
  s.name = std::move(name);
  s.topics = std::move(topics);
  s.aliases = std::move(aliases);
  s.canary_events = canary;
  return s;
}

const std::vector<stream_config>& configured_streams() {
  static const std::vector<stream_config> streams{
      make_stream("recentchange", {"eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange"},
                  {"rc", "recent"}, canary_policy::drop),
      make_stream("page-create", {"eqiad.mediawiki.page-create", "codfw.mediawiki.page-create"}, {},
                  canary_policy::drop),
      make_stream("rc-canary", {"eqiad.mediawiki.recentchange", "canary.topic"}, {"rcc"},
                  canary_policy::pass),
  };
  return streams;
}

const stream_catalog& catalog() {
  static const stream_catalog instance(configured_streams());
  return instance;
}

// Every topic of the selection belongs to a selected, configured stream; the lists are
// duplicate-free and parallel as documented.
void check_selection(std::string_view list) {
  const stream_selection sel = catalog().select(list);
  check(sel.pass_canary.size() == sel.topics.size(), "pass_canary not parallel to topics");
  std::set<std::string> topics;
  for (std::size_t i = 0; i < sel.topics.size(); ++i) {
    const std::string& topic = sel.topics[i];
    check(topics.insert(topic).second, "duplicate topic in selection");
    bool owned = false;
    bool pass = false;
    for (const auto& name : sel.stream_names) {
      const stream_config* s = catalog().find(name);
      check(s != nullptr, "selected stream not in the catalog");
      for (const auto& t : s->topics) {
        if (t == topic) {
          owned = true;
          pass = pass || s->canary_events == canary_policy::pass;
        }
      }
    }
    if (!owned) {
      std::fprintf(stderr, "topic \"%s\" is not a topic of a selected stream\n", topic.c_str());
      std::abort();
    }
    check(sel.pass_canary[i] == pass, "pass_canary differs from the selecting streams");
  }
  std::set<std::string> names;
  for (const auto& name : sel.stream_names) {
    check(names.insert(name).second, "duplicate stream in selection");
    const stream_config* s = catalog().find(name);
    check(s != nullptr && s->name == name, "selection holds a non-canonical name");
  }
  std::set<std::string> unknown;
  for (const auto& name : sel.unknown) {
    check(unknown.insert(name).second, "duplicate unknown name");
    check(catalog().find(name) == nullptr, "a known name reported as unknown");
  }
}

std::size_t count_char(std::string_view s, char c) {
  std::size_t n = 0;
  for (const char x : s) {
    n += x == c ? 1 : 0;
  }
  return n;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(hex[u >> 4]);
    out.push_back(hex[u & 0xF]);
  }
  return out;
}

void check_url_decode(std::string_view text) {
  const std::optional<std::string> decoded = url_decode(text);
  if (text.find('%') == std::string_view::npos) {
    check(decoded && *decoded == text, "url_decode changed text without escapes");
    return;
  }
  if (!decoded) {
    return;
  }
  check(decoded->size() == text.size() - 2 * count_char(text, '%'),
        "url_decode size does not match the escapes");
  const std::optional<std::string> again = url_decode(percent_encode(*decoded));
  // A raw NUL in the input is kept, but its escaped form is refused.
  if (decoded->find('\0') == std::string::npos) {
    check(again && *again == *decoded, "url_decode round trip");
  } else {
    check(!again, "url_decode accepted %00");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const std::string_view method = nl == std::string_view::npos ? "GET" : input.substr(0, nl);
  const std::string_view target = nl == std::string_view::npos ? input : input.substr(nl + 1);

  const route_match m = match_route(method, target);
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  check(m.query == query, "query is not the text after the first '?'");
  check(!route_name(m.id).empty(), "empty route name");
  if (m.id == route_id::not_found) {
    check(!m.method_allowed, "method allowed on not_found");
  }
  if (m.bad_encoding) {
    check(m.id == route_id::stream && m.streams.empty(), "bad_encoding outside a stream route");
  }
  if (m.id == route_id::stream) {
    constexpr std::string_view prefix = "/v2/stream/";
    check(path.starts_with(prefix), "stream route without the prefix");
    const std::string_view rest = path.substr(prefix.size());
    check(!rest.empty() && rest.find('/') == std::string_view::npos, "stream route, bad segment");
    const std::optional<std::string> decoded = url_decode(rest);
    check(decoded.has_value() != m.bad_encoding, "bad_encoding disagrees with url_decode");
    check(!decoded || *decoded == m.streams, "streams is not the decoded segment");
  } else {
    check(m.streams.empty(), "streams set outside a stream route");
  }

  check_url_decode(path);
  check_selection(m.streams);
  if (const auto decoded = url_decode(path)) {
    check_selection(*decoded);
  }
  check_selection(target);

  for (const std::string_view name : {"since", "format", "rc", "", "a b"}) {
    const std::optional<std::string> value = query_param(query, name);
    if (value) {
      check(value->size() <= query.size(), "query value longer than the query");
      check(value->find('&') == std::string::npos || query.find("%26") != std::string_view::npos,
            "query value spans an '&'");
      check_selection(*value);
    }
  }
  return 0;
}

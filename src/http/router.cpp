// The routing table and URL decoding; no I/O.
#include "eventstreams/router.hpp"

#include <array>

#include "eventstreams/utf8.hpp"

namespace eventstreams {
namespace {

struct fixed_route {
  std::string_view path;
  route_id id;
  std::string_view allow;
};

constexpr std::array<fixed_route, 11> fixed_routes{{
    {"/v2/ui", route_id::ui, "GET, HEAD, OPTIONS"},
    {"/", route_id::root, "GET, HEAD, OPTIONS"},
    {"/v2/streams", route_id::streams_list, "GET, HEAD, OPTIONS"},
    {"/v2/filter", route_id::filter_check, "GET, HEAD, OPTIONS"},
    {"/_info", route_id::info, "GET, HEAD, OPTIONS"},
    {"/_info/name", route_id::info_name, "GET, HEAD, OPTIONS"},
    {"/_info/version", route_id::info_version, "GET, HEAD, OPTIONS"},
    {"/healthz", route_id::healthz, "GET, HEAD, OPTIONS"},
    {"/readyz", route_id::readyz, "GET, HEAD, OPTIONS"},
    {"/metrics", route_id::metrics, "GET, HEAD, OPTIONS"},
    {"/robots.txt", route_id::robots, "GET, HEAD, OPTIONS"},
}};

constexpr std::string_view stream_prefix = "/v2/stream/";

std::optional<std::string> decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0')
        return std::nullopt;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::optional<std::string> url_decode(std::string_view text) {
  return decode(text, false);
}

std::string_view route_name(route_id id) {
  switch (id) {
    case route_id::root:
      return "root";
    case route_id::stream:
      return "stream";
    case route_id::streams_list:
      return "streams";
    case route_id::filter_check:
      return "filter";
    case route_id::ui:
      return "ui";
    case route_id::info:
    case route_id::info_name:
    case route_id::info_version:
      return "info";
    case route_id::healthz:
      return "healthz";
    case route_id::readyz:
      return "readyz";
    case route_id::metrics:
      return "metrics";
    case route_id::robots:
      return "robots";
    case route_id::preflight:
      return "preflight";
    case route_id::not_found:
      break;
  }
  return "not_found";
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    auto decoded_key = decode(key, true);
    if (!decoded_key || *decoded_key != name)
      continue;
    if (eq == std::string_view::npos)
      return std::string{};
    return decode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

query_values query_params(std::string_view query, std::string_view name) {
  query_values out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const auto key = decode(pair.substr(0, eq), true);
    if (!key || *key != name)
      continue;
    auto value = eq == std::string_view::npos ? std::optional<std::string>(std::string{})
                                              : decode(pair.substr(eq + 1), true);
    if (!value && out.bad == 0)
      out.bad = out.values.size() + 1;
    out.values.push_back(value ? std::move(*value) : std::string{});
  }
  return out;
}

std::optional<std::string> misspelled_filter_param(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto raw = pair.substr(0, pair.find('='));
    auto key = decode(raw, true);
    if (!key)
      key = std::string(raw);
    if (key->size() > 6 && key->compare(0, 6, "filter") == 0)
      return key;
  }
  return std::nullopt;
}

route_match match_route(std::string_view method, std::string_view target) {
  route_match m;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos)
    m.query = std::string(target.substr(q + 1));
  bool get_or_head = method == "GET" || method == "HEAD";
  if (method == "OPTIONS") {
    m.id = route_id::preflight;
    m.method_allowed = true;
    return m;
  }

  if (path.starts_with(stream_prefix)) {
    std::string_view rest = path.substr(stream_prefix.size());
    // A further '/' is another path, not part of a stream list.
    if (rest.empty() || rest.find('/') != std::string_view::npos)
      return m;
    m.id = route_id::stream;
    m.allow = "GET, HEAD, OPTIONS";
    m.method_allowed = get_or_head;
    auto decoded = url_decode(rest);
    if (!decoded) {
      m.bad_encoding = true;
    } else {
      m.streams = std::move(*decoded);
    }
    return m;
  }
  for (const auto& r : fixed_routes) {
    if (path == r.path) {
      m.id = r.id;
      m.allow = std::string(r.allow);
      m.method_allowed = get_or_head;
      return m;
    }
  }
  return m;
}

}  // namespace eventstreams

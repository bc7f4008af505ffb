// /v2/streams, /_info*, /healthz, /robots.txt.
#include "http/handlers.hpp"

#include <nlohmann/json.hpp>

namespace eventstreams {
namespace {

constexpr std::string_view service_description =
    "Streams Kafka topics to HTTP clients as Server-Sent Events";
constexpr std::string_view service_home = "https://github.com/eventstreams/eventstreams";

std::string streams_json(const stream_catalog& catalog) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& s : catalog.streams()) {
    nlohmann::ordered_json j;
    j["topics"] = s.topics;
    j["description"] = s.description;
    j["aliases"] = s.aliases;
    j["schema_title"] = s.schema_title;
    j["canary_events"] = s.canary_events == canary_policy::pass ? "pass" : "drop";
    out[s.name] = std::move(j);
  }
  return out.dump();
}

}  // namespace

response handle_simple_route(route_id id, const request& req, const server_context& ctx) {
  auto json = [&](const nlohmann::ordered_json& j) {
    return make_response(req, http::status::ok, "application/json", j.dump());
  };
  switch (id) {
    case route_id::streams_list:
      return make_response(req, http::status::ok, "application/json",
                           streams_json(*ctx.catalog.load()));
    case route_id::info:
      return json({{"name", "eventstreams"},
                   {"version", EVENTSTREAMS_VERSION},
                   {"description", service_description},
                   {"home", service_home}});
    case route_id::info_name:
      return json({{"name", "eventstreams"}});
    case route_id::info_version:
      return json({{"version", EVENTSTREAMS_VERSION}});
    case route_id::healthz:
      return json({{"status", "ok"}});
    case route_id::robots:
      return make_response(req, http::status::ok, "text/plain; charset=utf-8",
                           "User-agent: *\nDisallow: /\n");
    default:
      return make_problem(req, error_kind::internal, "unexpected route");
  }
}

response handle_unrouted(const route_match& m, const request& req) {
  if (m.id == route_id::not_found) {
    return make_problem(req, error_kind::route_not_found, "no such path");
  }
  if (!m.method_allowed) {
    auto res = make_problem(req, error_kind::method_not_allowed, "allowed methods: " + m.allow);
    res.set(http::field::allow, m.allow);
    return res;
  }
  return make_problem(req, error_kind::bad_request, "the request target is not valid");
}

}  // namespace eventstreams

// /v2/streams, /_info*, /healthz, /robots.txt.
#include "http/handlers.hpp"

#include <nlohmann/json.hpp>

#include "eventstreams/openapi.hpp"

namespace eventstreams {

std::string_view ui_page();  // generated from src/http/ui/index.html

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
  // The loader admits only UTF-8 text; `replace` keeps a slip there from ending the process.
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

response handle_simple_route(const route_match& m, const request& req, const server_context& ctx) {
  auto json = [&](const nlohmann::ordered_json& j) {
    return make_response(req, http::status::ok, "application/json", j.dump());
  };
  switch (m.id) {
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
    case route_id::readyz: {
      // From the stop signal on, so that load balancers send new clients elsewhere while the
      // open streams drain (docs/api.md §5.5).
      if (ctx.shutting_down)
        return make_problem(req, error_kind::unavailable, "the server is shutting down");
      auto h = ctx.kafka->health();
      auto age = std::chrono::steady_clock::now() - h.last_success;
      // The shared mode's consumer reads before the node takes traffic (docs/api.md §11).
      if (ctx.hub && !ctx.hub->ready())
        return make_problem(req, error_kind::kafka_unavailable,
                            "the shared consumer is not reading yet");
      // ... and has read back fanout.ring.warm_records, so that it replays recent resumes.
      if (ctx.hub && !ctx.hub->warm())
        return make_problem(req, error_kind::kafka_unavailable,
                            "the shared consumer is reading back its recent records");
      if (h.last_error.empty() && age <= ctx.cfg.kafka.readiness_interval) {
        return json({{"status", "ready"}});
      }
      std::string why = !h.last_error.empty() ? h.last_error
                        : h.last_success == std::chrono::steady_clock::time_point{}
                            ? "Kafka metadata was never fetched"
                            : "no successful Kafka metadata fetch within kafka.readiness_interval";
      return make_problem(req, error_kind::kafka_unavailable, why);
    }
    case route_id::metrics:
      return make_response(req, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                           ctx.metrics.render());
    case route_id::root: {
      if (query_param(m.query, "spec")) {
        return make_response(req, http::status::ok, "application/json",
                             openapi_document(*ctx.catalog.load(), EVENTSTREAMS_VERSION));
      }
      auto res =
          make_response(req, http::status::see_other, "text/plain; charset=utf-8", "See /v2/ui\n");
      res.set(http::field::location, "/v2/ui");
      return res;
    }
    case route_id::ui: {
      auto res =
          make_response(req, http::status::ok, "text/html; charset=utf-8", std::string(ui_page()));
      // The page loads nothing from elsewhere; keep it that way.
      res.set("Content-Security-Policy",
              "default-src 'self'; style-src 'self' 'unsafe-inline'; "
              "script-src 'self' 'unsafe-inline'; img-src 'self' data:");
      return res;
    }
    case route_id::preflight:
      return make_preflight(req);
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

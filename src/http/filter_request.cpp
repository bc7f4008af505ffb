// `?filter=` of stream requests and of /v2/filter (docs/api.md "Server-side filters").
#include "http/filter_request.hpp"

#include "eventstreams/router.hpp"

namespace eventstreams {
namespace {

response refuse(const request& req, server_context& ctx, error_kind kind, std::string_view reason,
                const std::string& detail, const nlohmann::ordered_json& extensions = {}) {
  ctx.metrics.filters_rejected(std::string(reason)).Increment();
  return make_problem(req, kind, detail, extensions);
}

response refuse(const request& req, server_context& ctx, const filter::compile_error& e) {
  nlohmann::ordered_json ext = nlohmann::ordered_json::object();
  if (e.what == filter::compile_error::kind::too_complex) {
    ext["limit"] = e.limit;
    ext["limit_value"] = e.limit_value;
    if (e.clause > 0)
      ext["filter_index"] = e.clause;
    return refuse(req, ctx, error_kind::filter_too_complex, "filter_too_complex", e.detail, ext);
  }
  ext["filter_index"] = e.clause;
  ext["filter_offset"] = e.offset;
  if (!e.expected.empty())
    ext["expected"] = e.expected;
  return refuse(req, ctx, error_kind::invalid_filter, "invalid_filter", e.detail, ext);
}

}  // namespace

request_filter filter_of_request(const request& req, std::string_view query, server_context& ctx,
                                 bool shared) {
  request_filter out;
  if (auto typo = misspelled_filter_param(query)) {
    // Bounded: the detail echoes client input.
    out.refusal = refuse(req, ctx, error_kind::invalid_filter, "invalid_filter",
                         "unknown parameter '" + typo->substr(0, 64) +
                             "': a filter is given as filter=CLAUSE, repeated for each clause");
    return out;
  }
  auto values = query_params(query, "filter");
  if (values.values.empty())
    return out;
  if (values.bad != 0) {
    nlohmann::ordered_json ext = {{"filter_index", values.bad}};
    out.refusal = refuse(req, ctx, error_kind::invalid_filter, "invalid_filter",
                         "filter #" + std::to_string(values.bad) +
                             " is not valid percent-encoding (or encodes a NUL byte)",
                         ext);
    return out;
  }
  if (!shared) {
    auto made = filter::compile(values.values, ctx.cfg.filter);
    if (made.error)
      out.refusal = refuse(req, ctx, *made.error);
    out.filter = std::move(made.filter);
    return out;
  }
  auto got = ctx.filters->get(values.values);
  switch (got.result) {
    case filter::registry::outcome::ok:
      out.filter = std::move(got.filter);
      break;
    case filter::registry::outcome::refused:
      out.refusal = refuse(req, ctx, *got.error);
      break;
    case filter::registry::outcome::full:
      out.refusal = refuse(req, ctx, error_kind::unavailable, "unavailable",
                           "the server holds as many distinct filters as it may "
                           "(filter.max_compiled); retry later");
      break;
  }
  return out;
}

response handle_filter_check(const request& req, std::string_view query, server_context& ctx) {
  auto parsed = filter_of_request(req, query, ctx, false);
  if (parsed.refusal)
    return std::move(*parsed.refusal);
  if (!parsed.filter)
    return refuse(req, ctx, error_kind::invalid_filter, "invalid_filter",
                  "give the filter to check as filter=CLAUSE (repeatable)");
  nlohmann::ordered_json body;
  body["canonical"] = parsed.filter->canonical();
  body["fields"] = parsed.filter->fields();
  body["reads_payload"] = parsed.filter->reads_payload();
  return make_response(req, http::status::ok, "application/json", body.dump() + "\n");
}

}  // namespace eventstreams

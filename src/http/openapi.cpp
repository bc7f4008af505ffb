// OpenAPI 3 document generation.
#include "eventstreams/openapi.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace eventstreams {
namespace {

using json = nlohmann::ordered_json;

json problem_ref(const char* description) {
  return {{"description", description},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/problem"}}}}}}}};
}

// `streams_parameter` is the {streams} path parameter, or null for a stream's own path.
json stream_operation(const std::string& summary, const std::string& description,
                      const std::string& schema_title, const json& streams_parameter) {
  json params = json::array();
  if (!streams_parameter.is_null())
    params.push_back(streams_parameter);
  params.push_back({{"name", "since"},
                    {"in", "query"},
                    {"required", false},
                    {"description",
                     "Start at the first event with timestamp >= since: epoch milliseconds, "
                     "an ISO-8601 date-time (a zone-less one is UTC; 'T' or a space between "
                     "date and time), or YYYY-MM-DD"},
                    {"schema", {{"type", "string"}}}});
  params.push_back(
      {{"name", "filter"},
       {"in", "query"},
       {"required", false},
       {"style", "form"},
       {"explode", true},
       {"description",
        "Send only the events that match; repeatable, every clause must hold. A clause compares "
        "a dotted path of the event (meta.domain, length.new, tags.0) or $topic, $partition, "
        "$offset, $timestamp, $key: path=v1,v2 (in set), != (none of), < <= > >= (numbers or "
        "strings), ^= $= *= (starts, ends with, contains), =~ !~ (RE2 full match); path (truthy), "
        "!path, has(path), cidr(path,range,...); len(path), sub(a,b), abs(x) on the left; ; is "
        "AND, | is OR, !( ) and ( ) group. Quote values with , ; | ( ) ' \" in '...'. A bare value "
        "is also a number, bool or null when it reads as one; a quoted one is a string. "
        "GET /v2/filter?filter=... checks a filter. See docs/api.md, Server-side filters."},
       {"schema", {{"type", "array"}, {"items", {{"type", "string"}}}}},
       {"examples",
        {{"one_wiki", {{"value", json::array({"wiki=enwiki"})}}},
         {"huggle",
          {{"value", json::array({"server_name=en.wikipedia.org", "type=edit,new", "!bot",
                                  "namespace=0"})}}},
         {"large_human_edits",
          {{"value",
            json::array({"wiki=enwiki", "bot=false", "sub(length.new,length.old)>=500"})}}},
         {"or", {{"value", json::array({"wiki=enwiki;namespace=4|wiki=commonswiki;namespace=6"})}}},
         {"ip_editors",
          {{"value", json::array({"cidr(user,143.231.0.0/16,2620:0:e00::/44)"})}}}}}});
  params.push_back({{"name", "Last-Event-ID"},
                    {"in", "header"},
                    {"required", false},
                    {"description", "The id of the last event received: resume exactly after it"},
                    {"schema", {{"type", "string"}}}});
  json ok = {{"description",
              "The event stream" +
                  (schema_title.empty() ? std::string() : " (events: " + schema_title + ")")},
             {"content",
              {{"text/event-stream", {{"schema", {{"type", "string"}}}}},
               {"application/json",
                {{"schema", {{"type", "object"}}},
                 {"description", "With Accept: application/json, one JSON event per line"}}}}}};
  return {{"get",
           {{"summary", summary},
            {"description", description},
            {"parameters", params},
            {"responses",
             {{"200", ok},
              {"400", problem_ref("Unknown stream, bad since, bad Last-Event-ID, or a filter "
                                  "that is invalid (invalid_filter) or over a limit "
                                  "(filter_too_complex)")},
              {"404", problem_ref("Last-Event-ID names a topic outside the request")},
              {"429", problem_ref("Too many connections from this client")},
              {"503", problem_ref("At capacity (connections or distinct filters), shutting down, "
                                  "or Kafka unavailable")}}}}}};
}

}  // namespace

std::string openapi_document(const stream_catalog& catalog, std::string_view version) {
  std::vector<std::string> names;
  for (const auto& s : catalog.streams()) {
    names.push_back(s.name);
    for (const auto& a : s.aliases)
      names.push_back(a);
  }
  std::sort(names.begin(), names.end());
  // Inline, not a $ref: the original's UI and scripts copied from it read the enum at
  // paths["/v2/stream/{streams}"].get.parameters[0].schema.items.enum (docs/api.md §3).
  const json streams_parameter = {
      {"name", "streams"},
      {"in", "path"},
      {"required", true},
      {"description", "Stream names or aliases, comma-separated"},
      {"schema", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", names}}}}},
      {"style", "simple"},
      {"explode", false}};
  json paths;
  paths["/v2/stream/{streams}"] = stream_operation(
      "Stream events", "One stream name or alias, or a comma-separated list of them", "",
      streams_parameter);
  for (const auto& s : catalog.streams()) {
    paths["/v2/stream/" + s.name] =
        stream_operation("Stream " + s.name, s.description, s.schema_title, nullptr);
    if (!s.schema_title.empty())
      paths["/v2/stream/" + s.name]["x-schema-title"] = s.schema_title;
  }
  auto simple = [](const char* summary, const char* type) {
    return json{{"get",
                 {{"summary", summary},
                  {"responses",
                   {{"200", {{"description", "OK"}, {"content", {{type, json::object()}}}}}}}}}};
  };
  paths["/v2/streams"] = simple("Every stream with its topics and description", "application/json");
  paths["/_info"] = simple("Service name, version, description and home", "application/json");
  paths["/healthz"] = simple("200 while the process serves", "application/json");
  paths["/readyz"] =
      simple("200 when Kafka metadata was fetched recently, else 503", "application/json");
  paths["/metrics"] = simple("Prometheus metrics", "text/plain");

  json doc = {{"openapi", "3.0.3"},
              {"info",
               {{"title", "eventstreams"},
                {"version", std::string(version)},
                {"description", "Kafka topics as Server-Sent Events"},
                {"license", {{"name", "Apache-2.0"}}}}},
              {"paths", paths},
              {"components",
               {{"schemas",
                 {{"problem",
                   {{"type", "object"},
                    {"required", {"status", "type", "title", "detail", "method", "uri"}},
                    {"properties",
                     {{"status", {{"type", "integer"}}},
                      {"type", {{"type", "string"}}},
                      {"title", {{"type", "string"}}},
                      {"detail", {{"type", "string"}}},
                      {"method", {{"type", "string"}}},
                      {"uri", {{"type", "string"}}}}}}}}}}}};
  // The loader admits only UTF-8 text; `replace` keeps a slip there from ending the process.
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace eventstreams

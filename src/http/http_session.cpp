// Request loop of one HTTP connection.
#include "http/http_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "eventstreams/resume.hpp"
#include "eventstreams/router.hpp"
#include "http/filter_request.hpp"
#include "http/handlers.hpp"
#include "sse/stream_opener.hpp"

namespace eventstreams {
namespace {
// Requests carry no meaningful body here; anything larger than this is refused.
constexpr std::uint64_t body_limit = 16 * 1024;
}  // namespace

http_session::http_session(tcp::socket&& socket, server_context& ctx, bool admin)
    : stream_(std::move(socket)), ctx_(ctx), admin_(admin) {}

void http_session::run() {
  // Start on the connection's strand: the socket was accepted on the listener's.
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(request_head_limit(ctx_.cfg)));
  parser_->body_limit(body_limit);
  stream_.expires_after(ctx_.cfg.server.request_header_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted) {
    return do_close();
  }
  if (ec) {
    // The request could not be read: answer without keep-alive and close.
    request req;
    req.version(11);
    req.keep_alive(false);
    head_request_ = false;
    route_ = "not_found";
    if (ec == http::error::header_limit) {
      return send(make_problem(req, error_kind::header_too_large,
                               "the request line and headers exceed " +
                                   std::to_string(request_head_limit(ctx_.cfg)) + " bytes"));
    }
    return send(make_problem(req, error_kind::bad_request, "malformed HTTP request"));
  }
  stream_.expires_never();

  request req = parser_->release();
  head_request_ = req.method() == http::verb::head;
  // The parser's limit leaves the request line room for the largest legal filter; the header
  // fields alone stay within server.max_request_header_bytes ("Name: value\r\n" each).
  std::size_t field_bytes = 0;
  for (const auto& field : req)
    field_bytes += field.name_string().size() + field.value().size() + 4;
  if (field_bytes > ctx_.cfg.server.max_request_header_bytes) {
    head_request_ = false;
    route_ = "not_found";
    req.keep_alive(false);
    return send(make_problem(req, error_kind::header_too_large,
                             "request headers exceed " +
                                 std::to_string(ctx_.cfg.server.max_request_header_bytes) +
                                 " bytes"));
  }
  try {
    route(req);
  } catch (const std::exception& e) {
    // Nothing thrown while answering ends the process: a bare 500, the cause in the log only.
    ctx_.metrics.internal_errors("request").Increment();
    spdlog::error("unexpected error answering {} {}: {}", std::string_view(req.method_string()),
                  std::string_view(req.target()).substr(0, 256), e.what());
    if (!stream_.socket().is_open())
      return;  // the socket went to a streaming session, which answers for itself
    request bare;
    bare.version(req.version());
    bare.keep_alive(false);
    bare.method_string(req.method_string());
    bare.target(req.target());
    send(make_problem(bare, error_kind::internal, ""));
  }
}

void http_session::route(const request& req) {
  auto m = match_route(std::string_view(req.method_string()), std::string_view(req.target()));
  if (admin_ && m.id != route_id::metrics && m.id != route_id::healthz &&
      m.id != route_id::readyz) {
    m = route_match{};  // the admin address serves nothing else (docs/api.md)
  }
  route_ = route_name(m.id);
  if (m.id == route_id::not_found || !m.method_allowed || m.bad_encoding) {
    return send(handle_unrouted(m, req));
  }
  if (m.id == route_id::stream)
    return handle_stream(req, m.streams, m.query);
  if (m.id == route_id::filter_check)  // compiles; counts refusals in the metrics
    return send(handle_filter_check(req, m.query, ctx_));
  send(handle_simple_route(m, req, ctx_));
}

void http_session::handle_stream(const request& req, const std::string& streams,
                                 const std::string& query) {
  auto catalog = ctx_.catalog.load();
  stream_selection sel = catalog->select(streams);
  if (!sel.unknown.empty()) {
    // Bounded: the detail echoes client input.
    constexpr std::size_t max_names = 10, max_name_length = 64;
    std::string names;
    for (std::size_t i = 0; i < sel.unknown.size() && i < max_names; ++i) {
      names += (names.empty() ? "" : ", ") + sel.unknown[i].substr(0, max_name_length);
    }
    if (sel.unknown.size() > max_names) {
      names += " and " + std::to_string(sel.unknown.size() - max_names) + " more";
    }
    refuse_stream(make_problem(req, error_kind::unknown_stream, "unknown streams: " + names),
                  "unknown_stream");
    return;
  }
  if (sel.stream_names.size() > ctx_.cfg.server.max_streams_per_request) {
    refuse_stream(
        make_problem(req, error_kind::bad_request,
                     "at most " + std::to_string(ctx_.cfg.server.max_streams_per_request) +
                         " streams per request"),
        "too_many_streams");
    return;
  }
  std::optional<std::int64_t> since;
  // An empty `since=` counts as absent (docs/api.md §4): forms send the field empty.
  if (auto text = query_param(query, "since"); text && !text->empty()) {
    since = parse_since(*text);
    if (!since) {
      auto shown = text->substr(0, 64);
      refuse_stream(make_problem(req, error_kind::invalid_timestamp,
                                 "since=" + shown +
                                     " is not milliseconds since the epoch, an ISO-8601 "
                                     "date-time, or YYYY-MM-DD"),
                    "invalid_timestamp");
      return;
    }
  }
  std::vector<last_event_entry> entries;
  if (auto it = req.find("Last-Event-ID"); it != req.end()) {
    auto parsed = parse_last_event_id(std::string_view(it->value()));
    if (auto* err = std::get_if<last_event_id_error>(&parsed)) {
      refuse_stream(make_problem(req, error_kind::invalid_last_event_id, err->detail),
                    "invalid_last_event_id");
      return;
    }
    entries = std::move(std::get<std::vector<last_event_entry>>(parsed));
    for (const auto& e : entries) {
      if (std::find(sel.topics.begin(), sel.topics.end(), e.topic) == sel.topics.end()) {
        refuse_stream(make_problem(req, error_kind::topic_not_allowed,
                                   "Last-Event-ID names topic " + e.topic.substr(0, 249) +
                                       ", which the requested streams do not read"),
                      "topic_not_allowed");
        return;
      }
    }
  }
  auto filtered = filter_of_request(req, query, ctx_, true);
  if (filtered.refusal)
    return refuse_stream(std::move(*filtered.refusal), "filter");
  // From the signal on a HEAD gets the 503 a GET would get, not a stream's headers.
  if (ctx_.shutting_down) {
    refuse_stream(make_problem(req, error_kind::unavailable, "the server is shutting down"),
                  "shutting_down");
    return;
  }
  if (req.method() == http::verb::head) {
    send(stream_opener::head_response(req));
    return;
  }
  // The socket and any bytes read past the request go to the streaming session.
  std::make_shared<stream_opener>(std::move(stream_), req, std::move(sel), std::move(entries),
                                  since, std::move(filtered.filter), ctx_)
      ->run();
}

void http_session::refuse_stream(response res, const char* reason) {
  ctx_.metrics.streams_refused(reason).Increment();
  send(std::move(res));
}

void http_session::send(response res) {
  bool keep_alive = res.keep_alive();
  if (head_request_) {
    // HEAD: the GET's headers (a stream's chunked framing, or the length), no body.
    auto length = res.body().size();
    res.body().clear();
    if (!res.chunked())
      res.content_length(length);
  }
  ctx_.metrics.http_requests(std::string(route_), res.result_int()).Increment();
  pending_ = std::make_shared<response>(std::move(res));
  if (head_request_) {
    // Only the header: a serializer would add the chunked terminator of an empty body.
    pending_serializer_.emplace(*pending_);
    http::async_write_header(
        stream_, *pending_serializer_,
        beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
    return;
  }
  http::async_write(
      stream_, *pending_,
      beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  pending_serializer_.reset();
  pending_.reset();
  if (ec)
    return do_close();
  if (!keep_alive)
    return do_close();
  do_read();
}

void http_session::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.close();
}

}  // namespace eventstreams

// The streaming session: event source -> encoded events -> socket, with backpressure.
#include "sse/sse_session.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "eventstreams/event_encoder.hpp"
#include "sse/per_connection_source.hpp"

namespace eventstreams {
namespace {

// Records encoded per turn on the strand before yielding to other connections.
constexpr std::size_t records_per_turn = 2048;
// A write buffer that grew past this during a burst is released once it is idle again.
constexpr std::size_t keep_capacity = 256 * 1024;

template <class Body>
void set_stream_headers(http::response<Body>& res, std::string_view origin, bool ndjson,
                        bool chunked) {
  add_common_headers(res.base(), origin);
  res.set(http::field::content_type,
          ndjson ? "application/x-ndjson; charset=utf-8" : "text/event-stream; charset=utf-8");
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");
  if (chunked) {
    res.chunked(true);
  } else {
    res.keep_alive(false);  // HTTP/1.0: the end of the body is the end of the connection
  }
}

bool wants_ndjson(const request& req) {
  auto accept = req[http::field::accept];
  return std::string_view(accept).starts_with("application/json");
}

// A bounded set of metric labels for close reasons.
std::string reason_label(const std::string& reason) {
  for (const char* label :
       {"client closed", "server shutdown", "max_connection_duration", "kafka error",
        "write failed", "client error", "stalled", "internal error"}) {
    if (reason.starts_with(label)) {
      std::string out(label);
      std::replace(out.begin(), out.end(), ' ', '_');
      return out;
    }
  }
  return "other";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

struct sse_session::resolved {
  lookup_error error;
  bool internal = false;   // set-up failed unexpectedly (answered 500)
  bool abandoned = false;  // the client closed before its consumer was created
  std::vector<partition_position> positions;
  std::unique_ptr<event_source> source;
};

sse_session::sse_session(beast::tcp_stream&& stream, const request& req, stream_selection selection,
                         std::vector<last_event_entry> entries, std::optional<std::int64_t> since,
                         server_context& ctx)
    : stream_(std::move(stream)),
      ctx_(ctx),
      method_(req.method_string()),
      target_(req.target()),
      origin_(req[http::field::origin]),
      http_version_(req.version()),
      ndjson_(wants_ndjson(req)),
      chunked_(req.version() >= 11),
      selection_(std::move(selection)),
      entries_(std::move(entries)),
      since_(since),
      heartbeat_(stream_.get_executor()),
      duration_timer_(stream_.get_executor()),
      stall_timer_(stream_.get_executor()),
      opened_(std::chrono::steady_clock::now()),
      last_send_(opened_) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  client_ = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  client_ip_ = ec ? "unknown" : ep.address().to_string();
  const auto& header = ctx_.cfg.server.client_ip_header;
  if (!header.empty()) {
    // Behind a proxy: the first address of the header (X-Forwarded-For style lists) counts.
    std::string_view value(req[header]);
    value = value.substr(0, value.find(','));
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ')
      value.remove_suffix(1);
    if (!value.empty())
      client_ip_ = std::string(value.substr(0, 64));
  }
}

sse_session::~sse_session() {
  if (close_reason_) {
    spdlog::info(
        "close client={} streams={} duration={:.3f}s events={} bytes={} skipped_canary={} "
        "skipped_not_json={} reason=\"{}\"",
        client_, join(selection_.stream_names), close_seconds_, events_sent_, bytes_sent_,
        skipped_canary_, skipped_not_json_, *close_reason_);
  }
  if (registered_)
    ctx_.registry.leave(this);
  // Normally close() already retired it; this covers a session dropped before that.
  retire(std::move(source_), *ctx_.blocking);
}

response sse_session::head_response(const request& req) {
  response res{http::status::ok, req.version()};
  set_stream_headers(res, std::string_view(req[http::field::origin]), wants_ndjson(req),
                     req.version() >= 11);
  if (res.keep_alive())
    res.keep_alive(req.keep_alive());
  return res;
}

void sse_session::run() {
  switch (ctx_.registry.try_join(this, weak_from_this(), client_ip_,
                                 ctx_.cfg.server.max_connections,
                                 ctx_.cfg.server.client_ip_connection_limit)) {
    case session_registry::join_result::process_limit:
      return fail_before_start(error_kind::unavailable, "the server is at its connection limit");
    case session_registry::join_result::client_limit:
      return fail_before_start(error_kind::too_many_requests,
                               "too many concurrent streams from this client");
    case session_registry::join_result::ok:
      break;
  }
  registered_ = true;
  spdlog::debug("open client={} streams={} uri={}", client_, join(selection_.stream_names),
                target_);
  // Stream set-ups wait for the blocking pool: bound how many may queue, so a burst of
  // requests (or clients that give up) cannot pile up lookups and consumers.
  if (ctx_.starting.fetch_add(1) >= ctx_.cfg.server.max_starting_streams) {
    ctx_.starting.fetch_sub(1);
    return fail_before_start(error_kind::unavailable, "too many streams are starting; retry");
  }
  // The deadline starts now, not when a pool thread is free: during a Kafka outage queued
  // requests are answered 503 within kafka_timeout instead of one pool round after another.
  auto deadline = std::chrono::steady_clock::now() + ctx_.cfg.server.kafka_timeout;
  net::post(*ctx_.blocking, [self = shared_from_this(), deadline] {
    auto r = std::make_shared<resolved>();
    try {
      self->resolve(*r, deadline);
    } catch (const std::exception& e) {
      // An exception must not end a pool thread (and the process): the request gets a 500.
      self->ctx_.metrics.internal_errors("setup").Increment();
      spdlog::error("client={} unexpected error while starting a stream: {}", self->client_,
                    e.what());
      r->internal = true;
      r->source.reset();
    }
    net::post(self->stream_.get_executor(),
              [self, r] { self->guarded("start", [&] { self->on_resolved(r); }); });
  });
}

// On the blocking pool: start positions and the consumer. Only the pool touches the members it
// reads until on_resolved runs on the strand.
void sse_session::resolve(resolved& r, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    r.error = {lookup_error_kind::unreachable, "Kafka lookups are timing out"};
  } else {
    r.error = resolve_start_positions(*ctx_.kafka, selection_.topics, entries_, since_,
                                      ctx_.cfg.kafka.resume_by, left, r.positions);
  }
  // A client that left while waiting for the pool gets no consumer: the peek sees its FIN.
  // (The strand does nothing with the socket until on_resolved, so reading the fd is safe.)
  char probe;
  r.abandoned = ::recv(stream_.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  if (!r.error && !r.abandoned) {
    try {
      r.source =
          std::make_unique<per_connection_source>(ctx_.cfg.kafka, ctx_.bootstrap, r.positions);
    } catch (const std::exception& e) {
      spdlog::error("cannot start a Kafka consumer: {}", e.what());
      r.error = {lookup_error_kind::unreachable, "cannot start a Kafka consumer"};
    }
  }
}

void sse_session::on_resolved(std::shared_ptr<resolved> r) {
  source_ = std::move(r->source);
  ctx_.starting.fetch_sub(1);
  if (closed_ || r->abandoned)
    return close("client closed while starting");
  if (ending_)
    return close(end_reason_);
  if (r->internal)
    return fail_before_start(error_kind::internal, "");
  if (r->error)
    return fail_before_start(error_kind::kafka_unavailable, r->error.detail);

  position_vector positions(std::move(r->positions));
  // Per position, once per connection: its stream's counter and its canary policy.
  sent_counter_.resize(positions.size());
  auto catalog = ctx_.catalog.load();
  for (std::size_t i = 0; i < positions.size(); ++i) {
    // An event counts for the first requested stream that reads its topic.
    for (const auto& name : selection_.stream_names) {
      const auto* s = catalog->find(name);
      if (s &&
          std::find(s->topics.begin(), s->topics.end(), positions.at(i).topic) != s->topics.end()) {
        sent_counter_[i] = &ctx_.metrics.events_sent(name);
        break;
      }
    }
    if (!sent_counter_[i])
      sent_counter_[i] = &ctx_.metrics.events_sent(selection_.stream_names[0]);
  }
  auto pass_canary =
      stream_format::canary_policy(selection_.topics, selection_.pass_canary, positions);
  format_.emplace(ndjson_ ? framing::ndjson : framing::sse, std::move(positions),
                  std::move(pass_canary));
  if (auto refused = source_->attach(stream_.get_executor()))
    return fail_before_start(error_kind::unavailable, *refused);
  start_streaming();
}

void sse_session::on_exception(const char* step, const char* what) {
  ctx_.metrics.internal_errors(started_ ? "stream" : "setup").Increment();
  spdlog::error("client={} unexpected error ({}): {}", client_, step, what);
  if (closed_)
    return;
  if (!started_)
    return fail_before_start(error_kind::internal, "");  // no internals in the body
  close(std::string("internal error: ") + what);
}

void sse_session::fail_before_start(error_kind kind, const std::string& detail) {
  request req;
  req.method_string(method_);
  req.target(target_);
  req.version(http_version_);
  req.keep_alive(false);
  auto res = std::make_shared<response>(make_problem(req, kind, detail));
  spdlog::info("close client={} streams={} duration=0s events=0 bytes=0 reason=\"{}: {}\"", client_,
               join(selection_.stream_names), problem_for(kind).type, detail);
  closed_ = true;  // nothing streams from here on; the write below ends the connection
  ctx_.metrics.http_requests("stream", problem_for(kind).status).Increment();
  http::async_write(stream_, *res,
                    [self = shared_from_this(), res](beast::error_code, std::size_t) {
                      beast::error_code ec;
                      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
                      self->stream_.close();
                    });
}

void sse_session::start_streaming() {
  http::response<http::empty_body> res{http::status::ok, http_version_};
  set_stream_headers(res, origin_, ndjson_, chunked_);
  std::ostringstream os;
  os << res.base();
  response_header_ = os.str();  // the first write carries the response header
  started_ = true;
  ctx_.metrics.http_requests("stream", 200).Increment();
  ctx_.metrics.client_connections(join(selection_.stream_names)).Increment();
  for (const auto& s : selection_.stream_names)
    ctx_.metrics.connected_clients(s).Increment();
  // The start positions right away (docs/api.md §5.1).
  format_->preamble(pending_);
  flush();
  do_read_client();
  schedule_heartbeat();
  if (auto limit = ctx_.cfg.server.max_connection_duration; limit.count() > 0) {
    duration_timer_.expires_after(limit);
    duration_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->end_on_strand("max_connection_duration");
    });
  }
  drain();
}

void sse_session::do_wait_source() {
  source_->async_wait(guard("wake-up", &sse_session::on_source_ready));
}

void sse_session::on_source_ready(beast::error_code ec) {
  if (ec || closed_)
    return;
  source_->reset_wake();
  drain();
}

void sse_session::drain() {
  if (closed_)
    return;
  if (ending_) {
    flush();  // a stream paused by backpressure still writes its last bytes and the end
    return;
  }
  std::size_t budget = records_per_turn;
  drain_now_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  bool empty = false;
  while (budget > 0 && pending_.size() < ctx_.cfg.server.max_buffered_bytes) {
    errors_.clear();
    std::size_t want = std::min(records_.size(), budget);
    auto kicks = source_->stats().fetch_kicks;
    std::size_t n = source_->poll(std::span(records_.data(), want), errors_);
    if (auto k = source_->stats().fetch_kicks; k != kicks)
      ctx_.metrics.fetch_restarts().Increment(static_cast<double>(k - kicks));
    for (std::size_t i = 0; i < n; ++i)
      encode(records_[i]);
    for (const auto& e : errors_) {
      ctx_.metrics.kafka_errors(e.kind).Increment();
      if (e.fatal) {
        spdlog::error("client={} kafka error ends the stream: {}: {}", client_, e.kind, e.detail);
        // SSE: an error event; NDJSON just ends (docs/api.md §4).
        format_->error(
            problem_json(error_kind::kafka_unavailable, "Kafka error: " + e.kind, method_, target_),
            pending_);
        return end_on_strand("kafka error " + e.kind);
      }
      spdlog::debug("client={} kafka: {}: {}", client_, e.kind, e.detail);
    }
    budget -= std::min(budget, std::max<std::size_t>(n, 1));
    if (n < want && errors_.empty()) {
      empty = true;
      break;
    }
  }
  flush();
  if (empty) {
    do_wait_source();
  } else if (pending_.size() >= ctx_.cfg.server.max_buffered_bytes) {
    paused_ = true;  // on_write resumes draining once the socket took the bytes
  } else {
    net::post(stream_.get_executor(), guard("drain", &sse_session::drain));
  }
}

void sse_session::encode(const source_record& rec) {
  switch (format_->record(rec, pending_)) {
    case record_outcome::not_assigned:
      return;
    case record_outcome::skipped_not_json:
      ++skipped_not_json_;
      ctx_.metrics.events_skipped("not_json").Increment();
      spdlog::debug("client={} skipped a record that is not a JSON object: {}/{}@{}", client_,
                    rec.topic, rec.partition, rec.offset);
      return;
    case record_outcome::skipped_canary:
      ++skipped_canary_;
      ctx_.metrics.events_skipped("canary").Increment();
      return;
    case record_outcome::sent:
      break;
  }
  ++events_sent_;
  sent_counter_[rec.index]->Increment();
  if (rec.timestamp >= 0) {
    ctx_.metrics.delivery_lag().Observe(
        static_cast<double>(std::max<std::int64_t>(0, drain_now_ms_ - rec.timestamp)) / 1000.0);
  }
  last_send_ = std::chrono::steady_clock::now();
}

void sse_session::flush() {
  if (writing_ || closed_)
    return;
  bool send_final = ending_ && !final_queued_;
  if (pending_.empty() && response_header_.empty() && !send_final)
    return;
  inflight_.clear();
  inflight_.swap(response_header_);  // the response header, on the first write only
  if (!pending_.empty()) {
    if (chunked_) {
      char hex[20];
      auto [end, _] = std::to_chars(hex, hex + sizeof hex, pending_.size(), 16);
      inflight_.append(hex, end);
      inflight_ += "\r\n";
    }
    inflight_ += pending_;
    if (chunked_)
      inflight_ += "\r\n";
    pending_.clear();
  }
  if (send_final) {
    final_queued_ = true;
    if (chunked_)
      inflight_ += "0\r\n\r\n";
  }
  if (inflight_.empty())
    return close(end_reason_);  // HTTP/1.0 end with nothing left to send
  writing_ = true;
  // A client that stopped reading leaves this write pending once the socket buffers are full.
  stall_timer_.expires_after(ctx_.cfg.server.stall_timeout);
  // The sequence number tells this write's expiry from a late one of an earlier write.
  stall_timer_.async_wait([self = shared_from_this(), seq = ++write_seq_](beast::error_code ec) {
    if (!ec && self->writing_ && seq == self->write_seq_) {
      self->close("stalled: the client stopped reading");
    }
  });
  net::async_write(stream_, net::buffer(inflight_), guard("write", &sse_session::on_write));
}

void sse_session::on_write(beast::error_code ec, std::size_t bytes) {
  writing_ = false;
  stall_timer_.cancel();
  // Count what reached the socket even when the write failed or was cut short by close().
  bytes_sent_ += bytes;
  ctx_.metrics.bytes_sent().Increment(static_cast<double>(bytes));
  if (ec)
    return close("write failed: " + ec.message());
  if (inflight_.capacity() > keep_capacity)
    std::string().swap(inflight_);
  if (pending_.capacity() > keep_capacity && pending_.empty())
    std::string().swap(pending_);
  if (final_queued_)
    return close(end_reason_);
  if (paused_) {
    paused_ = false;
    drain();  // flushes
    return;
  }
  flush();
}

void sse_session::do_read_client() {
  stream_.async_read_some(net::buffer(read_buffer_),
                          guard("client read", &sse_session::on_read_client));
}

void sse_session::on_read_client(beast::error_code ec, std::size_t) {
  if (closed_)
    return;
  if (ec == net::error::eof)
    return close("client closed");
  if (ec)
    return close("client error: " + ec.message());
  do_read_client();  // a streaming client has nothing more to say; discard it
}

void sse_session::schedule_heartbeat() {
  auto interval = ctx_.cfg.server.heartbeat_interval;
  if (interval.count() == 0 || ndjson_ || closed_)
    return;
  heartbeat_.expires_at(last_send_ + interval);
  heartbeat_.async_wait(guard("heartbeat", &sse_session::on_heartbeat));
}

void sse_session::on_heartbeat(beast::error_code ec) {
  if (ec || closed_ || ending_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_send_ >= ctx_.cfg.server.heartbeat_interval) {
    // An id-only block when positions moved without an event, else ":" (docs/api.md §5.1).
    format_->heartbeat(pending_);
    last_send_ = now;
    flush();
  }
  schedule_heartbeat();
}

void sse_session::end(std::string reason) {
  net::post(stream_.get_executor(), [self = shared_from_this(), reason = std::move(reason)] {
    self->end_on_strand(reason);
  });
}

void sse_session::end_on_strand(std::string reason) {
  if (closed_ || ending_)
    return;
  ending_ = true;
  end_reason_ = std::move(reason);
  if (!started_)
    return;  // still resolving: on_resolved sees ending_ and closes
  // An end the server decides: the client resumes from the newest position (docs/api.md §5.1).
  format_->before_end(pending_);
  flush();
}

void sse_session::close(const std::string& reason) {
  if (closed_ && !source_)
    return;
  bool was_open = !closed_;
  closed_ = true;
  heartbeat_.cancel();
  duration_timer_.cancel();
  stall_timer_.cancel();
  beast::error_code ec;
  if (source_)
    source_->close();
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  // Destroying the source may join threads: never on an I/O thread.
  retire(std::move(source_), *ctx_.blocking);
  if (!was_open)
    return;
  close_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_).count();
  close_reason_ = reason;
  if (started_) {
    for (const auto& s : selection_.stream_names)
      ctx_.metrics.connected_clients(s).Decrement();
    ctx_.metrics.connection_duration().Observe(close_seconds_);
    ctx_.metrics.clients_disconnected(reason_label(reason)).Increment();
  }
  // The log line waits for the destructor: a write cancelled by this close still reports
  // its bytes to on_write, and the line should count them.
}

}  // namespace eventstreams

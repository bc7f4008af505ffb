// Admission, start positions and errors before the 200; then the hand-off to the session.
#include "sse/stream_opener.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <sstream>

#include "eventstreams/start_resolver.hpp"
#include "sse/hub_source.hpp"
#include "sse/per_connection_source.hpp"
#include "sse/split_source.hpp"
#include "sse/sse_session.hpp"

namespace eventstreams {
namespace {

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

// The 200's header, which the session's first write carries.
std::string response_header(const stream_request& r) {
  http::response<http::empty_body> res{http::status::ok, r.http_version};
  set_stream_headers(res, r.origin, r.body == framing::ndjson, r.chunked);
  std::ostringstream os;
  os << res.base();
  return os.str();
}

}  // namespace

// The lookup's answer (start positions, gaps, error), and what the set-up made of it.
struct stream_opener::resolved : lookup_flights::result {
  bool abandoned = false;  // the client closed before its source was created
  std::unique_ptr<event_source> source;
  bool catch_up = false;  // a shared stream's resume the rings cannot serve (a gap at its start)
};

stream_opener::stream_opener(beast::tcp_stream&& stream, const request& req,
                             stream_selection selection, std::vector<last_event_entry> entries,
                             std::optional<std::int64_t> since,
                             std::shared_ptr<const filter::compiled> filter, server_context& ctx)
    : stream_(std::move(stream)), executor_(stream_.get_executor()), ctx_(ctx) {
  req_.method = req.method_string();
  req_.target = req.target();
  req_.origin = req[http::field::origin];
  req_.http_version = req.version();
  req_.body = wants_ndjson(req) ? framing::ndjson : framing::sse;
  req_.chunked = req.version() >= 11;
  req_.selection = std::move(selection);
  req_.entries = std::move(entries);
  req_.since = since;
  req_.filter = std::move(filter);
  req_.opened = std::chrono::steady_clock::now();
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  req_.client = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  req_.client_ip = ec ? "unknown" : ep.address().to_string();
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
      req_.client_ip = std::string(value.substr(0, 64));
  }
}

stream_opener::~stream_opener() {
  if (registered_)
    ctx_.registry.leave(this);
  retire(std::move(source_), *ctx_.blocking);
}

response stream_opener::head_response(const request& req) {
  response res{http::status::ok, req.version()};
  set_stream_headers(res, std::string_view(req[http::field::origin]), wants_ndjson(req),
                     req.version() >= 11);
  if (res.keep_alive())
    res.keep_alive(req.keep_alive());
  return res;
}

void stream_opener::run() {
  switch (ctx_.registry.try_join(this, weak_from_this(), req_.client_ip,
                                 ctx_.cfg.server.max_connections,
                                 ctx_.cfg.server.client_ip_connection_limit)) {
    case session_registry::join_result::process_limit:
      return fail_before_start(error_kind::unavailable, "connection_limit",
                               "the server is at its connection limit");
    case session_registry::join_result::client_limit:
      return fail_before_start(error_kind::too_many_requests, "client_limit",
                               "too many concurrent streams from this client");
    case session_registry::join_result::ok:
      break;
  }
  registered_ = true;
  spdlog::debug("open client={} streams={} uri={}", req_.client, req_.stream_list(), req_.target);
  // Shared mode serves the live end, filtered or not, and the resumes whose records its rings
  // still hold, unless their filter reads $key (docs/api.md §11); the other resumes are served
  // per connection.
  resumed_ = !req_.entries.empty() || req_.since.has_value();
  use_hub_ = ctx_.hub && req_.selection.shared;
  if (use_hub_ && resumed_ && req_.filter && !rings_can_filter(*req_.filter))
    return catch_up();  // the rings keep no record keys
  if (use_hub_ && resumed_ && place_in_rings())
    return;
  look_up_start();
}

bool stream_opener::place_in_rings() {
  // The cached partition counts, refreshed in the background once they are older than
  // kafka.metadata_cache_ttl: how stale they may be is that TTL and one metadata round trip, as
  // for the lookups.
  std::vector<int> counts;
  bool stale = false;
  if (!ctx_.kafka->cached_partition_counts(req_.selection.topics, counts, stale) ||
      ctx_.cfg.kafka.metadata_cache_ttl.count() == 0)
    return false;  // (a TTL of 0: Kafka is asked every time)
  if (stale && ctx_.kafka->begin_refresh()) {
    net::post(*ctx_.blocking, [kafka = ctx_.kafka, topics = req_.selection.topics,
                               timeout = ctx_.cfg.server.kafka_timeout] {
      std::vector<int> refreshed;
      try {
        kafka->partition_counts(topics, timeout, refreshed);  // a failure is logged there
      } catch (const std::exception& e) {
        spdlog::error("refreshing partition counts: {}", e.what());  // must not end the thread
      }
      kafka->end_refresh();
    });
  }
  fanout::join_request jr{
      req_.selection.topics, req_.selection.pass_canary, req_.body, req_.chunked, {}, req_.filter};
  jr.exact = true;
  jr.resume = fanout::join_request::resume_point{req_.entries, req_.since, ctx_.cfg.kafka.resume_by,
                                                 std::move(counts)};
  placing_ = true;
  send_join(std::move(jr));
  return true;
}

void stream_opener::look_up_start() {
  // Stream set-ups wait for the blocking pool: bound how many may queue, so a burst of
  // requests (or clients that give up) cannot pile up lookups and consumers.
  if (ctx_.starting.fetch_add(1) >= ctx_.cfg.server.max_starting_streams) {
    ctx_.starting.fetch_sub(1);
    return fail_before_start(error_kind::unavailable, "starting_limit",
                             "too many streams are starting; retry");
  }
  // The deadline starts now, not when a pool thread is free: during a Kafka outage queued
  // requests are answered 503 within kafka_timeout instead of one pool round after another.
  auto deadline = std::chrono::steady_clock::now() + ctx_.cfg.server.kafka_timeout;
  auto self = shared_from_this();
  // The rest of the set-up, on the pool, once the start positions are known.
  auto then = [self, deadline](std::shared_ptr<const lookup_flights::result> found) {
    net::post(*self->ctx_.blocking,
              [self, deadline, found = std::move(found)] { self->set_up(*found, deadline); });
  };
  if (looked_up_)
    return then(looked_up_);  // found before the hub declined it: looked up once per request
  // Requests that ask the same while a lookup is in flight wait for its answer (a reconnect
  // storm of one id or one `since` asks Kafka once).
  auto key = lookup_flights::key(req_.selection.topics, req_.entries, req_.since);
  if (!ctx_.flights.join(key, std::move(then)))
    return;
  net::post(*ctx_.blocking, [self, key = std::move(key), deadline] {
    auto found = std::make_shared<lookup_flights::result>();
    try {
      self->look_up(*found, deadline);
    } catch (const std::exception& e) {
      // An exception must not end a pool thread (and the process): the requests get a 500.
      self->ctx_.metrics.internal_errors("setup").Increment();
      spdlog::error("client={} unexpected error while looking up a stream's start: {}",
                    self->req_.client, e.what());
      found->internal = true;
    }
    self->ctx_.flights.land(key, std::move(found));
  });
}

// On the blocking pool: the start positions, for every request that joined the lookup.
void stream_opener::look_up(lookup_flights::result& found,
                            std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    found.error = {lookup_error_kind::unreachable, "Kafka lookups are timing out"};
    return;
  }
  ctx_.metrics.start_lookups().Increment();
  found.error =
      resolve_start_positions(*ctx_.kafka, req_.selection.topics, req_.entries, req_.since,
                              ctx_.cfg.kafka.resume_by, left, found.positions, &found.gaps);
}

// On the blocking pool, with the start positions: the source; then on_resolved on the strand.
void stream_opener::set_up(const lookup_flights::result& found,
                           std::chrono::steady_clock::time_point deadline) {
  auto r = std::make_shared<resolved>();
  try {
    static_cast<lookup_flights::result&>(*r) = found;
    if (!r->internal)
      resolve(*r, deadline);
  } catch (const std::exception& e) {
    // An exception must not end a pool thread (and the process): the request gets a 500.
    ctx_.metrics.internal_errors("setup").Increment();
    spdlog::error("client={} unexpected error while starting a stream: {}", req_.client, e.what());
    r->internal = true;
    r->source.reset();
  }
  net::post(executor_, [self = shared_from_this(), r] {
    self->guarded("start", [&] { self->on_resolved(r); });
  });
}

// On the blocking pool: the source for the positions found. Only the pool touches the members
// it reads until on_resolved runs on the strand.
void stream_opener::resolve(resolved& r, std::chrono::steady_clock::time_point deadline) {
  // A client that left while waiting for the pool gets no consumer: the peek sees its FIN.
  // (The strand does nothing with the socket until on_resolved, so reading the fd is safe.)
  char probe;
  r.abandoned = ::recv(stream_.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  // A resume that starts with a gap event (docs/api.md §5.4) is served per connection.
  if (!r.error && use_hub_ && !r.gaps.empty()) {
    use_hub_ = false;
    r.catch_up = true;
  }
  // Shared mode: the ends looked up are where the member starts; the hub's consumer serves it,
  // once it reads (it starts with the process: a request that comes first waits for it).
  if (!r.error && !r.abandoned && use_hub_ && !ctx_.hub->wait_ready(deadline))
    r.error = {lookup_error_kind::unreachable, "the shared consumer is not reading yet"};
  if (!r.error && !r.abandoned && !use_hub_ && !r.catch_up) {
    try {
      r.source =
          std::make_unique<per_connection_source>(ctx_.cfg.kafka, ctx_.bootstrap, r.positions);
    } catch (const std::exception& e) {
      spdlog::error("cannot start a Kafka consumer: {}", e.what());
      r.error = {lookup_error_kind::unreachable, "cannot start a Kafka consumer"};
    }
  }
}

void stream_opener::join_hub(std::vector<partition_position> positions) {
  fanout::join_request jr{req_.selection.topics, req_.selection.pass_canary, req_.body,
                          req_.chunked,          std::move(positions),       req_.filter};
  jr.exact = resumed_;
  send_join(std::move(jr));
}

void stream_opener::send_join(fanout::join_request jr) {
  ctx_.hub->join(std::move(jr), [self = shared_from_this()](auto joined) {
    net::post(self->executor_, [self, joined = std::move(joined)]() mutable {
      self->guarded("start", [&] { self->on_joined(std::move(joined)); });
    });
  });
}

void stream_opener::on_joined(std::optional<fanout::join_result> joined) {
  if (closed_)
    return close("client closed while starting");
  if (ending_)
    return close(end_reason_);
  if (!joined && placing_) {
    // The rings cannot place every start: looked up in Kafka, then offered to the hub again.
    placing_ = false;
    return look_up_start();
  }
  placing_ = false;
  if (!joined) {
    // The hub cannot serve it (a topic added by a reload, partitions it does not read, a resume
    // from before its rings): per connection, looked up again.
    use_hub_ = false;
    if (resumed_)
      return catch_up();
    return look_up_start();
  }
  if (!move_to_shard())
    return;
  auto positions = joined->positions;
  if (resumed_)
    ctx_.metrics.fanout_resumes("ring").Increment();
  source_ = std::make_unique<hub_source>(*shard_, std::move(*joined), ctx_.cfg.fanout.cohort_window,
                                         demoter());
  req_.mode = delivery_mode::shared;
  start(std::move(positions));
}

// The session runs on a shard's strand, where the hub's wake-ups arrive: the socket moves there
// (its descriptor is re-wrapped; no operation is pending on it here), shard_. False when it
// closed.
bool stream_opener::move_to_shard() {
  auto& shard = ctx_.hub->next_shard();
  beast::error_code ec;
  auto protocol = stream_.socket().local_endpoint(ec).protocol();
  tcp::socket moved(shard.executor());
  if (!ec) {
    auto fd = stream_.socket().release(ec);
    if (!ec)
      moved.assign(protocol, fd, ec);
  }
  if (ec) {
    close("client error: " + ec.message());
    return false;
  }
  shard_stream_.emplace(std::move(moved));
  shard_ = &shard;
  return true;
}

// A member that falls behind its group continues from the rings where they hold its positions
// (docs/api.md §11): unfiltered SSE streams, whose chunks carry their positions as ids. Null for
// the others.
hub_source::demote_fn stream_opener::demoter() const {
  if (req_.filter || req_.body != framing::sse)
    return nullptr;
  return [hub = ctx_.hub, topics = req_.selection.topics, pass = req_.selection.pass_canary,
          chunked = req_.chunked](auto at, auto done) {
    fanout::join_request jr{topics, pass, framing::sse, chunked, std::move(at), nullptr};
    jr.exact = true;
    jr.demotion = true;
    hub->join(std::move(jr), std::move(done));
  };
}

void stream_opener::on_resolved(std::shared_ptr<resolved> r) {
  source_ = std::move(r->source);
  ctx_.starting.fetch_sub(1);
  if (closed_ || r->abandoned)
    return close("client closed while starting");
  if (ending_)
    return close(end_reason_);
  if (r->internal)
    return fail_before_start(error_kind::internal, "internal_error", "");
  if (r->error)
    return fail_before_start(error_kind::kafka_unavailable, "kafka_unavailable", r->error.detail);
  if (r->catch_up || use_hub_) {
    // Should the hub decline it, or a catch-up reader be free only later: no second lookup.
    // (No error and no internal failure: both returned above.)
    looked_up_ = std::make_shared<const lookup_flights::result>(*r);
  }
  if (r->catch_up)
    return catch_up();
  if (use_hub_)
    return join_hub(std::move(r->positions));
  if (resumed_ && ctx_.hub && req_.selection.shared)
    ctx_.metrics.fanout_resumes("kafka").Increment();
  start(std::move(r->positions), std::move(r->gaps));
}

// The tables the session indexes per record, once per connection; the source's wake-up; then
// the hand-off.
void stream_opener::start(std::vector<partition_position> start_positions,
                          std::vector<position_gap> gaps) {
  position_vector positions(std::move(start_positions));
  const auto& names = req_.selection.stream_names;
  // An event counts for the first requested stream that reads its topic.
  std::vector<prometheus::Counter*> sent_counters(positions.size());
  auto catalog = ctx_.catalog.load();
  for (std::size_t i = 0; i < positions.size(); ++i) {
    for (const auto& name : names) {
      const auto* s = catalog->find(name);
      if (s &&
          std::find(s->topics.begin(), s->topics.end(), positions.at(i).topic) != s->topics.end()) {
        sent_counters[i] = &ctx_.metrics.events_sent(name);
        break;
      }
    }
    if (!sent_counters[i])
      sent_counters[i] = &ctx_.metrics.events_sent(names[0]);
  }
  auto pass_canary =
      stream_format::canary_policy(req_.selection.topics, req_.selection.pass_canary, positions);
  // A shared stream's catch-up reader hands the stream over to the rings once they hold its
  // positions (docs/api.md §11): it runs on a shard's strand from the start, as the hub's
  // streams do (not with a filter that reads $key: the rings keep no keys). A stream of the hub
  // keeps the same way, should it fall behind what the rings keep.
  std::optional<ring_handover> handover;
  if (req_.catchup_slot && ctx_.hub && req_.mode == delivery_mode::per_connection &&
      (!req_.filter || rings_can_filter(*req_.filter)) && !move_to_shard())
    return;
  if (shard_) {
    fanout::join_request jr{req_.selection.topics,
                            req_.selection.pass_canary,
                            req_.body,
                            req_.chunked,
                            {},
                            req_.filter};
    auto member = [shard = shard_, window = ctx_.cfg.fanout.cohort_window, demote = demoter()](
                      fanout::join_result joined) -> std::unique_ptr<event_source> {
      return std::make_unique<hub_source>(*shard, std::move(joined), window, demote);
    };
    // The partitions the rings hold go on from them while the others catch up from Kafka.
    auto split = [&ctx = ctx_](std::unique_ptr<event_source> kafka,
                               const std::vector<partition_position>& at) {
      return std::make_unique<split_source>(
          std::move(kafka), *ctx.hub, at, ctx.cfg.fanout.cohort_window,
          split_source::counters{&ctx.metrics.fanout_partition_handovers("ring"),
                                 &ctx.metrics.fanout_partition_handovers("kafka"),
                                 &ctx.metrics.fanout_replayed_records()});
    };
    auto reader = [&ctx = ctx_, split](
                      const std::vector<partition_position>& at) -> std::unique_ptr<event_source> {
      return split(std::make_unique<per_connection_source>(ctx.cfg.kafka, ctx.bootstrap, at), at);
    };
    handover = ring_handover{ctx_.hub, std::move(jr), std::move(member), std::move(reader)};
    if (req_.mode == delivery_mode::per_connection)  // a catch-up reader, not the hub's member
      source_ = split(std::move(source_), positions.positions());
  }
  if (auto refused = source_->attach(socket().get_executor()))
    return fail_before_start(error_kind::unavailable, "out_of_resources", *refused);

  std::string header = response_header(req_);
  if (!gaps.empty())
    count_gaps(gaps, positions);
  stream_format format(req_.body, std::move(positions), std::move(pass_canary), req_.filter);
  format.set_start_gaps(std::move(gaps));
  // From here the socket belongs to the session, even if constructing it fails.
  handed_off_ = true;
  auto session = std::make_shared<sse_session>(
      std::move(socket()),
      opened_stream{std::move(req_), std::move(header), std::move(format), std::move(sent_counters),
                    std::move(source_), std::move(handover)},
      ctx_);
  ctx_.registry.hand_over(this, session.get(), session);
  registered_ = false;
  session_ = session;
  // On the session's executor: the opener's strand, or the shard's in shared mode.
  net::dispatch(session->executor(), [session] { session->start(); });
}

// Counted per partition, also for NDJSON, which gets no gap line (docs/api.md §5.4); one log
// line per stream.
void stream_opener::count_gaps(const std::vector<position_gap>& gaps,
                               const position_vector& positions) {
  std::string parts;
  for (const auto& g : gaps) {
    ctx_.metrics.gaps(gap_reason_name(g.reason)).Increment();
    if (g.index >= positions.size())
      continue;
    const auto& at = positions.at(g.index);
    parts +=
        fmt::format("{}{}/{} {}->{} missing={} reason={}", parts.empty() ? "" : ", ", at.topic,
                    at.partition, g.requested, g.resumed, g.missing, gap_reason_name(g.reason));
  }
  spdlog::info("client={} streams={} starts with a gap: {}", req_.client, req_.stream_list(),
               parts);
}

void stream_opener::on_exception(const char* step, const char* what) {
  ctx_.metrics.internal_errors("setup").Increment();
  spdlog::error("client={} unexpected error ({}): {}", req_.client, step, what);
  if (closed_ || handed_off_)
    return;  // closed, or the socket went with the session (or with its failed construction)
  fail_before_start(error_kind::internal, "internal_error", "");  // no internals in the body
}

void stream_opener::fail_before_start(error_kind kind, const char* reason,
                                      const std::string& detail) {
  request req;
  req.method_string(req_.method);
  req.target(req_.target);
  req.version(req_.http_version);
  req.keep_alive(false);
  auto res = std::make_shared<response>(make_problem(req, kind, detail));
  spdlog::info("close client={} streams={} duration=0s events=0 bytes=0 reason=\"{}: {}\"",
               req_.client, req_.stream_list(), problem_for(kind).type, detail);
  closed_ = true;  // nothing streams from here on; the write below ends the connection
  ctx_.metrics.http_requests("stream", problem_for(kind).status).Increment();
  ctx_.metrics.streams_refused(reason).Increment();
  http::async_write(socket(), *res,
                    [self = shared_from_this(), res](beast::error_code, std::size_t) {
                      beast::error_code ec;
                      self->socket().socket().shutdown(tcp::socket::shutdown_both, ec);
                      self->socket().close();
                    });
}

void stream_opener::end(std::string reason, std::chrono::milliseconds retry,
                        std::shared_ptr<void> acted) {
  net::post(executor_, [self = shared_from_this(), reason = std::move(reason), retry,
                        acted = std::move(acted)]() mutable {
    self->end_on_strand(std::move(reason), retry, std::move(acted));
  });
}

void stream_opener::end_on_strand(std::string reason, std::chrono::milliseconds retry,
                                  std::shared_ptr<void> acted) {
  if (handed_off_) {
    // The registry asked before the hand-off; the session serves the stream now (and acts on
    // the end: `acted` goes with it).
    if (auto s = session_.lock())
      s->end(std::move(reason), retry, std::move(acted));
    return;
  }
  if (closed_ || ending_)
    return;
  ending_ = true;  // still resolving: on_resolved sees it and closes
  end_reason_ = std::move(reason);
  if (waiting_slot_) {
    // Queued for a catch-up reader: nothing is in flight, it closes now.
    waiting_slot_ = false;
    ctx_.catchup->cancel(catchup_ticket_);
    catchup_timer_->cancel();
    close(end_reason_);
  }
}

void stream_opener::catch_up() {
  use_hub_ = false;
  if (!ctx_.catchup || req_.catchup_slot)
    return look_up_start();
  auto slot = ctx_.catchup->acquire(
      [self = shared_from_this()](std::shared_ptr<void> s) {
        net::post(self->executor_, [self, s = std::move(s)]() mutable {
          self->guarded("start", [&] { self->on_catchup_slot(std::move(s)); });
        });
      },
      catchup_ticket_);
  if (slot) {
    req_.catchup_slot = std::move(slot);
    return look_up_start();
  }
  // Every reader is busy: in line for the next free one, up to server.kafka_timeout.
  waiting_slot_ = true;
  catchup_timer_.emplace(executor_);
  catchup_timer_->expires_after(ctx_.cfg.server.kafka_timeout);
  catchup_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->waiting_slot_)
      return;
    self->waiting_slot_ = false;
    self->ctx_.catchup->cancel(self->catchup_ticket_);  // out of the line (and its count)
    self->guarded("start", [&] {
      self->fail_before_start(error_kind::unavailable, "catchup_limit",
                              "every catch-up reader (fanout.catchup.readers_max) is busy");
    });
  });
}

// A slot came free for this request (or for one that gave up: then it goes on to the next).
void stream_opener::on_catchup_slot(std::shared_ptr<void> slot) {
  if (!waiting_slot_ || closed_)
    return;
  waiting_slot_ = false;
  catchup_timer_->cancel();
  req_.catchup_slot = std::move(slot);
  look_up_start();
}

// A stream that ends before its 200 (the client left, shutdown): no answer, one log line.
void stream_opener::close(const std::string& reason) {
  closed_ = true;
  beast::error_code ec;
  socket().socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close();
  retire(std::move(source_), *ctx_.blocking);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - req_.opened).count();
  sse_session::log_close(req_, seconds, {}, reason);
}

}  // namespace eventstreams

// The streaming session: event source -> stream format -> writer, with backpressure.
#include "sse/sse_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "eventstreams/problem.hpp"

namespace eventstreams {
namespace {

// Records encoded per turn on the strand before yielding to other connections.
constexpr std::size_t records_per_turn = 2048;

// A catch-up reader the hub could not take yet (the rings do not hold its positions) asks again
// at most this often, when its source is empty again.
constexpr std::chrono::seconds handover_retry{1};

// A bounded set of metric labels for close reasons (metrics::disconnect_reasons): a reason
// starts with its label, written with spaces or underscores.
std::string reason_label(const std::string& reason) {
  for (const char* label : metrics::disconnect_reasons) {
    std::string spaced(label);
    std::replace(spaced.begin(), spaced.end(), '_', ' ');
    if (reason.starts_with(label) || reason.starts_with(spaced))
      return label;
  }
  return "other";
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* mode_name(delivery_mode m) {
  return m == delivery_mode::shared ? "shared" : "per_connection";
}

}  // namespace

sse_session::sse_session(beast::tcp_stream&& stream, opened_stream opened, server_context& ctx)
    : ctx_(ctx),
      req_(std::move(opened.request)),
      format_(std::move(opened.format)),
      sent_counter_(std::move(opened.sent_counters)),
      filtered_(&ctx.metrics.events_skipped("filter")),
      source_(std::move(opened.source)),
      writer_(std::move(stream), req_.chunked, ctx.cfg.server.max_buffered_bytes,
              ctx.cfg.server.stall_timeout),
      heartbeat_entry_(*this),
      handover_(std::move(opened.handover)),
      last_send_(req_.opened) {
  writer_.set_header(std::move(opened.response_header));
}

sse_session::~sse_session() {
  clear_lagging();  // a session dropped without close() (the loop stopped)
  if (close_reason_) {
    totals_.bytes = writer_.bytes_written();
    log_close(req_, close_seconds_, totals_, *close_reason_);
  }
  ctx_.registry.leave(this);
  // Normally close() already retired it; this covers a session dropped before that.
  retire(std::move(source_), *ctx_.blocking);
}

void sse_session::log_close(const stream_request& req, double seconds, const stream_totals& totals,
                            std::string_view reason) {
  spdlog::info(
      "close client={} streams={} mode={} duration={:.3f}s events={} bytes={} "
      "skipped_canary={} skipped_not_json={} skipped_filter={} lag_records={} lag_seconds={:.1f} "
      "reason=\"{}\"",
      req.client, req.stream_list(), mode_name(req.mode), seconds, totals.events, totals.bytes,
      totals.skipped_canary, totals.skipped_not_json, totals.skipped_filter, totals.lag.records,
      totals.lag.seconds, reason);
}

void sse_session::start() {
  guarded("start", [this] { do_start(); });
}

void sse_session::do_start() {
  started_ = true;
  // The shared mode's shard samples its streams' lag in one pass (docs/api.md "Metrics").
  if (source_ && source_->sample_lag_by(*this))
    ctx_.registry.sampled_elsewhere(this);
  wheel_ = source_ ? source_->heartbeat_wheel() : nullptr;
  ctx_.metrics.http_requests("stream", 200).Increment();
  ctx_.metrics.client_connections(req_.stream_list()).Increment();
  ctx_.metrics.streams_opened(mode_name(req_.mode)).Increment();
  ctx_.metrics.streams_open(mode_name(req_.mode)).Increment();
  for (const auto& s : req_.selection.stream_names)
    ctx_.metrics.connected_clients(s).Increment();
  // The start positions right away (docs/api.md §5.1).
  format_.preamble(writer_.pending());
  flush();
  do_read_client();
  schedule_heartbeat();
  if (auto limit = ctx_.cfg.server.max_connection_duration; limit.count() > 0) {
    duration_timer_.emplace(writer_.get_executor());
    duration_timer_->expires_after(limit);
    duration_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->end_on_strand("max_connection_duration");
    });
  }
  drain();
  if (early_end_) {
    auto [reason, retry] = std::move(*early_end_);
    early_end_.reset();
    end_on_strand(std::move(reason), retry);
  }
}

void sse_session::on_exception(const char* step, const char* what) {
  ctx_.metrics.internal_errors(started_ ? "stream" : "setup").Increment();
  spdlog::error("client={} unexpected error ({}): {}", req_.client, step, what);
  if (closed_)
    return;
  close(std::string("internal error: ") + what);
}

void sse_session::do_wait_source() {
  waiting_source_ = true;
  source_->async_wait(guard("wake-up", &sse_session::on_source_ready));
}

void sse_session::on_source_ready(beast::error_code ec) {
  if (ec == net::error::operation_aborted)
    return;  // the wait of a source retired by a switch (which cleared the flag), or the close
  waiting_source_ = false;
  if (ec || closed_)
    return;
  source_->reset_wake();
  drain();
}

void sse_session::drain() {
  if (closed_)
    return;
  if (switching_) {
    flush();  // nothing is polled until the hub answers: its cohort starts at these positions
    return;
  }
  if (ending_) {
    flush();  // a stream paused by backpressure still writes its last bytes and the end
    return;
  }
  if (source_->framed())
    return drain_framed();
  std::size_t budget = records_per_turn;
  drain_now_ms_ = now_ms();
  bool empty = false;
  if (!records_)
    records_ = std::make_unique<std::array<source_record, 64>>();
  auto& records = *records_;
  while (budget > 0 && !writer_.full()) {
    errors_.clear();
    std::size_t want = std::min(records.size(), budget);
    auto kicks = source_->stats().fetch_kicks;
    std::size_t n = source_->poll(std::span(records.data(), want), errors_);
    if (auto k = source_->stats().fetch_kicks; k != kicks)
      ctx_.metrics.fetch_restarts().Increment(static_cast<double>(k - kicks));
    for (std::size_t i = 0; i < n; ++i)
      encode(records[i]);
    for (const auto& e : errors_) {
      ctx_.metrics.kafka_errors(e.kind).Increment();
      if (e.fatal)
        return end_on_kafka_error(e);
      spdlog::debug("client={} kafka: {}: {}", req_.client, e.kind, e.detail);
    }
    budget -= std::min(budget, std::max<std::size_t>(n, 1));
    if (n < want && errors_.empty()) {
      empty = true;
      break;
    }
  }
  probe_rings();
  end_turn(empty);
}

void sse_session::probe_rings() {
  if (!handover_ || ending_ || switching_ || probing_ || source_->framed())
    return;
  const auto now = std::chrono::steady_clock::now();
  if (handover_asked_ != std::chrono::steady_clock::time_point{} &&
      now - handover_asked_ < handover_retry)
    return;
  handover_asked_ = now;
  probing_ = true;
  auto jr = handover_->request;
  jr.ends = format_.positions().positions();
  handover_->hub->probe(std::move(jr), [self = shared_from_this()](std::vector<bool> held) {
    net::post(self->executor(), [self, held = std::move(held)]() mutable {
      self->guarded("rings probe", [&] { self->on_probe(std::move(held)); });
    });
  });
}

void sse_session::on_probe(std::vector<bool> held) {
  probing_ = false;
  if (closed_ || ending_ || switching_ || source_->framed())
    return;
  const auto& at = format_.positions().positions();
  if (held.size() != at.size())
    return;
  // A partition the rings hold from its position goes on from them: the reader stops fetching
  // it from Kafka, and the hub queues its ring records for it (docs/api.md §11). Back to Kafka
  // should the rings lose it first, as the source sees.
  bool all = true;
  for (std::size_t i = 0; i < held.size(); ++i) {
    all = all && held[i];
    if (held[i])
      source_->park(i, true, at[i].next_offset);
  }
  if (all)
    join_rings();
}

void sse_session::join_rings() {
  switching_ = true;
  flush();
  // Its exact positions: the hub takes it only where its rings hold every record from there
  // (docs/api.md §11); what the consumer fetched beyond them is dropped with it and comes from
  // the rings instead.
  auto jr = handover_->request;
  jr.ends = format_.positions().positions();
  jr.exact = true;
  handover_->hub->join(std::move(jr), [self = shared_from_this()](auto joined) {
    net::post(self->executor(), [self, joined = std::move(joined)]() mutable {
      self->guarded("hand-over", [&] { self->on_handover(std::move(joined)); });
    });
  });
}

void sse_session::on_handover(std::optional<fanout::join_result> joined) {
  switching_ = false;
  if (closed_)
    return;  // the cohort goes with the token
  if (ending_) {
    flush();
    return;
  }
  if (!joined)
    return resume_turn();  // Kafka goes on; the hub is asked again a second later
  auto hub = handover_->member(std::move(*joined));
  hub->attach(executor());
  // The consumer and its slot go; the bytes go on from the same positions, framed by the hub.
  retire(std::exchange(source_, std::move(hub)), *ctx_.blocking);
  waiting_source_ = false;  // (the consumer's wait ends aborted)
  req_.catchup_slot.reset();
  switch_mode(delivery_mode::shared);
  ctx_.metrics.fanout_handovers().Increment();
  // Its shard samples its lag from now on, as for the streams the hub served from the start;
  // its keepalives keep their own timer.
  if (source_->sample_lag_by(*this))
    ctx_.registry.sampled_elsewhere(this);
  if (!paused_)
    drain();  // (a write in flight drains when it completes)
  else
    flush();
}

void sse_session::resume_turn() {
  if (waiting_source_ || paused_)
    flush();  // the wait or the write in flight goes on with the next turn
  else
    net::post(writer_.get_executor(), guard("drain", &sse_session::drain));
}

void sse_session::drain_framed() {
  drain_now_ms_ = now_ms();
  std::size_t budget = records_per_turn;  // chunks per turn
  bool empty = false;
  bool moved = format_.id_moved();
  std::shared_ptr<const framed_chunk> last;
  std::optional<source_error> fatal;
  while (budget > 0 && !writer_.full()) {
    errors_.clear();
    std::size_t n = source_->poll_framed(chunks_, errors_);
    for (std::size_t i = 0; i < n; ++i) {
      auto& c = chunks_[i];
      account(*c);
      moved = c->moved_after(moved);
      writer_.push_framed(c->bytes(), c);
      last = std::move(c);
    }
    for (const auto& e : errors_) {
      if (!e.end.empty() || e.fatal)
        fatal = e;
    }
    budget -= std::min(budget, std::max<std::size_t>(n, 1));
    if (fatal)
      break;
    if (n < chunks_.size()) {
      empty = true;
      break;
    }
  }
  // The per-client blocks (keepalive ids, the pre-end id) carry the positions after the last
  // chunk written (docs/api.md §5.1).
  if (last)
    format_.follow(last->end_id, moved, last);
  if (fatal && fatal->end == "overrun" && try_fall_back())
    return;
  if (fatal && !fatal->end.empty())
    return end_on_strand(fatal->end);
  if (fatal)
    return end_on_kafka_error(*fatal);  // the hub's consumer met it (and counted it)
  end_turn(empty);
}

bool sse_session::try_fall_back() {
  if (!handover_ || !ctx_.catchup || ending_)
    return false;
  auto at = source_->overrun_positions();
  if (!at)
    return false;
  auto slot = ctx_.catchup->try_acquire();
  if (!slot)
    return false;  // no reader free: it ends after its last complete event, and resumes
  switching_ = true;
  flush();
  // Creating a consumer starts librdkafka's threads: on the blocking pool, never here.
  net::post(*ctx_.blocking, [self = shared_from_this(), at = std::move(*at),
                             slot = std::move(slot)]() mutable {
    std::unique_ptr<event_source> reader;
    try {
      reader = self->handover_->reader(at);
    } catch (const std::exception& e) {
      spdlog::error("client={} cannot start a Kafka consumer: {}", self->req_.client, e.what());
    }
    auto ex = self->executor();
    net::post(ex, [self = std::move(self), reader = std::move(reader), at = std::move(at),
                   slot = std::move(slot)]() mutable {
      self->guarded("fall back",
                    [&] { self->on_fell_back(std::move(reader), std::move(at), std::move(slot)); });
    });
  });
  return true;
}

void sse_session::on_fell_back(std::unique_ptr<event_source> reader,
                               std::vector<partition_position> at, std::shared_ptr<void> slot) {
  switching_ = false;
  if (closed_ || ending_) {
    retire(std::move(reader), *ctx_.blocking);
    if (!closed_)
      flush();
    return;
  }
  if (!reader || reader->attach(executor())) {
    retire(std::move(reader), *ctx_.blocking);
    return end_on_strand("overrun");  // after its last complete event, as without a reader
  }
  // The hub's member goes; the stream frames the records itself from the positions after the
  // last chunk it took, as a per-connection stream from its id would.
  retire(std::exchange(source_, std::move(reader)), *ctx_.blocking);
  waiting_source_ = false;  // (the member's wait ends aborted)
  ctx_.registry.sampled_here(this);
  req_.catchup_slot = std::move(slot);
  format_.restart(position_vector(std::move(at)));
  switch_mode(delivery_mode::per_connection);
  ctx_.metrics.fanout_demotions_to_kafka().Increment();
  handover_asked_ = {};  // back to the rings once it has caught up
  drain();
}

// The stream is served in `mode` from now on: counted there in eventstreams_streams_open, and
// named so in its close line.
void sse_session::switch_mode(delivery_mode mode) {
  ctx_.metrics.streams_open(mode_name(req_.mode)).Decrement();
  req_.mode = mode;
  ctx_.metrics.streams_open(mode_name(req_.mode)).Increment();
}

void sse_session::end_on_kafka_error(const source_error& e) {
  spdlog::error("client={} kafka error ends the stream: {}: {}", req_.client, e.kind, e.detail);
  // SSE: an error event; NDJSON just ends (docs/api.md §4).
  format_.error(problem_json(error_kind::kafka_unavailable, "Kafka error: " + e.kind, req_.method,
                             req_.target),
                writer_.pending());
  end_on_strand("kafka error " + e.kind);
}

// After a turn of draining: write, then wait for the source (empty), for the socket (the
// writer is full: on_write resumes draining) or for the next turn.
void sse_session::end_turn(bool empty) {
  flush();
  if (empty) {
    do_wait_source();
  } else if (writer_.full()) {
    paused_ = true;
  } else {
    net::post(writer_.get_executor(), guard("drain", &sse_session::drain));
  }
}

void sse_session::account(const framed_chunk& c) {
  if (c.skipped_not_json) {
    totals_.skipped_not_json += c.skipped_not_json;
    ctx_.metrics.events_skipped("not_json").Increment(c.skipped_not_json);
  }
  if (c.skipped_canary) {
    totals_.skipped_canary += c.skipped_canary;
    ctx_.metrics.events_skipped("canary").Increment(c.skipped_canary);
  }
  if (c.skipped_filter) {
    totals_.skipped_filter += c.skipped_filter;
    filtered_->Increment(c.skipped_filter);
  }
  if (!c.any_event)
    return;
  for (std::size_t i = 0; i < c.events.size() && i < sent_counter_.size(); ++i) {
    if (c.events[i]) {
      totals_.events += c.events[i];
      sent_counter_[i]->Increment(c.events[i]);
    }
  }
  ctx_.metrics.observe_delivery_lags(c.event_timestamps, drain_now_ms_);
  last_send_ = std::chrono::steady_clock::now();
}

void sse_session::encode(const source_record& rec) {
  if (rec.gap) {
    // The position jumped while streaming; format_ sends the gap event (docs/api.md §5.4).
    ctx_.metrics.gaps(gap_reason_name(rec.gap->reason)).Increment();
    spdlog::info(
        "client={} {}/{} jumped from offset {} to {} while streaming: gap reason={} "
        "missing={}",
        req_.client, rec.topic, rec.partition, rec.gap->requested, rec.gap->resumed,
        gap_reason_name(rec.gap->reason), rec.gap->missing);
  }
  switch (format_.record(rec, writer_.pending())) {
    case record_outcome::not_assigned:
      return;
    case record_outcome::skipped_not_json:
      ++totals_.skipped_not_json;
      ctx_.metrics.events_skipped("not_json").Increment();
      spdlog::debug("client={} skipped a record that is not a JSON object: {}/{}@{}", req_.client,
                    rec.topic, rec.partition, rec.offset);
      return;
    case record_outcome::skipped_canary:
      ++totals_.skipped_canary;
      ctx_.metrics.events_skipped("canary").Increment();
      return;
    case record_outcome::skipped_filter:
      ++totals_.skipped_filter;
      filtered_->Increment();
      return;
    case record_outcome::sent:
      break;
  }
  ++totals_.events;
  sent_counter_[rec.index]->Increment();
  if (rec.timestamp >= 0) {
    ctx_.metrics.delivery_lag().Observe(
        static_cast<double>(std::max<std::int64_t>(0, drain_now_ms_ - rec.timestamp)) / 1000.0);
  }
  last_send_ = std::chrono::steady_clock::now();
}

void sse_session::flush() {
  if (closed_ || writer_.writing())
    return;
  auto result = writer_.flush(
      ending_, [this] { return guard("write", &sse_session::on_write); },
      [this] {
        return [self = shared_from_this()] { self->close("stalled: the client stopped reading"); };
      });
  if (auto sent = writer_.take_sent_now())
    ctx_.metrics.bytes_sent().Increment(static_cast<double>(sent));
  if (result == stream_writer::flush_result::ended)
    return close(end_reason_);  // HTTP/1.0 end with nothing left to send
  if (result == stream_writer::flush_result::written)
    wrote_all();  // the socket took it all at once: no on_write will come
}

bool sse_session::wrote_all() {
  writer_.trim();
  if (!writer_.final_queued())
    return true;
  close(end_reason_);
  return false;
}

void sse_session::on_write(beast::error_code ec, std::size_t bytes) {
  // Count what reached the socket even when the write failed or was cut short by close().
  writer_.written(bytes);
  ctx_.metrics.bytes_sent().Increment(static_cast<double>(bytes));
  // The client's reset, seen by a write before the read: the client closed.
  if (ec == net::error::connection_reset || ec == net::error::broken_pipe)
    return close("client closed");
  if (ec)
    return close("write failed: " + ec.message());
  if (!wrote_all())
    return;
  if (paused_) {
    paused_ = false;
    drain();  // flushes
    return;
  }
  flush();
}

void sse_session::do_read_client() {
  writer_.async_read(guard("client read", &sse_session::on_read_client));
}

void sse_session::on_read_client(beast::error_code ec, std::size_t) {
  if (closed_)
    return;
  // A client that closes with bytes still unread (curl's Ctrl-C, a test's close() while the
  // last chunk's CRLF is in flight) resets the connection instead of ending it: it closed all
  // the same (docs/api.md "Metrics").
  if (ec == net::error::eof || ec == net::error::connection_reset)
    return close("client closed");
  if (ec)
    return close("client error: " + ec.message());
  do_read_client();  // a streaming client has nothing more to say; discard it
}

void sse_session::schedule_heartbeat() {
  auto interval = ctx_.cfg.server.heartbeat_interval;
  if (interval.count() == 0 || format_.kind() == framing::ndjson || closed_)
    return;
  // On a grid: the heartbeats due in one step go out in one wake-up (docs/api.md §5.1). In the
  // shared mode the deadline waits in the shard's wheel (one timer for all its streams).
  const auto due = heartbeat_due(last_send_, interval);
  if (wheel_) {
    wheel_->schedule(heartbeat_entry_, due);
    return;
  }
  if (!heartbeat_)
    heartbeat_.emplace(writer_.get_executor());
  heartbeat_->expires_at(due);
  heartbeat_->async_wait(guard("heartbeat", &sse_session::on_heartbeat));
}

void sse_session::on_heartbeat(beast::error_code ec) {
  if (ec || closed_ || ending_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_send_ >= ctx_.cfg.server.heartbeat_interval) {
    // An id-only block when positions moved without an event, else ":" (docs/api.md §5.1).
    format_.heartbeat(writer_.pending());
    last_send_ = now;
    flush();
  }
  schedule_heartbeat();
}

void sse_session::end(std::string reason, std::chrono::milliseconds retry,
                      std::shared_ptr<void> acted) {
  // `acted` goes with the handler: released when it ran (or was dropped with the loop).
  net::post(writer_.get_executor(),
            [self = shared_from_this(), reason = std::move(reason), retry,
             acted = std::move(acted)] { self->end_on_strand(reason, retry); });
}

void sse_session::sample_lag() {
  net::post(writer_.get_executor(), [self = shared_from_this()] {
    lag_batch batch;
    self->sample_lag_here(now_ms(), batch);
    self->ctx_.metrics.observe_client_lag(batch);
  });
}

bool sse_session::sample_lag_here(std::int64_t now, lag_batch& batch) {
  guarded("lag", [&] { on_sample_lag(now, batch); });
  return lagging_;
}

void sse_session::on_sample_lag(std::int64_t now, lag_batch& batch) {
  if (closed_ || !started_ || !source_)
    return;
  auto lag = source_->lag(now);
  if (!lag)
    return;
  totals_.lag = *lag;
  batch.add(lag->records, lag->seconds);
  const bool lagging = lag->seconds > metrics::lagging_seconds;
  if (lagging != lagging_) {
    lagging_ = lagging;
    batch.lagging(lagging);
  }
  // A catch-up reader asks the hub about the rings while it waits for Kafka (or for its client)
  // too, not only after its turns of reading.
  probe_rings();
}

void sse_session::clear_lagging() {
  if (!lagging_)
    return;
  lagging_ = false;
  ctx_.metrics.clients_lagging().Decrement();
}

void sse_session::end_on_strand(std::string reason, std::chrono::milliseconds retry) {
  if (closed_ || ending_)
    return;
  if (!started_) {
    if (!early_end_)
      early_end_.emplace(std::move(reason), retry);
    return;
  }
  ending_ = true;
  end_reason_ = std::move(reason);
  // An end the server decides: the client resumes from the newest position (docs/api.md §5.1),
  // at a shutdown after the delay the drain chose for it (§5.5). Both go after the last complete
  // event, even when a write is in flight: flush() sends them when it completes.
  format_.before_end(writer_.pending(), retry);
  flush();
}

void sse_session::close(const std::string& reason) {
  if (closed_ && !source_)
    return;
  bool was_open = !closed_;
  closed_ = true;
  heartbeat_entry_.cancel();
  if (heartbeat_)
    heartbeat_->cancel();
  if (duration_timer_)
    duration_timer_->cancel();
  clear_lagging();
  // The close line's lag: the figures now, before the source goes (docs/api.md "Metrics").
  if (source_ && was_open && started_) {
    if (auto lag = source_->lag(now_ms()))
      totals_.lag = *lag;
  }
  if (source_)
    source_->close();
  writer_.close();
  // Destroying the source may join threads: never on an I/O thread.
  retire(std::move(source_), *ctx_.blocking);
  req_.catchup_slot.reset();  // its consumer is gone: the next catch-up reader may start
  if (!was_open)
    return;
  close_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - req_.opened).count();
  close_reason_ = reason;
  if (started_) {
    for (const auto& s : req_.selection.stream_names)
      ctx_.metrics.connected_clients(s).Decrement();
    ctx_.metrics.streams_open(mode_name(req_.mode)).Decrement();
    ctx_.metrics.connection_duration().Observe(close_seconds_);
    ctx_.metrics.clients_disconnected(reason_label(reason)).Increment();
  }
  // The log line waits for the destructor: a write cancelled by this close still reports
  // its bytes to on_write, and the line should count them.
}

}  // namespace eventstreams

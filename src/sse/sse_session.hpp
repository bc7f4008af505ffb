// One streaming connection after its 200: the pump that joins an event source, the stream's
// format and the socket writer. It drains the source in turns, waits for its wake-up, sends
// heartbeats, ends the stream (duration, shutdown, a fatal error) and logs the one close line.
// It does not know which source it reads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "context/server_context.hpp"
#include "eventstreams/source_record.hpp"
#include "eventstreams/stream_format.hpp"
#include "fanout/hub.hpp"
#include "net/net.hpp"
#include "net/strand_wheel.hpp"
#include "sse/event_source.hpp"
#include "sse/guarded.hpp"
#include "sse/stream_request.hpp"
#include "sse/stream_writer.hpp"

namespace eventstreams {

// A shared stream's way between the hub and a catch-up reader (docs/api.md §11). A catch-up
// reader whose positions the rings all hold asks the hub to go on from the rings there;
// when the hub takes it, the stream reads the hub from then on and the Kafka consumer goes, with
// its fanout.catchup.readers_max slot. A stream of the hub that fell behind what the rings keep
// goes on with a catch-up reader, when a slot is free, instead of ending.
struct ring_handover {
  fanout::hub* hub = nullptr;
  fanout::join_request request;  // the stream's, but for the positions
  // The source of a member the hub took (on the session's strand, its shard's).
  std::function<std::unique_ptr<event_source>(fanout::join_result)> member;
  // A catch-up reader at exact positions; blocking (librdkafka starts threads): call it on the
  // blocking pool. Throws when it cannot.
  std::function<std::unique_ptr<event_source>(const std::vector<partition_position>&)> reader;
};

// A stream its opener admitted and set up: what the session needs to serve it.
struct opened_stream {
  stream_request request;
  std::string response_header;  // the 200's header: the first bytes written
  stream_format format;         // the start positions and the canary policy
  // Per position: the events_sent counter of the stream its events count for.
  std::vector<prometheus::Counter*> sent_counters;
  std::unique_ptr<event_source> source;  // attached to the stream's executor
  std::optional<ring_handover> handover{};
};

// What a stream did, for its close line.
struct stream_totals {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::uint64_t skipped_canary = 0;
  std::uint64_t skipped_not_json = 0;
  std::uint64_t skipped_filter = 0;  // records the stream's filter did not match
  source_lag lag;                    // at the close (docs/api.md "Metrics")
};

class sse_session : public std::enable_shared_from_this<sse_session>, public stream_member {
 public:
  sse_session(beast::tcp_stream&& stream, opened_stream opened, server_context& ctx);
  ~sse_session() override;

  // Queues the 200 and the preamble, then streams. On the stream's strand, once.
  void start();
  net::any_io_executor executor() { return writer_.get_executor(); }
  // Ends the stream after the events already encoded (shutdown, duration). Thread-safe.
  void end(std::string reason, std::chrono::milliseconds retry = {},
           std::shared_ptr<void> acted = {}) override;
  // Observes the stream's lag in the metrics (the server's once-a-second sampler). Thread-safe.
  void sample_lag() override;
  bool sample_lag_here(std::int64_t now_ms, lag_batch& batch) override;

  // The one line logged per closed stream (also for one that closed before its 200).
  static void log_close(const stream_request& req, double seconds, const stream_totals& totals,
                        std::string_view reason);

 private:
  // Runs `f` (a step on the strand); an exception it throws closes this stream with a logged
  // reason, never the process.
  template <class F>
  void guarded(const char* step, F&& f) {
    run_guarded(std::forward<F>(f), [&](const char* what) { on_exception(step, what); });
  }
  // A completion handler that calls `fn` on this session, guarded.
  template <class... Args>
  auto guard(const char* step, void (sse_session::*fn)(Args...)) {
    return [self = shared_from_this(), step, fn](Args... args) {
      self->guarded(step, [&] { ((*self).*fn)(std::forward<Args>(args)...); });
    };
  }
  void on_exception(const char* step, const char* what);
  void do_start();
  void do_wait_source();
  void on_source_ready(beast::error_code ec);
  void drain();
  void encode(const source_record& rec);
  // The shared mode: chunks framed for many streams, written as they are.
  void drain_framed();
  void end_on_kafka_error(const source_error& e);
  // A catch-up reader, at most once a second: asks the hub which of its positions the rings
  // hold (docs/api.md §11). Those partitions go on from the rings (split_source); once the rings
  // hold every position, it asks the hub to take the stream over there, polling nothing until
  // it answers.
  void probe_rings();
  void on_probe(std::vector<bool> held);
  void join_rings();
  void on_handover(std::optional<fanout::join_result> joined);
  // After a switch that did not happen: the turn the switch held back (a wait for the source,
  // or a write that will drain, may still be pending).
  void resume_turn();
  // A stream of the hub that fell behind the rings: a catch-up reader at its positions, made on
  // the blocking pool, when a slot is free now. False: it ends as an overrun.
  bool try_fall_back();
  void switch_mode(delivery_mode mode);
  void on_fell_back(std::unique_ptr<event_source> reader, std::vector<partition_position> at,
                    std::shared_ptr<void> slot);
  void end_turn(bool empty);
  void account(const framed_chunk& chunk);
  void flush();
  void on_write(beast::error_code ec, std::size_t bytes);
  // After a write completed in full: the buffers back to their idle size, and the response
  // closed once its final chunk went out. False when it closed.
  bool wrote_all();
  void do_read_client();
  void on_read_client(beast::error_code ec, std::size_t bytes);
  void schedule_heartbeat();
  void on_heartbeat(beast::error_code ec);
  void end_on_strand(std::string reason, std::chrono::milliseconds retry = {});
  void on_sample_lag(std::int64_t now_ms, lag_batch& batch);
  // The stream is no longer counted in eventstreams_clients_lagging (the lag samples count it
  // in, and out while it streams).
  void clear_lagging();
  void close(const std::string& reason);

  server_context& ctx_;
  stream_request req_;
  stream_format format_;
  std::vector<prometheus::Counter*> sent_counter_;  // per position index
  prometheus::Counter* filtered_;                   // events_skipped("filter"), looked up once
  std::unique_ptr<event_source> source_;
  stream_writer writer_;
  // The heartbeat's deadline: in the source's wheel (the shared mode's shard, one timer for all
  // its streams), else in a timer of its own, made when first needed.
  struct heartbeat_entry final : timer_wheel::entry {
    explicit heartbeat_entry(sse_session& s) : session(s) {}
    ~heartbeat_entry() override = default;
    void on_due() override {
      auto self = session.shared_from_this();  // alive while it runs, should it close
      session.guarded("heartbeat", [&] { session.on_heartbeat({}); });
    }
    sse_session& session;
  };
  strand_wheel* wheel_ = nullptr;
  heartbeat_entry heartbeat_entry_;
  std::optional<net::steady_timer> heartbeat_;
  std::optional<net::steady_timer> duration_timer_;  // server.max_connection_duration, if set
  // Per-connection sources only (64 records, 4 KB): a shared-mode stream never allocates it.
  std::unique_ptr<std::array<source_record, 64>> records_;
  std::vector<source_error> errors_;
  std::array<std::shared_ptr<const framed_chunk>, 16> chunks_;

  std::optional<ring_handover> handover_;
  bool switching_ = false;  // to or from the hub: the source is not polled until the switch ends
  bool waiting_source_ = false;  // a wait for the source is armed
  bool probing_ = false;         // the hub has not answered probe_rings() yet
  std::chrono::steady_clock::time_point handover_asked_{};  // the last probe_rings()
  bool paused_ = false;  // draining stopped because the writer is full (backpressure)
  bool ending_ = false;  // no more events: write what is pending, then the end
  bool closed_ = false;
  bool started_ = false;  // the 200 header is queued
  // An end asked before start() ran (the drain may reach a session between its hand-over and
  // its start, which is posted to another strand in the shared mode): applied by do_start.
  std::optional<std::pair<std::string, std::chrono::milliseconds>> early_end_;
  bool lagging_ = false;  // counted in eventstreams_clients_lagging
  std::string end_reason_;
  std::optional<std::string> close_reason_;  // set by close(); logged by the destructor
  double close_seconds_ = 0;

  std::chrono::steady_clock::time_point last_send_;
  stream_totals totals_;           // bytes: see writer_.bytes_written()
  std::int64_t drain_now_ms_ = 0;  // wall clock of the current drain, for the lag histogram
};

}  // namespace eventstreams

// Everything before the 200 of a stream request: admission (the registry, the per-client limit,
// max_starting_streams), the start positions and the event source set up on the blocking pool,
// and the problem answer when any of it fails (docs/api.md §4, §6). It owns the socket until the
// stream starts, then hands it, the source and the start positions to an sse_session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context/server_context.hpp"
#include "eventstreams/problem.hpp"
#include "eventstreams/resume.hpp"
#include "eventstreams/stream_catalog.hpp"
#include "net/net.hpp"
#include "net/responses.hpp"
#include "fanout/hub.hpp"
#include "sse/event_source.hpp"
#include "sse/guarded.hpp"
#include "sse/hub_source.hpp"
#include "sse/stream_request.hpp"

namespace eventstreams {

class sse_session;

class stream_opener : public std::enable_shared_from_this<stream_opener>, public stream_member {
 public:
  // `stream` is a connected socket whose request `req` asked for `selection` (validated against
  // the catalog); `entries` (Last-Event-ID) and `since` were validated against the selection;
  // `filter` (null for none) was compiled from its ?filter=. All work happens on the stream's
  // strand.
  stream_opener(beast::tcp_stream&& stream, const request& req, stream_selection selection,
                std::vector<last_event_entry> entries, std::optional<std::int64_t> since,
                std::shared_ptr<const filter::compiled> filter, server_context& ctx);
  ~stream_opener() override;

  void run();
  // Shutdown while starting: the stream closes once its set-up returns (after the hand-off, the
  // session ends it). Thread-safe.
  void end(std::string reason, std::chrono::milliseconds retry = {},
           std::shared_ptr<void> acted = {}) override;

  // The headers a GET would get, for HEAD.
  static response head_response(const request& req);

 private:
  struct resolved;
  void look_up(lookup_flights::result& found, std::chrono::steady_clock::time_point deadline);
  void set_up(const lookup_flights::result& found, std::chrono::steady_clock::time_point deadline);
  void resolve(resolved& r, std::chrono::steady_clock::time_point deadline);
  void on_resolved(std::shared_ptr<resolved> r);
  // On the blocking pool: the start positions, and (per connection) the consumer.
  void look_up_start();
  // Shared mode: a cohort of the hub at `positions`, the ends looked up (docs/api.md §11).
  void join_hub(std::vector<partition_position> positions);
  // Shared mode, a resume: placed by the rings alone, with no Kafka lookup, when they hold
  // every start (docs/api.md §11). False when it cannot be tried (partition counts not cached).
  bool place_in_rings();
  void send_join(fanout::join_request jr);
  bool move_to_shard();
  hub_source::demote_fn demoter() const;
  void on_joined(std::optional<fanout::join_result> joined);
  // A shared stream's request the rings cannot serve: its own consumer, within
  // fanout.catchup.readers_max (queued up to server.kafka_timeout for a slot).
  void catch_up();
  void on_catchup_slot(std::shared_ptr<void> slot);
  // `gaps`: partitions whose start is a gap, announced before any event (docs/api.md §5.4).
  void start(std::vector<partition_position> positions, std::vector<position_gap> gaps = {});
  void count_gaps(const std::vector<position_gap>& gaps, const position_vector& positions);
  // Runs `f`; an exception it throws is answered 500, never ends the process.
  template <class F>
  void guarded(const char* step, F&& f) {
    run_guarded(std::forward<F>(f), [&](const char* what) { on_exception(step, what); });
  }
  void on_exception(const char* step, const char* what);
  // Answers the request with `kind`'s error, counted under `reason` (metrics::refusal_reasons).
  void fail_before_start(error_kind kind, const char* reason, const std::string& detail);
  void end_on_strand(std::string reason, std::chrono::milliseconds retry,
                     std::shared_ptr<void> acted);
  void close(const std::string& reason);

  // The stream's socket: stream_, or (shared mode) the same descriptor on its shard's strand.
  beast::tcp_stream& socket() { return shard_stream_ ? *shard_stream_ : stream_; }

  beast::tcp_stream stream_;
  std::optional<beast::tcp_stream> shard_stream_;
  fanout::hub_shard* shard_ = nullptr;  // where shard_stream_ runs
  net::any_io_executor executor_;       // the stream's strand, also after the hand-off
  server_context& ctx_;
  stream_request req_;
  std::unique_ptr<event_source> source_;
  std::weak_ptr<sse_session> session_;  // set by the hand-off
  bool use_hub_ = false;                // the shared mode serves it (decided before the lookups)
  bool resumed_ = false;                // Last-Event-ID or since: it starts at exact positions
  bool placing_ = false;                // asked the hub to place it in its rings
  // The start positions (and gaps) looked up for the hub or a catch-up reader: a second set-up
  // after the hub declined it, or after a wait for a reader, starts there (set on the strand).
  std::shared_ptr<const lookup_flights::result> looked_up_;
  bool waiting_slot_ = false;         // queued for a catch-up reader's slot
  std::uint64_t catchup_ticket_ = 0;  // its place in the line (catchup_slots::cancel)
  std::optional<net::steady_timer> catchup_timer_;
  bool registered_ = false;
  bool handed_off_ = false;  // the socket went to the session (or is going: see start())
  bool closed_ = false;
  bool ending_ = false;
  std::string end_reason_;
};

}  // namespace eventstreams

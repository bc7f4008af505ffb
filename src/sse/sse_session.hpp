// One streaming connection: resolves start positions, reads an event source, and writes
// events as SSE (or NDJSON) with backpressure, heartbeats and a clean end.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context/server_context.hpp"
#include "eventstreams/position_vector.hpp"
#include "eventstreams/resume.hpp"
#include "eventstreams/source_record.hpp"
#include "eventstreams/stream_catalog.hpp"
#include "eventstreams/stream_format.hpp"
#include "net/net.hpp"
#include "net/responses.hpp"
#include "sse/event_source.hpp"

namespace eventstreams {

class sse_session : public std::enable_shared_from_this<sse_session>, public stream_member {
 public:
  // `stream` is a connected socket whose request `req` asked for `selection` (already
  // validated against the catalog). All work happens on the stream's strand.
  // `entries` (Last-Event-ID) and `since` were validated against the selection.
  sse_session(beast::tcp_stream&& stream, const request& req, stream_selection selection,
              std::vector<last_event_entry> entries, std::optional<std::int64_t> since,
              server_context& ctx);
  ~sse_session() override;

  void run();
  // Ends the stream after the events already encoded (shutdown, duration). Thread-safe.
  void end(std::string reason) override;

  // The headers a GET would get, for HEAD.
  static response head_response(const request& req);

 private:
  struct resolved;
  void resolve(resolved& r, std::chrono::steady_clock::time_point deadline);
  void on_resolved(std::shared_ptr<resolved> r);
  // Runs `f` (a step on the strand); an exception it throws ends this stream, never the
  // process: a 500 before the 200, a closed stream with a logged reason after it.
  template <class F>
  void guarded(const char* step, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      on_exception(step, e.what());
    }
  }
  // A completion handler that calls `fn` on this session, guarded.
  template <class... Args>
  auto guard(const char* step, void (sse_session::*fn)(Args...)) {
    return [self = shared_from_this(), step, fn](Args... args) {
      self->guarded(step, [&] { ((*self).*fn)(std::forward<Args>(args)...); });
    };
  }
  void on_exception(const char* step, const char* what);
  void fail_before_start(error_kind kind, const std::string& detail);
  void start_streaming();
  void do_wait_source();
  void on_source_ready(beast::error_code ec);
  void drain();
  void encode(const source_record& rec);
  void flush();
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_read_client();
  void on_read_client(beast::error_code ec, std::size_t bytes);
  void schedule_heartbeat();
  void on_heartbeat(beast::error_code ec);
  void end_on_strand(std::string reason);
  void close(const std::string& reason);

  beast::tcp_stream stream_;
  server_context& ctx_;
  std::string client_;     // peer address:port for logs
  std::string client_ip_;  // for the per-client limit: peer address or client_ip_header
  std::string method_, target_, origin_;
  unsigned http_version_;
  bool ndjson_;
  bool chunked_;
  stream_selection selection_;
  std::vector<last_event_entry> entries_;
  std::optional<std::int64_t> since_;
  std::optional<stream_format> format_;             // from the start positions on
  std::vector<prometheus::Counter*> sent_counter_;  // per position index: its stream's counter
  std::unique_ptr<event_source> source_;
  net::steady_timer heartbeat_;
  net::steady_timer duration_timer_;  // server.max_connection_duration
  net::steady_timer stall_timer_;     // server.stall_timeout, armed while a write is pending
  std::array<source_record, 64> records_;
  std::vector<source_error> errors_;
  std::array<char, 512> read_buffer_;

  std::string pending_;          // encoded bytes not yet handed to the socket
  std::string inflight_;         // bytes being written
  std::string response_header_;  // the response header until the first write
  bool writing_ = false;
  std::uint64_t write_seq_ = 0;  // writes started, for the stall timer
  bool paused_ = false;          // draining stopped because pending_ is full (backpressure)
  bool ending_ = false;          // no more events: write what is pending, then the end
  bool final_queued_ = false;    // the last bytes are in flight; close when written
  bool closed_ = false;
  bool registered_ = false;
  bool started_ = false;  // the 200 header is queued
  std::string end_reason_;
  std::optional<std::string> close_reason_;  // set by close(); logged by the destructor
  double close_seconds_ = 0;

  std::chrono::steady_clock::time_point opened_;
  std::chrono::steady_clock::time_point last_send_;
  std::uint64_t events_sent_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t skipped_not_json_ = 0;
  std::uint64_t skipped_canary_ = 0;
  std::int64_t drain_now_ms_ = 0;  // wall clock of the current drain, for the lag histogram
};

}  // namespace eventstreams

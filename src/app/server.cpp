// Start-up order: config -> Kafka clients -> bind -> READY=1 -> serve; signals handled in the
// loop; then an orderly drain.
#include "app/server.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <unordered_map>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include "app/stream_refresher.hpp"
#include "context/server_context.hpp"
#include "eventstreams/drain_plan.hpp"
#include "fanout/hub.hpp"
#include "http/listener.hpp"
#include "kafka/embedded_cluster.hpp"
#include "kafka/kafka_client.hpp"
#include "net/responses.hpp"

namespace eventstreams {
namespace {

class server {
 public:
  server(config cfg, std::string config_path) : config_path_(std::move(config_path)) {
    ctx_.cfg = std::move(cfg);
    ctx_.filters = std::make_unique<filter::registry>(ctx_.cfg.filter);
    ctx_.metrics.set_filters_alive([filters = ctx_.filters.get()] { return filters->size(); });
    ctx_.catchup = std::make_unique<catchup_slots>(ctx_.cfg.fanout.catchup_readers_max,
                                                   ctx_.metrics.fanout_catchup_readers("active"),
                                                   ctx_.metrics.fanout_catchup_readers("queued"));
  }
  int run();

 private:
  void start_signals();
  void on_signal(beast::error_code ec, int sig);
  void reload();
  void apply_streams(std::vector<stream_config> next);
  void schedule_refresh();
  void refresh();
  void begin_shutdown();
  void end_wave();
  void check_shutdown();
  void schedule_readiness(std::chrono::milliseconds after);
  void schedule_trim();
  void schedule_lag_sample();
  void schedule_watchdog(std::chrono::microseconds interval);
  void notify_status();
  bool join_blocking_before(std::chrono::steady_clock::time_point deadline);
  void run_io();
  void start_shutdown_watchdog();
  void stop_shutdown_watchdog();
  void phase(const char* what) { phase_.store(what); }

  std::string config_path_;
  server_context ctx_;
  std::unique_ptr<kafka::embedded_cluster> embedded_;
  std::unique_ptr<kafka::kafka_client> lookup_;
  std::optional<net::thread_pool> blocking_;
  std::optional<net::io_context> ioc_;
  // The server's own handlers (signals, readiness, trim, stream config refresh, watchdog,
  // shutdown) run on this strand, so its timers are never touched by two threads at once: a
  // signal handled on one I/O thread cancels timers that another re-arms. Released before the
  // io_context (a strand's state lives in the context's service).
  std::optional<net::strand<net::io_context::executor_type>> control_;
  std::unique_ptr<fanout::hub> hub_;  // destroyed after the sessions (they are its shards' members)
  std::shared_ptr<listener> listener_;
  std::shared_ptr<listener> admin_listener_;  // server.admin_listen, if set
  std::optional<net::signal_set> signals_;
  std::optional<net::steady_timer> readiness_timer_, watchdog_timer_, shutdown_timer_, trim_timer_,
      refresh_timer_, lag_timer_;
  std::uint64_t departures_at_trim_ = 0;  // registry departures when the last trim ran
  // The streams of the file (SIGHUP re-reads them) and, with stream_config.uri, the fetched ones;
  // both touched only under reload_mutex_ once the I/O threads run.
  std::vector<stream_config> inline_streams_;
  std::optional<stream_refresher> refresher_;
  std::chrono::steady_clock::time_point shutdown_deadline_;
  // The drain (docs/api.md §5.5), on the control strand: the plan made at the signal, the
  // streams of each wave (with their retry), the next wave to end, and when it all started.
  drain_plan drain_;
  struct draining {
    std::weak_ptr<stream_member> member;
    std::chrono::milliseconds retry;
  };
  std::vector<std::vector<draining>> waves_;
  std::size_t next_wave_ = 0;
  std::chrono::steady_clock::time_point drain_start_;
  std::optional<net::steady_timer> wave_timer_;
  // Ends the drain posted to streams that they have not acted on yet (docs/api.md §5.5): the
  // cutoff closes only streams whose end waits for a full socket, not ones whose I/O thread
  // has not run the end yet.
  std::atomic<std::size_t> ends_pending_{0};
  std::atomic<bool> stopping_{false};  // read by the readiness handlers on every I/O thread
  std::mutex reload_mutex_;
  // What the shutdown is waiting for right now; the watchdog logs it if the deadline passes.
  std::atomic<const char*> phase_{"ending streams"};
  std::thread watchdog_;
  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_cv_;
  bool finished_ = false;
};

int server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  // Each connection brings librdkafka threads; glibc would give many of them their own malloc
  // arena, each keeping freed memory. A few shared arenas keep RSS per connection lower.
  mallopt(M_ARENA_MAX, 4);
  const auto& scfg = ctx_.cfg.server;
  unsigned threads =
      scfg.threads ? scfg.threads : std::max(1u, std::thread::hardware_concurrency());
  ioc_.emplace(static_cast<int>(threads));
  control_.emplace(net::make_strand(*ioc_));
  // Signals are caught from the start: one that comes while the embedded cluster or the demo
  // producer starts is queued and handled once the loop runs, instead of killing the process
  // (a stop during start-up then exits 0 like any other).
  start_signals();
  set_cors_allowed_origins(scfg.cors_allow_origin);
  set_retry_after(scfg.retry_after);
  inline_streams_ = ctx_.cfg.streams;
  if (ctx_.cfg.stream_source.enabled()) {
    // The first fetch, before anything serves: blocking here delays only the start-up (at most
    // stream_config.timeout). A failure leaves the inline streams (docs/api.md).
    refresher_.emplace(ctx_.cfg, &ctx_.metrics);
    refresher_->refresh(&stopping_);
    merged_streams merged = merge_streams(inline_streams_, refresher_->fetched());
    for (const auto& skip : merged.skipped)
      spdlog::debug("stream config: skipped {}: {}", skip.name, skip.reason);
    if (merged.streams.empty()) {
      spdlog::critical(
          "{}: streams: no stream configured: none inline, and none fetched from "
          "stream_config.uri {}",
          config_path_, refresher_->uri());
      return 2;
    }
    spdlog::info("stream config: {} streams fetched from {}, {} inline",
                 refresher_->fetched().size(), refresher_->uri(), inline_streams_.size());
    ctx_.cfg.streams = std::move(merged.streams);
  }
  auto catalog = std::make_shared<const stream_catalog>(ctx_.cfg.streams);
  ctx_.catalog.store(catalog);

  try {
    ctx_.bootstrap = ctx_.cfg.kafka.bootstrap_servers;
    if (ctx_.cfg.kafka.is_embedded()) {
      embedded_ = std::make_unique<kafka::embedded_cluster>(ctx_.cfg.kafka, catalog->all_topics());
      ctx_.bootstrap = embedded_->bootstrap();
      std::printf("embedded kafka bootstrap.servers=%s\n", ctx_.bootstrap.c_str());
      std::fflush(stdout);
    }
    lookup_ = std::make_unique<kafka::kafka_client>(ctx_.cfg.kafka, ctx_.bootstrap);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  ctx_.kafka = lookup_.get();

  blocking_.emplace(scfg.blocking_threads);  // outlives the io_context: sessions post to it
  ctx_.blocking = &*blocking_;
  // The streams' address, and the admin one (server.admin_listen) if set: null when it cannot
  // be bound, which is logged (a start-up error).
  auto open_listener = [&](const std::string& host, std::uint16_t port, bool reuse_port,
                           bool admin) -> std::shared_ptr<listener> {
    try {
      return std::make_shared<listener>(*ioc_, tcp::endpoint{net::ip::make_address(host), port},
                                        ctx_, reuse_port, admin);
    } catch (const std::exception& e) {
      spdlog::critical("cannot listen on {}:{}{}: {}", host, port,
                       admin ? " (server.admin_listen)" : "", e.what());
      return nullptr;
    }
  };
  listener_ = open_listener(scfg.listen_host, scfg.listen_port, scfg.reuse_port, false);
  if (!listener_)
    return 1;
  if (!scfg.admin_listen_host.empty()) {
    admin_listener_ = open_listener(scfg.admin_listen_host, scfg.admin_listen_port, false, true);
    if (!admin_listener_)
      return 1;
  }
  // The shared mode's one consumer, for the topics of the streams it serves (docs/api.md §11).
  std::vector<std::string> shared_topics;
  for (const auto& s : catalog->streams()) {
    if (s.fanout != delivery_mode::shared)
      continue;
    for (const auto& t : s.topics) {
      if (std::find(shared_topics.begin(), shared_topics.end(), t) == shared_topics.end())
        shared_topics.push_back(t);
    }
  }
  if (!shared_topics.empty()) {
    hub_ = std::make_unique<fanout::hub>(ctx_.cfg, ctx_.bootstrap, *lookup_, shared_topics, *ioc_,
                                         threads, ctx_.metrics);
    hub_->start();
    ctx_.hub = hub_.get();
  }
  auto ep = listener_->local_endpoint();
  std::string admin_text;
  if (admin_listener_) {
    // Before the listening line, which tells a launcher that every address is bound.
    auto admin = admin_listener_->local_endpoint();
    admin_text = fmt::format(", admin {}:{}", admin.address().to_string(), admin.port());
    std::printf("admin on http://%s:%u\n", admin.address().to_string().c_str(), admin.port());
    admin_listener_->run();
  }
  std::printf("listening on http://%s:%u\n", ep.address().to_string().c_str(), ep.port());
  std::fflush(stdout);
  listener_->run();

  std::unique_ptr<kafka::demo_producer> demo;
  if (embedded_ && ctx_.cfg.kafka.embedded.demo_rate > 0) {
    demo = std::make_unique<kafka::demo_producer>(ctx_.cfg.kafka, ctx_.bootstrap, ctx_.cfg.streams,
                                                  ctx_.cfg.kafka.embedded.demo_rate);
  }

  readiness_timer_.emplace(*control_);
  trim_timer_.emplace(*control_);
  refresh_timer_.emplace(*control_);
  lag_timer_.emplace(*control_);
  // Armed on the strand, like every later re-arm.
  net::post(*control_, [this] {
    schedule_readiness(std::chrono::milliseconds(0));
    schedule_trim();
    schedule_refresh();
    schedule_lag_sample();
  });
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_timer_.emplace(*control_);
    schedule_watchdog(std::chrono::microseconds(watchdog_usec / 2));
  }

  spdlog::info("eventstreams {} serving {} streams on {}:{}{}{} (config {}, {} I/O threads)",
               EVENTSTREAMS_VERSION, catalog->streams().size(), ep.address().to_string(), ep.port(),
               scfg.reuse_port ? " (reuse_port)" : "", admin_text, config_path_, threads);
  sd_notify(0, "READY=1");
  notify_status();

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i)
    pool.emplace_back([this] { run_io(); });
  run_io();
  phase("I/O threads to return from their handlers");
  for (auto& t : pool)
    t.join();
  signals_.reset();
  readiness_timer_.reset();
  trim_timer_.reset();
  refresh_timer_.reset();
  lag_timer_.reset();
  watchdog_timer_.reset();
  shutdown_timer_.reset();
  wave_timer_.reset();
  listener_.reset();
  admin_listener_.reset();
  // Lookups still running post their results to the stopped loop, which only queues them. A
  // lookup against an unreachable cluster can take kafka_timeout: never wait past the shutdown
  // deadline for it (consumers commit nothing, so exiting loses nothing).
  phase("Kafka calls on the blocking pool (lookups, consumer closes, readiness refresh)");
  if (!join_blocking_before(stopping_ ? shutdown_deadline_
                                      : std::chrono::steady_clock::now() +
                                            ctx_.cfg.server.shutdown_timeout)) {
    spdlog::warn("shutdown deadline passed: still waiting for {}; exiting without them",
                 phase_.load());
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    std::_Exit(0);
  }
  // Every step below can wait on librdkafka (rd_kafka_destroy joins its threads and waits for
  // every reference to its objects; the mock cluster's thread can miss a wake-up for up to a
  // second). None of them may outlive the deadline: the watchdog started at the signal logs the
  // step it was in and exits.
  // Destroys what is left of the sessions; consumers they post to the joined pool are
  // destroyed with the pool, here on the main thread.
  if (hub_) {
    phase("the shared consumer (rd_kafka_destroy)");
    hub_->stop();
  }
  phase("sessions still queued on the stopped I/O loop");
  control_.reset();
  ioc_.reset();
  hub_.reset();
  phase("Kafka consumers of the last sessions (rd_kafka_destroy)");
  blocking_.reset();
  phase("the demo producer (flush, rd_kafka_destroy)");
  demo.reset();
  phase("the Kafka lookup client (rd_kafka_destroy)");
  lookup_.reset();
  phase("the embedded Kafka cluster (mock cluster, rd_kafka_destroy)");
  embedded_.reset();
  stop_shutdown_watchdog();
  spdlog::info("stopped");
  return 0;
}

// One I/O thread. Handlers guard themselves (a 500, or a closed stream); this is the last net
// under them: an exception that escapes a handler is logged and counted, and the thread goes on.
void server::run_io() {
  for (;;) {
    try {
      ioc_->run();
      return;
    } catch (const std::exception& e) {
      ctx_.metrics.internal_errors("loop").Increment();
      spdlog::error("unexpected error in an I/O handler: {}", e.what());
    }
  }
}

// Started at the signal: if the orderly stop is still running at the shutdown deadline, log
// what it is waiting for and exit anyway (consumers commit nothing: exiting loses nothing).
void server::start_shutdown_watchdog() {
  watchdog_ = std::thread(
      [this, deadline = shutdown_deadline_, started = std::chrono::steady_clock::now()] {
        std::unique_lock lock(watchdog_mutex_);
        if (watchdog_cv_.wait_until(lock, deadline, [this] { return finished_; }))
          return;
        auto waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
        spdlog::warn(
            "shutdown deadline passed after {:.1f}s ({} streams open): still waiting for {}; "
            "exiting without it",
            waited.count(), ctx_.registry.size(), phase_.load());
        spdlog::default_logger()->flush();
        std::fflush(stdout);
        std::_Exit(0);
      });
}

void server::stop_shutdown_watchdog() {
  if (!watchdog_.joinable())
    return;
  {
    std::lock_guard lock(watchdog_mutex_);
    finished_ = true;
  }
  watchdog_cv_.notify_all();
  watchdog_.join();
}

// Joins the blocking pool unless that takes past `deadline`; false then (the pool still runs).
bool server::join_blocking_before(std::chrono::steady_clock::time_point deadline) {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::thread joiner([&] {
    blocking_->join();
    std::lock_guard lock(mutex);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mutex);
  if (!cv.wait_until(lock, deadline, [&] { return done; })) {
    joiner.detach();  // the process exits right away; the thread never touches `mutex` again
    return false;
  }
  lock.unlock();
  joiner.join();
  return true;
}

void server::start_signals() {
  signals_.emplace(*control_, SIGINT, SIGTERM, SIGHUP);
  signals_->async_wait([this](beast::error_code ec, int sig) { on_signal(ec, sig); });
}

void server::on_signal(beast::error_code ec, int sig) {
  if (ec)
    return;
  if (sig == SIGHUP) {
    // Reading the file and creating embedded topics block: not on an I/O thread.
    net::post(*blocking_, [this] { reload(); });
  } else if (stopping_) {
    spdlog::warn("second signal {}: exiting now", sig);
    std::_Exit(1);
  } else {
    spdlog::info("signal {}: shutting down", sig);
    begin_shutdown();
  }
  signals_->async_wait([this](beast::error_code e, int s) { on_signal(e, s); });
}

void server::reload() {
  std::lock_guard serial(reload_mutex_);  // two quick SIGHUPs reload one after the other
  sd_notify(0, "RELOADING=1");
  try {
    config next = load_config_file(config_path_);
    // With stream_config.uri, a reload fetches too (the operator asked for the current map); a
    // failed fetch keeps the fetched streams in use.
    if (refresher_)
      refresher_->refresh(&stopping_);
    merged_streams merged = merge_streams(
        next.streams, refresher_ ? refresher_->fetched() : std::vector<stream_config>{});
    if (merged.streams.empty())
      throw config_error(config_path_, "streams", "no stream configured");
    const std::size_t count = merged.streams.size();
    apply_streams(std::move(merged.streams));
    inline_streams_ = std::move(next.streams);
    spdlog::info("reloaded {}: {} streams (other sections take effect at restart)", config_path_,
                 count);
  } catch (const std::exception& e) {
    spdlog::error("reload failed, keeping the previous streams: {}", e.what());
  }
  sd_notify(0, "READY=1");
  notify_status();
}

// Swaps the streams map: new connections see `next`, open ones keep the catalog they hold.
// Called under reload_mutex_ on the blocking pool (creating embedded topics blocks).
void server::apply_streams(std::vector<stream_config> next) {
  if (embedded_) {
    auto old = ctx_.catalog.load()->all_topics();
    std::vector<std::string> added;
    for (const auto& t : stream_catalog(next).all_topics()) {
      if (std::find(old.begin(), old.end(), t) == old.end())
        added.push_back(t);
    }
    embedded_->create_topics(added, static_cast<int>(ctx_.cfg.kafka.embedded.partitions));
  }
  ctx_.catalog.store(std::make_shared<const stream_catalog>(std::move(next)));
}

bool same_stream(const stream_config& a, const stream_config& b) {
  return a.name == b.name && a.topics == b.topics && a.aliases == b.aliases &&
         a.description == b.description && a.schema_title == b.schema_title &&
         a.canary_events == b.canary_events && a.fanout == b.fanout;
}

// Every stream_config.ttl, the fetched streams are fetched again and swapped in like a SIGHUP
// reload (docs/api.md, "Streams from EventStreamConfig"). The next period starts when a fetch
// ends, so fetches never overlap.
void server::schedule_refresh() {
  if (!refresher_ || ctx_.cfg.stream_source.ttl.count() == 0)
    return;
  refresh_timer_->expires_after(ctx_.cfg.stream_source.ttl);
  refresh_timer_->async_wait([this](beast::error_code ec) {
    if (ec || stopping_)
      return;
    // The fetch blocks (up to stream_config.timeout): not on an I/O thread. The blocking pool
    // is joined before the strand is released.
    net::post(*blocking_, [this] {
      if (stopping_)
        return;
      refresh();
      net::post(*control_, [this] {
        if (!stopping_)
          schedule_refresh();
      });
    });
  });
}

void server::refresh() {
  std::lock_guard serial(reload_mutex_);
  try {
    if (!refresher_->refresh(&stopping_).ok)
      return;  // logged by the refresher; the map in use stays
    merged_streams merged = merge_streams(inline_streams_, refresher_->fetched());
    auto current = ctx_.catalog.load();
    const auto& old = current->streams();
    if (std::equal(old.begin(), old.end(), merged.streams.begin(), merged.streams.end(),
                   same_stream))
      return;
    std::string added, removed;
    for (const auto& s : merged.streams) {
      if (current->find(s.name) == nullptr || current->find(s.name)->name != s.name)
        added += (added.empty() ? "" : ",") + s.name;
    }
    for (const auto& s : old) {
      if (std::none_of(merged.streams.begin(), merged.streams.end(),
                       [&](const stream_config& n) { return n.name == s.name; }))
        removed += (removed.empty() ? "" : ",") + s.name;
    }
    const std::size_t count = merged.streams.size();
    apply_streams(std::move(merged.streams));
    spdlog::info("stream config: now {} streams (added: [{}], removed: [{}])", count, added,
                 removed);
    notify_status();
  } catch (const std::exception& e) {
    spdlog::error("stream config: refresh failed, keeping the streams in use: {}", e.what());
  }
}

// The drain (docs/api.md §5.5): from the signal on, /readyz and new stream requests answer 503
// while the listener keeps accepting; the open streams end in waves spread over the window, each
// SSE stream with a random retry; the listener closes once every stream ended (or at the
// cutoff), and the orderly stop gets the rest of the window.
void server::begin_shutdown() {
  stopping_ = true;
  ctx_.shutting_down = true;
  sd_notify(0, "STOPPING=1");
  if (hub_)
    hub_->release_waiters();
  if (readiness_timer_)
    readiness_timer_->cancel();
  if (trim_timer_)
    trim_timer_->cancel();
  if (refresh_timer_)
    refresh_timer_->cancel();
  if (lag_timer_)
    lag_timer_->cancel();
  const auto window = ctx_.cfg.server.shutdown_timeout;
  drain_start_ = std::chrono::steady_clock::now();
  shutdown_deadline_ = drain_start_ + window;
  std::vector<std::weak_ptr<stream_member>> members;
  ctx_.registry.for_each([&](std::shared_ptr<stream_member> s) { members.push_back(s); });
  drain_ = plan_drain(members.size(), window, std::random_device{}());
  waves_.assign(drain_.waves.size(), {});
  for (std::size_t i = 0; i < members.size(); ++i)
    waves_[drain_.wave_of[i]].push_back({std::move(members[i]), drain_.retry[i]});
  spdlog::info("shutting down: ending {} streams in {} waves over {}ms", members.size(),
               drain_.waves.size(), drain_.waves.back().count());
  start_shutdown_watchdog();
  shutdown_timer_.emplace(*control_);
  wave_timer_.emplace(*control_);
  end_wave();  // the first wave is due now
  check_shutdown();
}

// Ends the streams of the next wave and arms the timer of the one after it.
void server::end_wave() {
  // One token per end posted: released when the member acted on it (or dropped it).
  const auto acted = [this] {
    ends_pending_.fetch_add(1);
    return std::shared_ptr<void>(nullptr, [this](void*) { ends_pending_.fetch_sub(1); });
  };
  for (auto& d : waves_[next_wave_]) {
    if (auto s = d.member.lock())
      s->end("server shutdown", d.retry, acted());
  }
  waves_[next_wave_] = {};
  if (++next_wave_ == waves_.size()) {
    // A stream admitted just as the signal came (after the plan was made), or still being set
    // up then (the plan held its opener, gone since), ends with the last wave; it is told to
    // wait the whole window. Streams already ending ignore this.
    ctx_.registry.for_each(
        [&, retry = ctx_.cfg.server.shutdown_timeout](std::shared_ptr<stream_member> s) {
          s->end("server shutdown", retry, acted());
        });
    return;
  }
  wave_timer_->expires_at(drain_start_ + drain_.waves[next_wave_]);
  wave_timer_->async_wait([this](beast::error_code ec) {
    if (!ec)
      end_wave();
  });
}

void server::check_shutdown() {
  const auto open = ctx_.registry.size();
  // Past the cutoff, once every wave was posted and acted on (a busy machine may run the last
  // wave's ends late: those streams still end complete; the watchdog bounds the wait at the
  // deadline).
  const bool cutoff = std::chrono::steady_clock::now() >= drain_start_ + drain_.cutoff &&
                      next_wave_ == waves_.size() && ends_pending_.load() == 0;
  if (open == 0 || cutoff) {
    // What is still open at the cutoff is a stream whose client does not take its last bytes
    // (a full socket buffer holds its end): it closes with the loop, so that no client holds
    // the exit past the window.
    if (open != 0)
      spdlog::warn("drain cutoff passed with {} streams open: closing them", open);
    wave_timer_->cancel();
    // Accepting stops only now (/readyz answered 503 until here), then the loop.
    if (admin_listener_)
      admin_listener_->stop();
    listener_->stop([this] { ioc_->stop(); });
    return;
  }
  shutdown_timer_->expires_after(std::chrono::milliseconds(20));
  shutdown_timer_->async_wait([this](beast::error_code) { check_shutdown(); });
}

// Every connection creates and destroys a librdkafka consumer (threads, fetch buffers, queues):
// glibc keeps much of what they free inside its arenas, so RSS creeps up with connection churn
// although nothing leaks (heaptrack: ~60 bytes per connection still allocated; malloc_trim(0)
// gave back 5.2 of 22.6 MB after 55,000 churned connections). Trimming now and then bounds it,
// after streams closed only: the trim holds each arena's lock while it walks it, so the I/O
// threads' allocations wait meanwhile, and with no stream closed there is nothing to give back.
void server::schedule_trim() {
  const auto interval = ctx_.cfg.server.memory_trim_interval;
  if (interval.count() == 0)
    return;
  trim_timer_->expires_after(interval);
  trim_timer_->async_wait([this](beast::error_code ec) {
    if (ec || stopping_)
      return;
    if (auto left = ctx_.registry.departures(); left != departures_at_trim_) {
      departures_at_trim_ = left;
      // It walks every arena: not on an I/O thread.
      net::post(*blocking_, [] { malloc_trim(0); });
    }
    schedule_trim();
  });
}

// Once a second, every stream samples its lag into the metrics on its own strand, where its
// source lives (docs/api.md "Metrics"): one post per per-connection stream, a few cached
// lookups each; one post per I/O shard for the shared mode's streams, which the shard walks.
void server::schedule_lag_sample() {
  lag_timer_->expires_after(std::chrono::seconds(1));
  lag_timer_->async_wait([this](beast::error_code ec) {
    if (ec || stopping_)
      return;
    ctx_.registry.for_each_sampled_here([](std::shared_ptr<stream_member> s) { s->sample_lag(); });
    if (ctx_.hub)
      ctx_.hub->sample_lag();
    schedule_lag_sample();
  });
}

void server::schedule_readiness(std::chrono::milliseconds after) {
  readiness_timer_->expires_after(after);
  readiness_timer_->async_wait([this](beast::error_code ec) {
    if (ec || stopping_)
      return;
    // The metadata request blocks: run it on the blocking pool, re-arm when it is done.
    net::post(*blocking_, [this] {
      if (stopping_)  // queued just before the signal: do not hold the shutdown for it
        return;
      auto err = lookup_->refresh(ctx_.catalog.load()->all_topics(), ctx_.cfg.server.kafka_timeout);
      if (err)
        spdlog::warn("readiness: {}", err.detail);
      net::post(*control_, [this] {
        notify_status();
        schedule_readiness(
            std::max(std::chrono::milliseconds(100), ctx_.cfg.kafka.readiness_interval / 3));
      });
    });
  });
}

void server::schedule_watchdog(std::chrono::microseconds interval) {
  // Sent from the I/O loop, so a stuck loop stops the pings and systemd restarts the service.
  sd_notify(0, "WATCHDOG=1");
  watchdog_timer_->expires_after(interval);
  watchdog_timer_->async_wait([this, interval](beast::error_code ec) {
    if (!ec)
      schedule_watchdog(interval);
  });
}

void server::notify_status() {
  auto health = lookup_->health();
  auto status = fmt::format("STATUS={} streams, {} connections, kafka {}",
                            ctx_.catalog.load()->streams().size(), ctx_.registry.size(),
                            health.last_error.empty() ? "ok" : health.last_error);
  sd_notify(0, status.c_str());
}

}  // namespace

int run_server(config cfg, const std::string& config_path) {
  return server(std::move(cfg), config_path).run();
}

}  // namespace eventstreams

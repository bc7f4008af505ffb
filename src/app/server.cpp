// Start-up order: config -> Kafka clients -> bind -> ready -> serve; then an orderly drain.
#include "app/server.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include "app/logging.hpp"
#include "app/server_context.hpp"
#include "http/listener.hpp"
#include "http/responses.hpp"
#include "kafka/embedded_cluster.hpp"
#include "kafka/kafka_client.hpp"
#include "sse/sse_session.hpp"

namespace eventstreams {
namespace {

// Threads for librdkafka calls that block (lookups at connect, consumer destruction).
constexpr std::size_t blocking_threads = 4;

// Ends every stream, then stops the I/O loop once all sessions are gone or the deadline passed.
class shutdown_driver : public std::enable_shared_from_this<shutdown_driver> {
 public:
  shutdown_driver(net::io_context& ioc, server_context& ctx, std::shared_ptr<listener> l)
      : ioc_(ioc), ctx_(ctx), listener_(std::move(l)), timer_(ioc) {}

  void start() {
    ctx_.shutting_down = true;
    sd_notify(0, "STOPPING=1");
    spdlog::info("shutting down: ending {} streams", ctx_.registry.size());
    listener_->stop();
    ctx_.registry.for_each([](std::shared_ptr<sse_session> s) { s->end("server shutdown"); });
    deadline_ = std::chrono::steady_clock::now() + ctx_.cfg.server.shutdown_timeout;
    check();
  }

 private:
  void check() {
    if (ctx_.registry.size() == 0 || std::chrono::steady_clock::now() >= deadline_) {
      if (ctx_.registry.size() != 0) {
        spdlog::warn("shutdown deadline passed with {} streams open", ctx_.registry.size());
      }
      ioc_.stop();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->check(); });
  }

  net::io_context& ioc_;
  server_context& ctx_;
  std::shared_ptr<listener> listener_;
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

int run_server(config cfg, const std::string& config_path) {
  std::signal(SIGPIPE, SIG_IGN);
  // Each connection brings librdkafka threads; glibc would give many of them their own
  // malloc arena, which keeps freed memory per arena. A few shared arenas keep RSS per
  // connection low (measured in bench/README.md).
  mallopt(M_ARENA_MAX, 4);
  server_context ctx;
  ctx.cfg = std::move(cfg);
  const auto& scfg = ctx.cfg.server;
  cors_allow_origin = scfg.cors_allow_origin;
  auto catalog = std::make_shared<const stream_catalog>(ctx.cfg.streams);
  ctx.catalog.store(catalog);

  std::unique_ptr<kafka::embedded_cluster> embedded;
  std::unique_ptr<kafka::kafka_client> lookup;
  try {
    ctx.bootstrap = ctx.cfg.kafka.bootstrap_servers;
    if (ctx.cfg.kafka.is_embedded()) {
      embedded = std::make_unique<kafka::embedded_cluster>(ctx.cfg.kafka, catalog->all_topics());
      ctx.bootstrap = embedded->bootstrap();
      std::printf("embedded kafka bootstrap.servers=%s\n", ctx.bootstrap.c_str());
      std::fflush(stdout);
    }
    lookup = std::make_unique<kafka::kafka_client>(ctx.cfg.kafka, ctx.bootstrap);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  ctx.kafka = lookup.get();

  net::thread_pool blocking(blocking_threads);  // outlives the io_context: sessions post to it
  ctx.blocking = &blocking;
  unsigned threads =
      scfg.threads ? scfg.threads : std::max(1u, std::thread::hardware_concurrency());
  std::optional<net::io_context> ioc;
  ioc.emplace(static_cast<int>(threads));

  std::shared_ptr<listener> lst;
  try {
    auto address = net::ip::make_address(scfg.listen_host);
    lst = std::make_shared<listener>(*ioc, tcp::endpoint{address, scfg.listen_port}, ctx);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", scfg.listen_host, scfg.listen_port, e.what());
    return 1;
  }
  auto ep = lst->local_endpoint();
  std::printf("listening on http://%s:%u\n", ep.address().to_string().c_str(), ep.port());
  std::fflush(stdout);
  lst->run();

  std::unique_ptr<kafka::demo_producer> demo;
  if (embedded && ctx.cfg.kafka.embedded.demo_rate > 0) {
    demo = std::make_unique<kafka::demo_producer>(ctx.cfg.kafka, ctx.bootstrap, ctx.cfg.streams,
                                                  ctx.cfg.kafka.embedded.demo_rate);
  }

  net::signal_set signals(*ioc, SIGINT, SIGTERM);
  std::shared_ptr<shutdown_driver> shutdown;
  std::function<void(beast::error_code, int)> on_signal = [&](beast::error_code ec, int sig) {
    if (ec)
      return;
    if (shutdown) {
      spdlog::warn("second signal {}: exiting now", sig);
      std::_Exit(1);
    }
    spdlog::info("signal {}: shutting down", sig);
    shutdown = std::make_shared<shutdown_driver>(*ioc, ctx, lst);
    shutdown->start();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  spdlog::info("eventstreams {} serving {} streams on {}:{} (config {}, {} I/O threads)",
               EVENTSTREAMS_VERSION, catalog->streams().size(), ep.address().to_string(), ep.port(),
               config_path, threads);
  sd_notify(0, "READY=1");

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i)
    pool.emplace_back([&] { ioc->run(); });
  ioc->run();
  for (auto& t : pool)
    t.join();
  ioc.reset();      // destroys what is left of the sessions; they post consumers to `blocking`
  blocking.join();  // every consumer is destroyed here
  demo.reset();
  lookup.reset();
  embedded.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace eventstreams

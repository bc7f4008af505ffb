// Accepts TCP connections and starts an http_session for each, on its own strand.
#pragma once

#include <functional>
#include <memory>

#include "context/server_context.hpp"
#include "net/net.hpp"

namespace eventstreams {

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Binds and listens; throws boost::system::system_error (a start-up error). `reuse_port`:
  // SO_REUSEPORT, several processes on one port (server.reuse_port). `admin`: the connections
  // get only /metrics, /healthz and /readyz (server.admin_listen).
  listener(net::io_context& ioc, tcp::endpoint endpoint, server_context& ctx, bool reuse_port,
           bool admin);
  void run();
  // Stops accepting (posted onto the listener's strand), then calls `then` there (if any).
  void stop(std::function<void()> then = {});
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;  // after EMFILE/ENFILE: accepting again at once would spin
  bool out_of_fds_ = false;    // logged once per episode
  server_context& ctx_;
  bool admin_;
};

}  // namespace eventstreams

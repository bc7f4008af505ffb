// The accept loop.
#include "http/listener.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "http/http_session.hpp"

namespace eventstreams {

listener::listener(net::io_context& ioc, tcp::endpoint endpoint, server_context& ctx,
                   bool reuse_port, bool admin)
    : ioc_(ioc),
      acceptor_(net::make_strand(ioc)),
      backoff_(acceptor_.get_executor()),
      ctx_(ctx),
      admin_(admin) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  if (reuse_port) {
    // Before bind: every process that binds the port with it shares it (docs/api.md, "Several
    // processes on one port").
    acceptor_.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void listener::run() {
  do_accept();
}

void listener::stop(std::function<void()> then) {
  net::post(acceptor_.get_executor(), [self = shared_from_this(), then = std::move(then)] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->backoff_.cancel();
    if (then)
      then();
  });
}

void listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open())
    return;
  if (ec == net::error::no_descriptors || ec.value() == ENFILE ||
      ec == net::error::no_buffer_space || ec == net::error::no_memory) {
    // Out of descriptors: the connection stays in the backlog, so accepting again at once
    // would fail at once, forever. Wait a little; log once until an accept succeeds.
    if (!out_of_fds_)
      spdlog::warn("accept failed: {}; retrying every 50ms until descriptors free up",
                   ec.message());
    out_of_fds_ = true;
    backoff_.expires_after(std::chrono::milliseconds(50));
    backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && self->acceptor_.is_open())
        self->do_accept();
    });
    return;
  }
  if (ec) {
    spdlog::warn("accept failed: {}", ec.message());  // e.g. a connection reset in the backlog
  } else {
    if (out_of_fds_)
      spdlog::info("accepting connections again");
    out_of_fds_ = false;
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<http_session>(std::move(socket), ctx_, admin_)->run();
  }
  do_accept();
}

}  // namespace eventstreams

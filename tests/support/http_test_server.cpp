// One io_context thread, a coroutine per connection; every answer closes its connection.
#include "http_test_server.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

#include "net/net.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

namespace eventstreams::test {

struct http_test_server::impl {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::optional<net::ssl::context> tls;
  std::thread thread;
  mutable std::mutex mutex;
  unsigned status = 200;
  std::string body = "{}";
  std::size_t requests = 0;
  std::string user_agent;
  bool stopped = false;
  bool stalled = false;

  template <class Stream>
  net::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(stream, buffer, req, net::use_awaitable);
    http::response<http::string_body> res;
    bool hang = false;
    {
      std::lock_guard lock(mutex);
      hang = stalled;
    }
    if (hang) {
      // Holds the connection without answering; stop() ends the loop and drops it.
      net::steady_timer never(co_await net::this_coro::executor, std::chrono::hours(1));
      co_await never.async_wait(net::use_awaitable);
      co_return;
    }
    {
      std::lock_guard lock(mutex);
      ++requests;
      user_agent = std::string(req[http::field::user_agent]);
      res.result(status);
      res.body() = body;
    }
    res.version(req.version());
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, net::use_awaitable);
  }

  net::awaitable<void> session(tcp::socket socket) {
    if (tls) {
      beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls);
      co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
      co_await serve(stream);
      beast::error_code ec;
      stream.next_layer().shutdown(tcp::socket::shutdown_send, ec);
    } else {
      co_await serve(socket);
      beast::error_code ec;
      socket.shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket = co_await acceptor.async_accept(net::use_awaitable);
      // Errors (a client that gave up, a failed handshake) end that connection only.
      net::co_spawn(ioc, session(std::move(socket)), net::detached);
    }
  }
};

http_test_server::http_test_server(const std::string& cert_file, const std::string& key_file)
    : impl_(std::make_unique<impl>()) {
  if (!cert_file.empty()) {
    impl_->tls.emplace(net::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(cert_file);
    impl_->tls->use_private_key_file(key_file, net::ssl::context::pem);
  }
  tcp::endpoint ep{net::ip::make_address("127.0.0.1"), 0};
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

http_test_server::~http_test_server() {
  stop();
}

std::uint16_t http_test_server::port() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->stopped ? 0 : impl_->acceptor.local_endpoint().port();
}

std::string http_test_server::url(const std::string& target) const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) +
         target;
}

void http_test_server::respond(unsigned status, std::string body) {
  std::lock_guard lock(impl_->mutex);
  impl_->status = status;
  impl_->body = std::move(body);
}

void http_test_server::stall(bool on) {
  std::lock_guard lock(impl_->mutex);
  impl_->stalled = on;
}

void http_test_server::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped)
      return;
    impl_->stopped = true;
  }
  impl_->ioc.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  beast::error_code ec;
  impl_->acceptor.close(ec);  // the loop is stopped: no handler runs concurrently
}

std::size_t http_test_server::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

std::string http_test_server::last_user_agent() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->user_agent;
}

bool make_test_certificate(const std::string& dir) {
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      dir + "/key.pem' -out '" + dir + "/cert.pem' > '" + dir + "/openssl.txt' 2>&1";
  if (std::system(command.c_str()) == 0)
    return true;
  std::ifstream in(dir + "/openssl.txt");
  ADD_FAILURE() << "openssl failed: "
                << std::string(std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>());
  return false;
}

}  // namespace eventstreams::test

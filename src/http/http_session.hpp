// One HTTP/1.1 connection: reads requests with a fresh, limited parser each, answers ordinary
// routes with keep-alive, and hands the socket to a stream_opener for a stream request.
#pragma once

#include <memory>
#include <optional>

#include "context/server_context.hpp"
#include "net/net.hpp"
#include "net/responses.hpp"

namespace eventstreams {

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  // `admin`: a connection to server.admin_listen, which serves /metrics, /healthz and /readyz.
  http_session(tcp::socket&& socket, server_context& ctx, bool admin);
  void run();

 private:
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  // Answers one request (or hands the connection to a stream_opener). May throw: on_read turns
  // an exception into a 500.
  void route(const request& req);
  void send(response res);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t bytes);
  void do_close();
  // Answers the stream route with an error, or hands the connection to a stream_opener.
  void handle_stream(const request& req, const std::string& streams, const std::string& query);
  // Sends a stream request's refusal, counted under `reason` (metrics::refusal_reasons).
  void refuse_stream(response res, const char* reason);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  server_context& ctx_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<response> pending_;  // the response being written
  std::optional<http::response_serializer<http::string_body>> pending_serializer_;  // HEAD
  bool head_request_ = false;             // answer with headers only
  std::string_view route_ = "not_found";  // metrics label of the request being answered
  bool admin_ = false;
};

}  // namespace eventstreams

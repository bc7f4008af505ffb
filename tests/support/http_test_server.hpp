// A small HTTP(S) server on 127.0.0.1:0 for the stream config tests: serves one document (any
// path), whose status and body the test changes at will, from its own thread; stop() makes it
// go away (connections are then refused). HTTPS with a certificate and key in PEM files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace eventstreams::test {

class http_test_server {
 public:
  // Plain HTTP, or HTTPS when both files are given. Throws if it cannot listen.
  explicit http_test_server(const std::string& cert_file = "", const std::string& key_file = "");
  ~http_test_server();
  http_test_server(const http_test_server&) = delete;
  http_test_server& operator=(const http_test_server&) = delete;

  std::uint16_t port() const noexcept;
  // "http://127.0.0.1:PORT" + target (https:// for HTTPS).
  std::string url(const std::string& target) const;
  // What every later request gets (Content-Type: application/json). Thread-safe.
  void respond(unsigned status, std::string body);
  // Whether later requests are read but never answered (a server that hangs), until stop().
  void stall(bool on);
  // Closes the listener and ends the thread: later connections are refused. Idempotent.
  void stop();

  std::size_t requests() const;         // answered so far
  std::string last_user_agent() const;  // of the last request ("" before one)

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Makes a self-signed certificate for 127.0.0.1 (openssl req -x509) in `dir`: cert.pem and
// key.pem. Returns false (and adds a gtest failure with openssl's output) if openssl fails.
bool make_test_certificate(const std::string& dir);

}  // namespace eventstreams::test

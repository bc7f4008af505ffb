// The per-connection Kafka consumer behind the event source interface.
#include "sse/per_connection_source.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace eventstreams {

per_connection_source::per_connection_source(const kafka_config& cfg, const std::string& bootstrap,
                                             const std::vector<partition_position>& positions)
    : consumer_(cfg, bootstrap, positions) {}

per_connection_source::~per_connection_source() = default;

std::optional<std::string> per_connection_source::attach(const net::any_io_executor& ex) {
  int fd = consumer_.dup_wake_fd();
  if (fd < 0) {
    // EMFILE: the process is out of descriptors; new clients are told to come back later.
    return std::string("the server is out of resources (") + std::strerror(errno) + "); retry";
  }
  wake_.emplace(ex);
  beast::error_code ec;
  wake_->assign(fd, ec);
  if (ec) {
    ::close(fd);
    wake_.reset();
    return std::string("the server is out of resources; retry");
  }
  return std::nullopt;
}

std::size_t per_connection_source::poll(std::span<source_record> out,
                                        std::vector<source_error>& errors) {
  return consumer_.poll(out, errors);
}

void per_connection_source::async_wait(wait_handler ready) {
  if (!wake_)
    return;  // closed: nothing will wake it (event_source.hpp)
  wake_->async_wait(net::posix::stream_descriptor::wait_read, std::move(ready));
}

void per_connection_source::reset_wake() {
  consumer_.reset_wake();
}

source_stats per_connection_source::stats() const {
  return {consumer_.fetch_kicks()};
}

std::optional<source_lag> per_connection_source::lag(std::int64_t now_ms) {
  return consumer_.lag(now_ms);
}

void per_connection_source::close() {
  if (!wake_)
    return;
  beast::error_code ec;
  wake_->close(ec);
  wake_.reset();
}

}  // namespace eventstreams

// Writing a stream body to its socket: chunking, buffers, stall timer, final chunk.
#include "sse/stream_writer.hpp"

#include <charconv>

namespace eventstreams {
namespace {

// A write buffer that grew past this during a burst is released once it is idle again.
constexpr std::size_t keep_capacity = 256 * 1024;

}  // namespace

stream_writer::stream_writer(beast::tcp_stream&& stream, bool chunked, std::size_t max_buffered,
                             std::chrono::milliseconds stall_timeout)
    : stream_(std::move(stream)),
      chunked_(chunked),
      max_buffered_(max_buffered),
      stall_timeout_(stall_timeout),
      stall_timer_(stream_.get_executor()) {}

stream_writer::flush_result stream_writer::prepare(bool final) {
  bool send_final = final && !final_queued_;
  if (pending_.empty() && header_.empty() && !send_final)
    return flush_result::idle;
  inflight_.clear();
  inflight_.swap(header_);  // the response header, on the first write only
  if (!pending_.empty()) {
    if (chunked_) {
      char hex[20];
      auto [end, _] = std::to_chars(hex, hex + sizeof hex, pending_.size(), 16);
      inflight_.append(hex, end);
      inflight_ += "\r\n";
    }
    inflight_ += pending_;
    if (chunked_)
      inflight_ += "\r\n";
    pending_.clear();
  }
  if (send_final) {
    final_queued_ = true;
    if (chunked_)
      inflight_ += "0\r\n\r\n";
  }
  if (inflight_.empty())
    return flush_result::ended;  // HTTP/1.0 end with nothing left to send
  return flush_result::started;
}

void stream_writer::written(std::size_t bytes) {
  writing_ = false;
  stall_timer_.cancel();
  // Counted even when the write failed or was cut short by close().
  bytes_written_ += bytes;
}

void stream_writer::trim() {
  if (inflight_.capacity() > keep_capacity)
    std::string().swap(inflight_);
  if (pending_.capacity() > keep_capacity && pending_.empty())
    std::string().swap(pending_);
}

void stream_writer::close() {
  stall_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

}  // namespace eventstreams

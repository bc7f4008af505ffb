// Writing a stream body to its socket: chunking, buffers, stall timer, final chunk.
#include "sse/stream_writer.hpp"

#include "eventstreams/cohort.hpp"

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
      stall_timer_(stream_.get_executor()) {
  // write_now() sends without waiting; the asynchronous operations do not mind the mode.
  beast::error_code ec;
  stream_.socket().non_blocking(true, ec);
}

void stream_writer::seal_pending() {
  if (pending_.empty())
    return;
  auto own = std::make_shared<std::string>();
  if (chunked_)
    append_http_chunk(*own, pending_);
  else
    own->swap(pending_);
  pending_.clear();
  queued_bytes_ += own->size();
  net::const_buffer b = net::buffer(*own);
  queue_.push_back({std::move(own), b});
}

void stream_writer::push_framed(std::string_view bytes, std::shared_ptr<const void> owner) {
  if (bytes.empty())
    return;
  seal_pending();  // the blocks rendered before these bytes go out before them
  queued_bytes_ += bytes.size();
  queue_.push_back({std::move(owner), net::buffer(bytes.data(), bytes.size())});
}

// The shared-mode write: the header, the queued segments and the final chunk, gathered.
stream_writer::flush_result stream_writer::prepare_gathered(bool final) {
  seal_pending();
  if (final && !final_queued_) {
    final_queued_ = true;
    if (chunked_) {
      static const std::string last_chunk = "0\r\n\r\n";
      queue_.push_back({nullptr, net::buffer(last_chunk)});
    }
  }
  inflight_.clear();
  inflight_.swap(header_);
  buffers_.clear();
  if (!inflight_.empty())
    buffers_.push_back(net::buffer(inflight_));
  for (const auto& seg : queue_)
    buffers_.push_back(seg.bytes);
  inflight_segments_ = std::move(queue_);
  queue_.clear();
  queued_bytes_ = 0;
  if (buffers_.empty())
    return final ? flush_result::ended : flush_result::idle;
  return flush_result::started;
}

stream_writer::flush_result stream_writer::prepare(bool final) {
  buffers_.clear();
  if (!queue_.empty())
    return prepare_gathered(final);
  bool send_final = final && !final_queued_;
  if (pending_.empty() && header_.empty() && !send_final)
    return flush_result::idle;
  inflight_.clear();
  inflight_.swap(header_);  // the response header, on the first write only
  if (chunked_)
    append_http_chunk(inflight_, pending_);  // nothing when empty
  else
    inflight_ += pending_;
  pending_.clear();
  if (send_final) {
    final_queued_ = true;
    if (chunked_)
      inflight_ += "0\r\n\r\n";
  }
  if (inflight_.empty())
    return flush_result::ended;  // HTTP/1.0 end with nothing left to send
  buffers_.push_back(net::buffer(inflight_));
  return flush_result::started;
}

bool stream_writer::write_now() {
  beast::error_code ec;
  // Without the stream's own operation: it would arm and cancel the stall timer, allocate an
  // operation and post its completion, which cost more than the send for a socket with room.
  // An error (a closed peer) is left to the asynchronous write, which meets it again.
  std::size_t n = stream_.socket().write_some(buffers_, ec);
  sent_now_ += n;
  bytes_written_ += n;
  auto first = buffers_.begin();
  while (first != buffers_.end() && n >= first->size()) {
    n -= first->size();
    ++first;
  }
  buffers_.erase(buffers_.begin(), first);
  if (buffers_.empty()) {
    inflight_segments_.clear();  // unpins the shared chunks
    return true;
  }
  buffers_.front() += n;
  return false;
}

void stream_writer::written(std::size_t bytes) {
  writing_ = false;
  stall_timer_.cancel();
  // Counted even when the write failed or was cut short by close().
  bytes_written_ += bytes;
  inflight_segments_.clear();  // unpins the shared chunks
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

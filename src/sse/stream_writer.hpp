// The socket side of a stream: the response header on the first write, HTTP/1.1 chunking, the
// buffer being filled and the one being written, the stall timer, the backpressure signal and
// the final chunk. Its completions run the handlers the owner passes, which keep it alive.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/net.hpp"

namespace eventstreams {

class stream_writer {
 public:
  // `chunked`: HTTP/1.1 chunked framing; otherwise (HTTP/1.0) the body ends with the connection.
  // Encoded bytes past `max_buffered` make full() true: the owner stops encoding until a write
  // completes. A write that takes longer than `stall_timeout` calls the owner's stall handler.
  stream_writer(beast::tcp_stream&& stream, bool chunked, std::size_t max_buffered,
                std::chrono::milliseconds stall_timeout);

  net::any_io_executor get_executor() { return stream_.get_executor(); }

  // Where the owner appends encoded bytes; they go out with the next write.
  std::string& pending() noexcept { return pending_; }
  // Bytes framed for the wire already and shared with other streams (a shared-mode chunk), to go
  // out after what pending() holds; `owner` is kept alive until they are written.
  void push_framed(std::string_view bytes, std::shared_ptr<const void> owner);
  // Backpressure: the bytes waiting for the socket reached max_buffered.
  bool full() const noexcept { return pending_.size() + queued_bytes_ >= max_buffered_; }
  bool writing() const noexcept { return writing_; }
  // The final chunk is in flight: once it is written the response is complete.
  bool final_queued() const noexcept { return final_queued_; }
  // Bytes the socket took so far (response header and framing included).
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }

  // The response header, sent with the first write.
  void set_header(std::string header) { header_ = std::move(header); }

  enum class flush_result {
    busy,     // a write is in flight; its completion flushes again
    idle,     // nothing to write
    written,  // the socket took every byte at once: no write is in flight, `done` will not run
    started,  // the socket took part (or none) at once; `done` runs when the rest is written
    ended,    // the end was asked and the body needs no final bytes (HTTP/1.0): close now
  };
  // Writes the header, the pending bytes (as one chunk) and, when `final`, the final chunk: first
  // with one non-blocking send (a socket with room takes them at once, with no asynchronous
  // operation, timer or completion), then, for what it did not take, with an asynchronous write.
  // The handlers of that write are made only then, by `make_done()` and `make_stalled()` (a
  // send that took everything, the common case, makes neither): `done(error_code, bytes)`
  // completes the write (call written() first in it); `stalled()` runs when it has not completed
  // within the stall timeout. take_sent_now() has the bytes the non-blocking send wrote.
  template <class MakeDone, class MakeStalled>
  flush_result flush(bool final, MakeDone&& make_done, MakeStalled&& make_stalled) {
    if (writing_)
      return flush_result::busy;
    if (auto r = prepare(final); r != flush_result::started)
      return r;
    if (write_now())
      return flush_result::written;
    writing_ = true;
    // A client that stopped reading leaves this write pending once the socket buffers are full.
    stall_timer_.expires_after(stall_timeout_);
    // The sequence number tells this write's expiry from a late one of an earlier write.
    stall_timer_.async_wait(
        [this, seq = ++write_seq_, stalled = make_stalled()](beast::error_code ec) mutable {
          if (!ec && writing_ && seq == write_seq_)
            stalled();
        });
    net::async_write(stream_, buffers_, make_done());  // gathered: one writev
    return flush_result::started;
  }
  // The bytes the non-blocking sends of flush() wrote since the last call.
  std::size_t take_sent_now() noexcept { return std::exchange(sent_now_, 0); }

  // The write completed (or failed) after `bytes`: the first call of the `done` handler.
  void written(std::size_t bytes);
  // After a successful write: releases buffers that grew past what an idle stream keeps.
  void trim();

  // Reads and discards what the client sends: `done(error_code, bytes)` completes it.
  template <class Done>
  void async_read(Done&& done) {
    stream_.async_read_some(net::buffer(read_buffer_), std::forward<Done>(done));
  }

  // Cancels the stall timer and closes the socket (pending operations end with an error).
  void close();

 private:
  flush_result prepare(bool final);
  flush_result prepare_gathered(bool final);
  // One non-blocking send of buffers_; true when it took every byte (the write is over), else
  // buffers_ keeps what is left.
  bool write_now();
  // Moves pending() into the queue as one framed segment.
  void seal_pending();

  // Bytes in order: own blocks (sealed from pending_) and shared chunks.
  struct segment {
    std::shared_ptr<const void> owner;
    net::const_buffer bytes;
  };

  beast::tcp_stream stream_;
  bool chunked_;
  std::size_t max_buffered_;
  std::chrono::milliseconds stall_timeout_;
  net::steady_timer stall_timer_;  // armed while a write is pending
  std::string header_;             // the response header until the first write
  std::string pending_;            // encoded bytes not yet handed to the socket
  std::string inflight_;           // bytes being written
  std::vector<segment> queue_;     // framed segments after pending_ was sealed (shared mode)
  std::size_t queued_bytes_ = 0;
  std::vector<segment> inflight_segments_;  // pinned while written
  std::vector<net::const_buffer> buffers_;  // what is left to write: inflight_, the segments
  bool writing_ = false;
  bool final_queued_ = false;
  std::uint64_t write_seq_ = 0;  // writes started, for the stall timer
  std::uint64_t bytes_written_ = 0;
  std::size_t sent_now_ = 0;  // by write_now(), not yet taken
  std::array<char, 512> read_buffer_;
};

}  // namespace eventstreams

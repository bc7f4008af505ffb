// What the kernel holds for one TCP connection on 127.0.0.1, asked through NETLINK_SOCK_DIAG
// (what `ss -tm` shows): whether a sender's socket is full, i.e. a write waiting on it waits.
#pragma once

#include <cstdint>
#include <optional>

namespace eventstreams::test {

struct tcp_memory {
  std::uint32_t send_queued = 0;  // sk_wmem_queued: bytes written and not yet acknowledged
  std::uint32_t send_buffer = 0;  // sk_sndbuf
  std::uint32_t recv_queued = 0;  // bytes received and not yet read by the process
  std::uint32_t recv_buffer = 0;  // sk_rcvbuf
  // A write waiting on this socket keeps waiting until the peer reads: Linux reports a TCP
  // socket writable only while its free send space is at least half of what it holds queued
  // (sk_stream_is_writeable), a threshold that stays valid when the kernel grows the buffer.
  bool send_full() const {
    return send_queued >= send_buffer || send_buffer - send_queued < send_queued / 2;
  }
};

// The socket 127.0.0.1:local_port <-> 127.0.0.1:remote_port (established, IPv4), whichever
// process holds it; nullopt if there is none.
std::optional<tcp_memory> tcp_socket_memory(std::uint16_t local_port, std::uint16_t remote_port);

}  // namespace eventstreams::test

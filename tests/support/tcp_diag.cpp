// One NETLINK_SOCK_DIAG request for one established IPv4 TCP socket, with its memory info.
#include "tcp_diag.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace eventstreams::test {

std::optional<tcp_memory> tcp_socket_memory(std::uint16_t local_port, std::uint16_t remote_port) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return std::nullopt;
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;  // one socket, looked up by its addresses
  msg.req.sdiag_family = AF_INET;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << TCP_ESTABLISHED;
  msg.req.idiag_ext = 1u << (INET_DIAG_SKMEMINFO - 1);
  msg.req.id.idiag_sport = htons(local_port);
  msg.req.id.idiag_dport = htons(remote_port);
  msg.req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
  msg.req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  std::optional<tcp_memory> out;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) ==
      static_cast<ssize_t>(sizeof msg)) {
    // Parsed by hand: the NLMSG_* and RTA_* macros are C casts.
    constexpr auto align = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
    alignas(nlmsghdr) char buf[8192];
    ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    nlmsghdr h{};
    const auto n = static_cast<std::size_t>(std::max<ssize_t>(got, 0));
    if (n >= sizeof h)
      std::memcpy(&h, buf, sizeof h);
    const std::size_t diag_at = align(sizeof h);
    if (n >= sizeof h && h.nlmsg_len <= n && h.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        h.nlmsg_len >= diag_at + sizeof(inet_diag_msg)) {
      inet_diag_msg diag{};
      std::memcpy(&diag, buf + diag_at, sizeof diag);
      tcp_memory m;
      m.recv_queued = diag.idiag_rqueue;
      for (std::size_t at = diag_at + align(sizeof diag); at + sizeof(rtattr) <= h.nlmsg_len;) {
        rtattr a{};
        std::memcpy(&a, buf + at, sizeof a);
        if (a.rta_len < sizeof a || at + a.rta_len > h.nlmsg_len)
          break;
        const std::size_t payload = a.rta_len - align(sizeof a);
        if (a.rta_type == INET_DIAG_SKMEMINFO &&
            payload >= sizeof(std::uint32_t) * SK_MEMINFO_VARS) {
          std::uint32_t mem[SK_MEMINFO_VARS];
          std::memcpy(mem, buf + at + align(sizeof a), sizeof mem);
          m.send_queued = mem[SK_MEMINFO_WMEM_QUEUED];
          m.send_buffer = mem[SK_MEMINFO_SNDBUF];
          m.recv_buffer = mem[SK_MEMINFO_RCVBUF];
          out = m;
        }
        at += align(a.rta_len);
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace eventstreams::test

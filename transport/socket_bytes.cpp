#include "transport/socket_bytes.hpp"
#include <cstddef>

// <linux/tcp.h>, not glibc's <netinet/tcp.h>: only the kernel's struct tcp_info has
// tcpi_bytes_received (Linux 4.1+). Kept in its own file: the two headers clash.
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace vigil::net {

std::optional<uint64_t> socket_bytes_read(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0
      || len < offsetof(tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
    return std::nullopt;
  int queued = 0;
  if (ioctl(fd, SIOCINQ, &queued) != 0 || queued < 0)
    return std::nullopt;
  uint64_t received = ti.tcpi_bytes_received;
  return received >= static_cast<uint64_t>(queued) ? received - static_cast<uint64_t>(queued) : 0;
}

} // namespace vigil::net

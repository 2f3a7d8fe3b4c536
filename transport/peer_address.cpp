#include "transport/peer_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace vigil {

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "unknown";
  char ip[INET6_ADDRSTRLEN] = {};
  unsigned port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    if (inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip) == nullptr)
      return "unknown";
    port = ntohs(v4->sin_port);
    return std::string(ip) + ':' + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    port = ntohs(v6->sin6_port);
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; write them as IPv4.
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      in_addr v4{};
      std::memcpy(&v4, &v6->sin6_addr.s6_addr[12], sizeof v4);
      if (inet_ntop(AF_INET, &v4, ip, sizeof ip) == nullptr)
        return "unknown";
      return std::string(ip) + ':' + std::to_string(port);
    }
    if (inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip) == nullptr)
      return "unknown";
    return '[' + std::string(ip) + "]:" + std::to_string(port);
  }
  return "unknown";
}

} // namespace vigil

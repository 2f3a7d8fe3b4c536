#pragma once
// The remote address of a socket, as operators read it in logs and in the console.

#include <string>

namespace vigil {

/// `IP:port` of the peer of socket `fd` (`[IPv6]:port`; an IPv4-mapped IPv6 address is written
/// as plain IPv4), or "unknown" when the socket has no peer address.
std::string peer_address(int fd);

} // namespace vigil

#include "domain/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace vigil {

bool sd_notify_to(const std::string& socket_path, std::string_view state, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Abstract sockets ("@name") have no NUL terminator: their length is the name's length.
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path ||
      (socket_path[0] != '/' && socket_path[0] != '@')) {
    if (error) *error = "NOTIFY_SOCKET must be an absolute path or an @abstract name";
    return false;
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path.size() +
                                    (socket_path[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::strerror(errno);
    return false;
  }
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), len);
  int saved = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(state.size())) {
    if (error) *error = n < 0 ? std::strerror(saved) : "short write";
    return false;
  }
  return true;
}

bool sd_notify_send(std::string_view state, std::string* error) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return false;
  return sd_notify_to(path, state, error);
}

} // namespace vigil

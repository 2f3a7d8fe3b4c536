// Accepting: vigild's own listening socket, watched by lws as a raw descriptor, paused while
// descriptors run low.

#include "transport/server_impl.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "delivery/counters.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"

namespace vigil {

using namespace net;

namespace {

/// Binds and listens on `node`:`port`; -1 with *error set on failure.
int bind_listen(const char* node, const std::string& service, bool dual_stack, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(node, service.c_str(), &hints, &found); rc != 0) {
    *error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      *error = std::strerror(errno);
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && dual_stack)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      *error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

} // namespace

/// Takes what waits in the listen backlog and hands each socket to lws as if its own listener
/// had accepted it. Stops (the rest wait in the backlog, nothing spins) when descriptors run
/// low; a freed descriptor starts it again (on_descriptor_freed).
void server::impl::on_listen_readable(listener& l) {
  for (int i = 0; i < 256 && !accept_paused; ++i) {
    int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pause_accepting();
        accept_failed = true;
      }
      else if (errno != EAGAIN && errno != EWOULDBLOCK)
        log::warn("accept_failed", {{"errno", static_cast<int64_t>(errno)}});
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    lws_sock_file_fd_type desc;
    desc.sockfd = fd;
    // On failure lws closes the socket itself. ALLOW_SSL: on a TLS vhost lws runs the handshake
    // first (and refuses plain HTTP); on the plain vhost lws ignores it.
    lws* wsi = lws_adopt_descriptor_vhost(
      l.vhost, static_cast<lws_adoption_type>(LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | LWS_ADOPT_ALLOW_SSL),
      desc, nullptr, nullptr);
    if (wsi != nullptr && tls_ctx != nullptr && l.vhost == vhost)
      awaiting_head[wsi] = now_ms() + tls_head_timeout_ms;
    if (fd + 1 >= accept_ceiling)
      pause_accepting();
  }
}

void server::impl::pause_accepting() {
  if (accept_paused || listeners[0].wsi == nullptr)
    return;
  accept_paused = true;
  counters::get().accept_pauses++;
  for (auto& l : listeners)
    if (l.wsi != nullptr)
      lws_rx_flow_control(l.wsi, 0);
}

/// A socket was closed: there is room for one more, so take from the backlog again.
void server::impl::on_descriptor_freed() {
  if (!accept_paused || listeners[0].wsi == nullptr || done)
    return;
  accept_paused = false;
  accept_failed = false;
  for (auto& l : listeners)
    if (l.wsi != nullptr)
      lws_rx_flow_control(l.wsi, 1);
}

int server::impl::listen_callback(lws* wsi, lws_callback_reasons reason, void*, void*, size_t) {
  switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
      for (auto& l : from(wsi)->listeners)
        if (l.wsi == wsi)
          from(wsi)->on_listen_readable(l);
      return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
      for (auto& l : from(wsi)->listeners)
        if (l.wsi == wsi)
          l.wsi = nullptr;
      return 0;
    default:
      return 0;
  }
}

namespace net {

int open_listen_socket(const std::string& host, uint16_t port, std::string* error) {
  auto service = std::to_string(port);
  std::string why;
  bool any = host.empty() || host == "0.0.0.0";
  int fd = any ? bind_listen("::", service, true, &why) : bind_listen(host.c_str(), service, false, &why);
  if (fd < 0 && any)
    fd = bind_listen("0.0.0.0", service, false, &why);
  if (fd < 0)
    *error = "cannot listen on " + (host.empty() ? std::string("0.0.0.0") : host) + ":" + service
             + " (" + why + ")";
  return fd;
}

} // namespace net

} // namespace vigil

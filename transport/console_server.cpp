#include "transport/console_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "domain/admin_token.hpp"
#include "domain/console_protocol.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"

namespace vigil {

namespace proto = console_protocol;
using clock_type = std::chrono::steady_clock;

struct console_server::session {
  int fd = -1;
  std::string peer; // "127.0.0.1:PORT", for the log
  std::string buf;  // bytes read but not yet consumed
  std::thread thread;
  std::atomic<bool> done{false};
};

namespace {

std::string error_reply(const std::string& message) {
  auto v = json::value::make_object();
  v.set("ok", false);
  v.set("error", message);
  return json::to_string(v);
}

std::string ok_reply(const std::string& data_json) {
  return "{\"ok\":true,\"data\":" + data_json + "}";
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false; // includes the SO_SNDTIMEO timeout: a client that does not read is dropped
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

enum class read_status { line, closed, too_long, timeout, stopped, bad_prefix };

const char* reason(read_status s) {
  switch (s) {
    case read_status::closed: return "closed";
    case read_status::too_long: return "too_long";
    case read_status::timeout: return "timeout";
    case read_status::stopped: return "shutdown";
    case read_status::bad_prefix: return "not_auth";
    default: return "ok";
  }
}

/// Reads one '\n'-terminated line of at most `max` bytes (newline included) into *line. Never
/// holds more than `max` unconsumed bytes, whatever the peer sends. `prefix`, when not empty,
/// must begin the line: a mismatch is reported as soon as the first bytes differ.
read_status read_line(int fd, int stop_fd, std::string& buf, std::string* line, size_t max,
                      std::optional<clock_type::time_point> deadline, std::string_view prefix) {
  char chunk[4096];
  while (true) {
    auto n_cmp = std::min(buf.size(), prefix.size());
    if (buf.compare(0, n_cmp, prefix.substr(0, n_cmp)) != 0)
      return read_status::bad_prefix;
    auto nl = buf.find('\n');
    if (nl != std::string::npos) {
      if (nl + 1 > max)
        return read_status::too_long;
      line->assign(buf, 0, nl > 0 && buf[nl - 1] == '\r' ? nl - 1 : nl);
      buf.erase(0, nl + 1);
      return read_status::line;
    }
    if (buf.size() >= max)
      return read_status::too_long;
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline
                                                                        - clock_type::now());
      if (left.count() <= 0)
        return read_status::timeout;
      wait_ms = static_cast<int>(left.count());
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = ::poll(fds, 2, wait_ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return read_status::closed;
    if (fds[1].revents != 0)
      return read_status::stopped;
    if (r == 0)
      continue; // the deadline check above decides
    ssize_t n = ::recv(fd, chunk, std::min(sizeof chunk, max - buf.size()), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      return read_status::closed;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

std::string peer_of(const sockaddr_in& addr) {
  char host[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
  return std::string{host} + ":" + std::to_string(ntohs(addr.sin_port));
}

} // namespace

std::unique_ptr<console_server> console_server::start(console_handler& handler, uint16_t port,
                                                      std::string token,
                                                      std::string identity_json,
                                                      console_limits limits,
                                                      std::string* error) {
  std::unique_ptr<console_server> s{new console_server(handler)};
  s->token_ = std::move(token);
  s->identity_json_ = std::move(identity_json);
  s->limits_ = limits;
  auto where = "admin.port " + std::to_string(port) + " on 127.0.0.1";
  s->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) {
    *error = "cannot open " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  int one = 1;
  // Lets a restarted vigild bind while old sockets are in TIME_WAIT (never a second listener).
  ::setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = errno == EADDRINUSE ? where + " is in use (another vigild?)"
                                 : "cannot open " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::listen(s->listen_fd_, 16) != 0) {
    *error = "cannot listen on " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  socklen_t len = sizeof addr;
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s->port_ = ntohs(addr.sin_port);
  s->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd_ < 0) {
    *error = std::string{"eventfd: "} + std::strerror(errno);
    return nullptr;
  }
  s->acceptor_ = std::thread([p = s.get()] { p->accept_loop(); });
  return s;
}

console_server::console_server(console_handler& handler) : handler_(handler) {}

console_server::~console_server() {
  stop();
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
}

void console_server::stop() {
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  }
  if (acceptor_.joinable())
    acceptor_.join();
  reap(true);
}

void console_server::reap(bool all) {
  std::lock_guard<std::mutex> g{mu_};
  for (auto i = sessions_.begin(); i != sessions_.end();) {
    if (all || (*i)->done) {
      (*i)->thread.join();
      i = sessions_.erase(i);
    } else {
      ++i;
    }
  }
}

void console_server::accept_loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR)
      return;
    if (fds[1].revents != 0)
      return;
    if (fds[0].revents == 0)
      continue;
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: the connection stays in the backlog; try again in a moment
        // rather than spinning on a listener that stays readable.
        pollfd stop{stop_fd_, POLLIN, 0};
        ::poll(&stop, 1, 200);
      }
      continue;
    }
    reap(false);
    auto peer = peer_of(addr);
    std::lock_guard<std::mutex> g{mu_};
    if (sessions_.size() >= limits_.max_sockets) {
      std::string busy = std::string{proto::greeting_busy} + "\n";
      ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      log::warn("console_refused", {{"peer", peer}, {"reason", "too_many_sockets"}});
      continue;
    }
    timeval send_timeout{static_cast<time_t>(limits_.reply_timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    auto s = std::make_unique<session>();
    s->fd = fd;
    s->peer = std::move(peer);
    auto* raw = s.get();
    s->thread = std::thread([this, raw] {
      serve(*raw);
      ::close(raw->fd);
      raw->done = true;
    });
    sessions_.push_back(std::move(s));
  }
}

void console_server::serve(session& s) {
  if (!send_all(s.fd, std::string{proto::greeting_ready} + "\n"))
    return;
  std::string line;
  auto st = read_line(s.fd, stop_fd_, s.buf, &line, limits_.auth_line_max,
                      clock_type::now() + limits_.auth_timeout, proto::auth_prefix);
  if (st == read_status::stopped)
    return;
  if (st != read_status::line) {
    log::warn("console_auth_failed", {{"peer", s.peer}, {"reason", reason(st)}});
    return; // closed without a word: whatever it was, it gets nothing to parse
  }
  if (!admin_token_matches(token_, std::string_view{line}.substr(proto::auth_prefix.size()))) {
    log::warn("console_auth_failed", {{"peer", s.peer}, {"reason", "wrong_token"}});
    send_all(s.fd, proto::frame_reply(error_reply("wrong admin token")));
    return;
  }
  if (authenticated_.fetch_add(1) >= limits_.max_sessions) {
    --authenticated_;
    log::warn("console_refused", {{"peer", s.peer}, {"reason", "too_many_sessions"}});
    send_all(s.fd, proto::frame_reply(error_reply(
                     std::to_string(limits_.max_sessions)
                     + " console sessions are open, the most vigild allows; close one")));
    return;
  }
  log::info("console_session_opened", {{"peer", s.peer}});
  bool open = send_all(s.fd, proto::frame_reply(ok_reply(identity_json_)));
  while (open) {
    st = read_line(s.fd, stop_fd_, s.buf, &line, limits_.request_line_max, std::nullopt, {});
    if (st == read_status::too_long) {
      send_all(s.fd, proto::frame_reply(error_reply(
                       "request longer than " + std::to_string(limits_.request_line_max)
                       + " bytes")));
      break;
    }
    if (st != read_status::line)
      break;
    std::string error;
    auto words = proto::decode_request(line, &error);
    if (!words) {
      open = send_all(s.fd, proto::frame_reply(error_reply(error)));
      continue;
    }
    std::string command = words->front();
    std::vector<std::string> args(words->begin() + 1, words->end());
    if (proto::is_mutating(command))
      log::info("console_command", {{"peer", s.peer}, {"command", command}});
    auto answer = handler_.inspect(command, args, limits_.reply_timeout);
    open = send_all(s.fd, proto::frame_reply(answer));
  }
  --authenticated_;
  log::info("console_session_closed", {{"peer", s.peer}});
}

} // namespace vigil

// vigilctl bench: the event loop with every connection of the run (one epoll set, one
// libwebsockets client context for the publishers), serviced on the calling thread. See
// vigilctl_bench.hpp.
//
// WS publishers are lws WebSocket clients; HTTP publishers are lws RAW client connections that
// speak HTTP/1.1 keep-alive themselves (one request in flight per connection).
//
// Subscribers are not lws connections: they are plain non-blocking sockets in an epoll set, and
// do the WebSocket upgrade and framing themselves. lws 4.1 has only poll(), whose cost grows with
// every descriptor it watches: with 1,000 subscribers each wake-up cost the generator more than
// the frames it then read. (The lws 4.1 client parser also handles received frames one byte per
// call.) A ready subscriber gets one recv() of up to read_buffer_bytes, and its frames are parsed
// where they lie.
//
// The loop waits in epoll_wait() alone, at most 1 ms, so the publishers' pacing and the deadlines
// run on time. The publishers' sockets are in the epoll set too (lws still owns them); lws is
// serviced without waiting (poll() with timeout 0 over its few descriptors) only when it has
// something to do: a publisher socket is ready, a write was asked for, lws holds buffered input,
// or a millisecond has passed (timers, connects in progress, a partial write).

#include "tools/vigilctl_bench.hpp"

#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tools/lws_client.hpp"

namespace vigil::ctl::bench {

namespace {

constexpr const char* ws_protocol = "vigilctl-bench-ws";
constexpr const char* raw_protocol = "vigilctl-bench-raw";
constexpr size_t rx_buffer_bytes = 4096;        // per WS publisher; bigger frames come in pieces
constexpr size_t max_message_bytes = 1 << 20;   // a server frame larger than this is a bug
constexpr int64_t lws_period_ns = 1'000'000;  // lws is serviced at least this often
/// One recv() per ready subscriber takes up to this much: everything a socket holds, as a rule.
constexpr size_t read_buffer_bytes = 256 * 1024;
/// Ready sockets taken per epoll_wait().
constexpr int epoll_batch = 512;
/// A subscriber still connecting (TCP or upgrade) after this long fails (lws' timeout_secs).
constexpr int64_t subscriber_connect_timeout_ns = 30'000'000'000;

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* owner = static_cast<loop*>(lws_context_user(lws_get_context(wsi)));
  if (owner == nullptr || user == nullptr) return 0;
  return owner->on_event(wsi, static_cast<int>(reason), static_cast<conn*>(user), in, len);
}

const lws_protocols protocols[] = {
    {ws_protocol, callback, 0, rx_buffer_bytes, 0, nullptr, 0},
    {raw_protocol, callback, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

/// A masked client-to-server WebSocket frame (RFC 6455 section 5.2).
std::string ws_client_frame(unsigned char opcode, std::string_view payload) {
  static uint32_t key_state = 0x9e3779b9u;
  key_state = key_state * 1664525u + 1013904223u;  // any key will do; it only has to be there
  unsigned char key[4] = {static_cast<unsigned char>(key_state >> 24), static_cast<unsigned char>(key_state >> 16),
                          static_cast<unsigned char>(key_state >> 8), static_cast<unsigned char>(key_state)};
  std::string f;
  f.reserve(payload.size() + 14);
  f += static_cast<char>(0x80 | opcode);
  const uint64_t n = payload.size();
  if (n < 126) {
    f += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xff);
  }
  f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ key[i & 3]);
  return f;
}

} // namespace

loop::loop(loop_config cfg) : cfg_(std::move(cfg)) {}

loop::~loop() {
  for (conn* c : subscribers_)
    if (c->fd >= 0) ::close(c->fd);
  if (ctx_ != nullptr) lws_context_destroy(ctx_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool loop::init(std::string* error) {
  lws_set_log_level(0, nullptr);
  lwsc::context_options co;
  co.protocols = protocols;
  co.user = this;
  co.fd_limit = static_cast<unsigned int>(cfg_.max_fds);
  co.service_buffer = 65536;  // publishers: one read() takes many replies
  co.timeout_secs = 30;
  ctx_ = lwsc::make_context(co, error);
  if (ctx_ == nullptr) return false;

  // Source addresses first: the target's address must be of their family.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  for (const std::string& ip : cfg_.source_ips) {
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(ip.c_str(), "0", &hints, &found) != 0 || found == nullptr) {
      *error = "--source-ips: cannot use " + ip;
      return false;
    }
    sockaddr_storage a{};
    std::memcpy(&a, found->ai_addr, found->ai_addrlen);
    source_addrs_.emplace_back(a, found->ai_addrlen);
    freeaddrinfo(found);
  }
  // The subscribers' target, resolved once (bench.cpp has checked that it is loopback only).
  hints.ai_family = source_addrs_.empty() ? AF_UNSPEC : source_addrs_.front().first.ss_family;
  hints.ai_flags = AI_NUMERICSERV;
  const std::string port = std::to_string(cfg_.port);
  if (getaddrinfo(cfg_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    *error = "cannot resolve " + cfg_.host + (source_addrs_.empty() ? "" : " in the family of --source-ips");
    return false;
  }
  // A name with several addresses (localhost: ::1 and 127.0.0.1): the first that accepts a
  // connection, as lws tries them in turn.
  const addrinfo* use = found;
  for (const addrinfo* a = found; a != nullptr && found->ai_next != nullptr; a = a->ai_next) {
    const int probe = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool accepted = probe >= 0 && ::connect(probe, a->ai_addr, a->ai_addrlen) == 0;
    if (probe >= 0) ::close(probe);
    if (accepted) {
      use = a;
      break;
    }
  }
  std::memcpy(&target_, use->ai_addr, use->ai_addrlen);
  target_len_ = use->ai_addrlen;
  freeaddrinfo(found);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    *error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  read_buffer_.resize(read_buffer_bytes);
  return true;
}

void loop::add_subscribers(int count, int hospitals) {
  for (int i = 0; i < count; ++i) {
    auto c = std::make_unique<conn>();
    c->kind = conn_kind::subscriber;
    c->index = i;
    c->hospital = i % hospitals;
    subscribers_.push_back(c.get());
    conns_.push_back(std::move(c));
  }
  lag_.assign(hospitals, lag_tracker{});
  sent_per_hospital_.assign(hospitals, 0);
  ok_per_hospital_.assign(hospitals, 0);
}

void loop::add_publishers(int count, bool http) {
  for (int i = 0; i < count; ++i) {
    auto c = std::make_unique<conn>();
    c->kind = http ? conn_kind::http_publisher : conn_kind::ws_publisher;
    c->index = i;
    publishers_.push_back(c.get());
    conns_.push_back(std::move(c));
  }
  sent_.assign(count, {});
}

void loop::connect_subscribers(bool with_last_event_id) {
  resubscribe_with_last_id_ = with_last_event_id;
  for (conn* c : subscribers_)
    if (c->state == conn_state::idle || c->state == conn_state::closed) {
      c->state = conn_state::waiting;
      connect_queue_.push_back(c);
    }
  start_connects();
}

void loop::connect_publishers() {
  for (conn* c : publishers_)
    if (c->state == conn_state::idle || c->state == conn_state::closed) {
      c->state = conn_state::waiting;
      connect_queue_.push_back(c);
    }
  start_connects();
}

void loop::set_retry_failed_connects(bool on) {
  retry_failed_ = on;
  if (on) return;
  for (conn* c : retry_list_) c->state = conn_state::closed;
  retry_list_.clear();
}

void loop::close_subscribers() {
  for (conn* c : subscribers_)
    if (c->state == conn_state::open && c->fd >= 0) {
      c->close_requested = true;
      sub_send(*c, ws_client_frame(0x8, std::string_view("\x03\xe8", 2)));  // 1000
      sub_close(*c);
    }
}

void loop::start_connects() {
  while (!connect_queue_.empty() && connecting_ < cfg_.connect_concurrency) {
    conn* c = connect_queue_.front();
    connect_queue_.pop_front();
    connect_one(*c);
  }
}

void loop::connect_one(conn& c) {
  c.state = conn_state::connecting;
  c.close_requested = false;
  c.close_code = 0;
  c.started = false;
  c.rx.clear();
  c.outbox.clear();
  c.http_pending.clear();
  c.upgraded = false;
  c.frag.clear();
  c.inflight = 0;
  c.connect_start_ns = mono_ns();
  const size_t source = cfg_.source_ips.empty() ? 0 : source_ip_next_++ % cfg_.source_ips.size();
  if (!cfg_.source_ips.empty()) c.source_ip = cfg_.source_ips[source];
  ++connecting_;
  if (c.kind == conn_kind::subscriber) {
    sub_connect(c, cfg_.source_ips.empty() ? nullptr : &source_addrs_[source]);
    return;
  }
  lwsc::connect_options ci;
  ci.context = ctx_;
  ci.address = cfg_.host.c_str();
  ci.port = cfg_.publisher_port != 0 ? cfg_.publisher_port : cfg_.port;
  ci.userdata = &c;
  ci.pwsi = &c.wsi;
  ci.iface = c.source_ip.empty() ? nullptr : c.source_ip.c_str();
  // Connecting 15,000 clients with lws' validity timers was quadratic (lws_client.hpp); the
  // servers' own text PING/PONG keep-alive is answered in on_ws_message.
  ci.no_validity_checks = true;
  ci.raw = c.kind != conn_kind::ws_publisher;
  ci.path = ci.raw ? "" : cfg_.ws_path.c_str();
  ci.local_protocol = ci.raw ? raw_protocol : ws_protocol;
  if (lwsc::connect(ci) == nullptr && c.state == conn_state::connecting) {
    // Failed synchronously without a callback.
    ++connect_errors_["connect failed"];
    c.close_code = -1;
    c.wsi = nullptr;
    on_closed(c);
  }
}

void loop::service_once() {
  epoll_event events[epoll_batch];
  const int n = epoll_wait(epoll_fd_, events, epoll_batch, lws_pending_ ? 0 : 1);
  // One clock read per wake-up serves every frame read in it (the reads take microseconds).
  int64_t now = mono_ns();
  bool lws_due = lws_pending_ || now >= next_lws_ns_;
  for (int i = 0; i < n; ++i) {
    conn* c = static_cast<conn*>(events[i].data.ptr);
    if (c->kind == conn_kind::subscriber) sub_ready(*c, events[i].events, now);
    else lws_due = true;  // a publisher's socket: lws reads it
  }
  if (lws_due) {
    lws_pending_ = false;  // callbacks that ask for a write set it again
    lws_service(ctx_, -1);  // -1: poll() without waiting
    // Input lws has buffered but not delivered yet (lws would not wait in poll() either).
    if (lws_service_adjust_timeout(ctx_, 1, 0) == 0) lws_pending_ = true;
    now = mono_ns();
    next_lws_ns_ = now + lws_period_ns;
  }
  if (publishing_) {
    // A publisher whose connection ended (an HTTP keep-alive timeout, a server close) comes back.
    for (conn* p : publishers_)
      if (p->state == conn_state::closed) {
        p->state = conn_state::waiting;
        connect_queue_.push_back(p);
      }
    pump();
  }
  if (!retry_list_.empty()) {
    // Failed connects whose delay has passed go back into the queue.
    auto due = std::partition(retry_list_.begin(), retry_list_.end(),
                              [now](const conn* c) { return c->retry_at_ns > now; });
    for (auto it = due; it != retry_list_.end(); ++it) connect_queue_.push_back(*it);
    retry_list_.erase(due, retry_list_.end());
  }
  start_connects();
  if (connecting_ > 0 && now >= next_timeout_check_ns_) {
    next_timeout_check_ns_ = now + 100'000'000;
    for (conn* c : subscribers_)
      if (c->state == conn_state::connecting && c->fd >= 0 &&
          now - c->connect_start_ns > subscriber_connect_timeout_ns) {
        ++connect_errors_[c->tcp_connected ? "no upgrade answer in time" : "connect timed out"];
        c->close_code = -1;
        sub_close(*c);
      }
  }
  if (pid_ > 0 && now >= next_sample_ns_) {
    next_sample_ns_ = now + 100'000'000;
    if (auto s = read_proc(pid_)) peak_rss_kb_ = std::max(peak_rss_kb_, s->rss_kb);
  }
}

int loop::open_count(conn_kind kind) const {
  int n = 0;
  for (const auto& c : conns_)
    if (c->kind == kind && c->state == conn_state::open) ++n;
  return n;
}

int loop::started_count(conn_kind kind) const {
  int n = 0;
  for (const auto& c : conns_)
    if (c->kind == kind && c->state == conn_state::open && c->started) ++n;
  return n;
}

int64_t loop::inflight_total() const {
  int64_t n = 0;
  for (const conn* p : publishers_) n += p->inflight;
  return n;
}

void loop::set_stalled(conn& c, bool stalled) {
  if (c.stalled == stalled) return;
  c.stalled = stalled;
  if (c.kind == conn_kind::subscriber && c.started && c.state == conn_state::open)
    stalled ? lag_[c.hospital].remove(c.received) : lag_[c.hospital].add(c.received);
  if (c.kind == conn_kind::subscriber && c.fd >= 0) {
    if (!stalled && cfg_.stall_rcvbuf > 0) {
      // Reopen the window wide: with the small buffer, the sender's zero-window probes back off
      // for seconds and the reader would see almost nothing of what is queued for it.
      const int size = 4 << 20;
      setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    sub_watch(c);
  } else if (c.wsi != nullptr) {
    lws_rx_flow_control(c.wsi, stalled ? 0 : 1);
  }
}

void loop::reset_subscriber_counts() {
  for (auto& l : lag_) l.reset();
  for (conn* c : subscribers_) {
    c->seen.clear();
    c->received = 0;
    c->duplicates = 0;
    c->out_of_order = 0;
    c->other_events = 0;
    c->resyncs = 0;
    c->wrong_hospital = 0;
    c->foreign = 0;
    c->caught_up_ns = 0;
    c->closed_in_run = false;
    if (c->state == conn_state::open && c->started && !c->stalled) lag_[c->hospital].add(0);
  }
  deliveries_ = 0;
  first_delivery_ns_ = 0;
  last_delivery_ns_ = 0;
  latency_ = histogram{};
  latency_first_ = histogram{};
}

// ---- subscriber sockets ------------------------------------------------------------------------

void loop::sub_connect(conn& c, const std::pair<sockaddr_storage, socklen_t>* source) {
  c.wsi = nullptr;
  c.tcp_connected = false;
  c.sub_out.clear();
  c.watching = 0;
  const auto fail = [&](const char* what, int err) {
    ++connect_errors_[std::string(what) + ": " + std::strerror(err)];
    c.close_code = -1;
    sub_close(c);
  };
  c.fd = ::socket(target_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail("socket", errno);
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as lws does: small frames go now
  if (source != nullptr && ::bind(c.fd, reinterpret_cast<const sockaddr*>(&source->first), source->second) != 0)
    return fail("bind", errno);
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_), target_len_) != 0 && errno != EINPROGRESS)
    return fail("connect failed", errno);
  epoll_event ev{};
  ev.events = EPOLLOUT;  // writable: the connect finished (or failed: SO_ERROR says)
  ev.data.ptr = &c;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail("epoll_ctl", errno);
  c.watching = EPOLLOUT;
}

void loop::sub_watch(conn& c) {
  if (c.fd < 0) return;
  uint32_t want = 0;
  if (!c.tcp_connected || !c.sub_out.empty()) want |= EPOLLOUT;
  if (c.tcp_connected && !(c.stalled && c.started)) want |= EPOLLIN;
  if (want == c.watching) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = &c;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.watching = want;
}

void loop::sub_send(conn& c, std::string_view bytes) {
  if (c.fd < 0 || bytes.empty()) return;
  if (c.sub_out.empty() && c.tcp_connected) {
    const ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      sub_close(c);
      return;
    }
    if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
    if (bytes.empty()) return;
  }
  c.sub_out.append(bytes.data(), bytes.size());
  sub_watch(c);
}

bool loop::sub_flush(conn& c) {
  while (!c.sub_out.empty()) {
    const ssize_t n = ::send(c.fd, c.sub_out.data(), c.sub_out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return false;
    }
    c.sub_out.erase(0, static_cast<size_t>(n));
  }
  sub_watch(c);
  return true;
}

void loop::sub_close(conn& c) {
  if (c.fd >= 0) {
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
  }
  c.sub_out.clear();
  c.watching = 0;
  c.tcp_connected = false;
  on_closed(c);
}

void loop::sub_ready(conn& c, uint32_t events, int64_t now) {
  if (c.fd < 0 || (c.state != conn_state::connecting && c.state != conn_state::open)) return;
  if (!c.tcp_connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0 && !(events & EPOLLOUT)) err = ECONNREFUSED;  // a bare HUP/ERR
    if (err != 0) {
      ++connect_errors_[std::string("connect failed: ") + std::strerror(err)];
      c.close_code = -1;
      sub_close(c);
      return;
    }
    // The upgrade request; the connection counts as connecting until the 101.
    c.tcp_connected = true;
    const bool v6 = cfg_.host.find(':') != std::string::npos;
    sub_send(c, "GET " + cfg_.ws_path + " HTTP/1.1\r\nHost: " + (v6 ? "[" + cfg_.host + "]" : cfg_.host) + ":" +
                    std::to_string(cfg_.port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dmlnaWxjdGwtYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    sub_watch(c);
    return;
  }
  if ((events & EPOLLOUT) && !sub_flush(c)) {
    sub_close(c);
    return;
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  if (c.stalled && c.started) {
    // Not reading (the bytes stay in the kernel): only a dead socket ends it, as with lws.
    if (events & (EPOLLHUP | EPOLLERR)) sub_close(c);
    return;
  }
  const ssize_t n = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
  if (n > 0) {
    if (on_subscriber_bytes(c, read_buffer_.data(), static_cast<size_t>(n), now) < 0) sub_close(c);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  sub_close(c);  // end of stream or a socket error; close_code stays 0 → 1006 unless a close frame came
}

void loop::want_writeable(lws* wsi) {
  lws_callback_on_writable(wsi);
  lws_pending_ = true;  // lws only writes from lws_service()
}

void loop::watch_publisher(conn& c) {
  const int fd = lws_get_socket_fd(c.wsi);
  if (fd < 0 || c.lws_fd >= 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) c.lws_fd = fd;
}

// ---- publishing ------------------------------------------------------------------------------------

void loop::start_publishing(double rate, int window, int64_t max_lag, int64_t until_ns, int round) {
  begin_round(window, round, until_ns);
  fixed_mode_ = false;
  rate_ = rate;
  max_lag_ = max_lag;
  // The lag trackers count from the round's start, like sent_per_hospital_.
  reset_subscriber_counts();
  pump();
}

void loop::publish_fixed(int per_hospital, int window, int round) {
  begin_round(window, round, INT64_MAX);
  fixed_mode_ = true;
  fixed_per_hospital_ = per_hospital;
  fixed_sent_.assign(ok_per_hospital_.size(), 0);
  max_lag_ = 0;
  rate_ = 0;
  pump();
}

void loop::begin_round(int window, int round, int64_t until_ns) {
  publishing_ = true;
  window_ = std::max(window, 1);
  publish_start_ns_ = mono_ns();
  publish_until_ns_ = until_ns;
  sends_ = 0;
  behind_ = 0;
  round_ = round;
  std::fill(ok_per_hospital_.begin(), ok_per_hospital_.end(), 0);
  std::fill(sent_per_hospital_.begin(), sent_per_hospital_.end(), 0);
  first_send_ns_ = 0;
  last_send_ns_ = 0;
}

void loop::pump() {
  const int64_t now = mono_ns();
  if (publishers_.empty()) {
    publishing_ = false;
    return;
  }
  const int hospitals = static_cast<int>(ok_per_hospital_.size());
  auto ready = [&](const conn* p) {
    return p->state == conn_state::open && p->started && p->inflight < window_;
  };
  if (fixed_mode_) {
    // Round-robin over hospitals until each has `fixed_per_hospital_` sends.
    bool all_sent = true;
    for (conn* p : publishers_) {
      while (ready(p)) {
        int h = -1;
        for (int tries = 0; tries < hospitals; ++tries) {
          const int cand = (next_hospital_ + tries) % hospitals;
          if (fixed_sent_[cand] < fixed_per_hospital_) {
            h = cand;
            break;
          }
        }
        if (h < 0) break;
        next_hospital_ = (h + 1) % hospitals;
        if (!send_mutation(*p, h)) break;
        ++fixed_sent_[h];
      }
    }
    for (int64_t s : fixed_sent_) all_sent &= s >= fixed_per_hospital_;
    if (all_sent) publishing_ = false;
    return;
  }
  if (now >= publish_until_ns_) {
    publishing_ = false;
    return;
  }
  if (rate_ > 0) {
    const double elapsed = static_cast<double>(now - publish_start_ns_) / 1e9;
    const int64_t due = static_cast<int64_t>(rate_ * elapsed) + 1;
    int idle_rounds = 0;
    while (sends_ < due && idle_rounds < static_cast<int>(publishers_.size())) {
      conn* p = publishers_[next_publisher_];
      next_publisher_ = (next_publisher_ + 1) % static_cast<int>(publishers_.size());
      if (!ready(p)) {
        ++idle_rounds;
        continue;
      }
      idle_rounds = 0;
      const int h = next_hospital_;
      next_hospital_ = (next_hospital_ + 1) % hospitals;
      if (!send_mutation(*p, h)) ++idle_rounds;
    }
    if (sends_ < due) behind_ = std::max(behind_, due - sends_);
    return;
  }
  // As fast as possible: fill every publisher's window, skipping hospitals whose slowest live
  // subscriber is more than max_lag_ events behind.
  for (conn* p : publishers_) {
    while (ready(p)) {
      int h = -1;
      for (int tries = 0; tries < hospitals; ++tries) {
        const int cand = (next_hospital_ + tries) % hospitals;
        const lag_tracker& lag = lag_[cand];
        if (max_lag_ <= 0 || lag.empty() || sent_per_hospital_[cand] - lag.min() < max_lag_) {
          h = cand;
          break;
        }
      }
      if (h < 0) return;  // every hospital is at its lag limit
      next_hospital_ = (h + 1) % hospitals;
      if (!send_mutation(*p, h)) break;
    }
  }
}

std::string loop::mutation_input(int publisher, int64_t seq, int hospital, int64_t now) {
  std::string in;
  in.reserve(200 + cfg_.payload_bytes);
  in += "{\"hospitalId\":";
  append_json_string(in, cfg_.hospital_ids[hospital]);
  in += ",\"roomNumber\":\"A1\",\"alertType\":\"fire\",\"urgencyLevel\":1,\"description\":\"bench:";
  in += std::to_string(publisher);
  in += ':';
  in += std::to_string(seq);
  in += ':';
  in += std::to_string(now);
  if (cfg_.payload_bytes > 0) {
    in += ' ';
    in.append(cfg_.payload_bytes, 'x');
  }
  in += "\"}";
  return in;
}

bool loop::send_mutation(conn& pub, int hospital) {
  const int64_t now = mono_ns();
  auto& log = sent_[pub.index];
  const int64_t seq = static_cast<int64_t>(log.size());
  const std::string input = mutation_input(pub.index, seq, hospital, now);
  if (pub.kind == conn_kind::ws_publisher) {
    std::string frame;
    frame.reserve(input.size() + 100);
    frame += "{\"id\":";
    frame += std::to_string(seq + 1);  // request id = seq + 1 (0 is avoided)
    frame += ",\"method\":\"mutation\",\"params\":{\"path\":\"healthcare.createAlert\",\"input\":";
    frame += input;
    frame += "}}";
    queue_frame(pub, std::move(frame));
  } else {
    std::string req;
    req.reserve(input.size() + 300 + cfg_.publisher_token.size());
    req += "POST ";
    req += cfg_.http_base;
    req += "/healthcare.createAlert HTTP/1.1\r\nHost: ";
    req += cfg_.host;
    req += ':';
    req += std::to_string(cfg_.publisher_port != 0 ? cfg_.publisher_port : cfg_.port);
    req += "\r\nAuthorization: Bearer ";
    req += cfg_.publisher_token;
    req += "\r\nContent-Type: application/json\r\nContent-Length: ";
    req += std::to_string(input.size());
    req += "\r\n\r\n";
    req += input;
    pub.http_pending.push_back(seq);
    queue_frame(pub, std::move(req));
  }
  sent_event e;
  e.hospital = hospital;
  e.round = round_;
  e.send_ns = now;
  log.push_back(e);
  ++pub.inflight;
  ++sends_;
  ++sent_per_hospital_[hospital];
  if (first_send_ns_ == 0) first_send_ns_ = now;
  last_send_ns_ = now;
  return true;
}

void loop::queue_text(conn& c, std::string text) {
  // Raw subscribers frame their messages themselves; lws frames the WS publishers' ones.
  queue_frame(c, c.kind == conn_kind::subscriber ? ws_client_frame(0x1, text) : std::move(text));
}

std::string loop::connection_params(const conn& c) const {
  return connection_params_frame(c.kind == conn_kind::subscriber ? cfg_.subscriber_tokens[c.hospital]
                                                                 : cfg_.publisher_token);
}

std::string loop::subscription(const conn& c) const {
  return subscribe_alerts_frame(cfg_.hospital_ids[c.hospital],
                                resubscribe_with_last_id_ ? c.last_event_id : std::string());
}

void loop::on_upgraded(conn& c) {
  --connecting_;
  c.state = conn_state::open;
  c.upgraded = true;
  c.connect_attempts = 0;
  if (c.stalled && cfg_.stall_rcvbuf > 0) {
    // A small receive buffer (autotuning off) closes a stalled reader's window sooner.
    const int size = cfg_.stall_rcvbuf;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  queue_frame(c, ws_client_frame(0x1, connection_params(c)));
  queue_frame(c, ws_client_frame(0x1, subscription(c)));
}

namespace {

/// Bytes a server frame starting at `b` needs in all: header, mask key and payload. 0 while the
/// `avail` bytes do not hold the whole header yet; SIZE_MAX for a frame over max_message_bytes.
size_t frame_size(const unsigned char* b, size_t avail) {
  if (avail < 2) return 0;
  uint64_t length = b[1] & 0x7f;
  size_t header = 2;
  if (length == 126) {
    if (avail < 4) return 0;
    length = (uint64_t{b[2]} << 8) | b[3];
    header = 4;
  } else if (length == 127) {
    if (avail < 10) return 0;
    length = 0;
    for (int i = 2; i < 10; ++i) length = (length << 8) | b[i];
    header = 10;
  }
  if (length > max_message_bytes) return SIZE_MAX;
  if (b[1] & 0x80) header += 4;  // a server should not mask, but one that does is understood
  return header + static_cast<size_t>(length);
}

} // namespace

int loop::on_subscriber_bytes(conn& c, char* data, size_t len, int64_t now) {
  if (!c.upgraded) {
    // The HTTP answer to the upgrade (small, once per connection): collected in c.rx.
    c.rx.append(data, len);
    const size_t end = c.rx.find("\r\n\r\n");
    if (end == std::string::npos) return c.rx.size() > 16384 ? -1 : 0;
    const int status = c.rx.size() > 12 ? std::atoi(c.rx.c_str() + 9) : 0;
    if (status != 101) {
      ++connect_errors_["upgrade answered HTTP " + std::to_string(status)];
      c.close_code = -1;
      return -1;  // RAW_CLOSE follows; a connect phase retries it
    }
    on_upgraded(c);
    c.rx.erase(0, end + 4);
    const ptrdiff_t used = on_frames(c, c.rx.data(), c.rx.size(), now);
    if (used < 0) return -1;
    c.rx.erase(0, static_cast<size_t>(used));
    return 0;
  }
  // Frames are parsed where they lie. Only a frame cut by the end of an earlier read is
  // completed in c.rx, taking from `data` exactly the bytes it lacks.
  while (!c.rx.empty()) {
    const auto* head = reinterpret_cast<const unsigned char*>(c.rx.data());
    size_t need = frame_size(head, c.rx.size());
    if (need == SIZE_MAX) return -1;
    const bool whole_header = need != 0;
    if (!whole_header) need = c.rx.size() < 2 ? 2 : ((head[1] & 0x7f) == 126 ? 4 : 10);
    const size_t take = std::min(need - c.rx.size(), len);
    c.rx.append(data, take);
    data += take;
    len -= take;
    if (c.rx.size() < need) return 0;  // still incomplete, and `data` is used up
    if (!whole_header) continue;       // the header is whole now: find the frame's size
    const ptrdiff_t used = on_frames(c, c.rx.data(), c.rx.size(), now);
    if (used < 0) return -1;
    c.rx.clear();
  }
  const ptrdiff_t used = on_frames(c, data, len, now);
  if (used < 0) return -1;
  if (static_cast<size_t>(used) < len) c.rx.assign(data + used, len - static_cast<size_t>(used));
  return 0;
}

ptrdiff_t loop::on_frames(conn& c, char* data, size_t len, int64_t now) {
  // Server frames: unmasked, header of 2, 4 or 10 bytes (plus 4 if a server masks anyway).
  size_t pos = 0;
  while (len - pos >= 2) {
    auto* b = reinterpret_cast<unsigned char*>(data + pos);
    const size_t total = frame_size(b, len - pos);
    if (total == SIZE_MAX) return -1;
    if (total == 0 || total > len - pos) break;
    const bool fin = (b[0] & 0x80) != 0;
    const unsigned opcode = b[0] & 0x0f;
    const bool masked = (b[1] & 0x80) != 0;
    const size_t length7 = b[1] & 0x7f;
    const size_t header = (length7 == 126 ? 4 : length7 == 127 ? 10 : 2) + (masked ? 4 : 0);
    const size_t length = total - header;
    char* payload = data + pos + header;
    if (masked) {
      const unsigned char* key = b + header - 4;
      for (size_t i = 0; i < length; ++i) payload[i] ^= static_cast<char>(key[i & 3]);
    }
    const std::string_view message(payload, length);
    pos += total;
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (fin) on_ws_message(c, message, now);
        else c.frag.assign(message);
        break;
      case 0x0:
        c.frag.append(message);
        if (c.frag.size() > max_message_bytes) return -1;
        if (fin) {
          std::string whole;
          whole.swap(c.frag);
          on_ws_message(c, whole, now);
        }
        break;
      case 0x8:
        c.close_code = length >= 2 ? ((static_cast<unsigned char>(message[0]) << 8) |
                                      static_cast<unsigned char>(message[1]))
                                   : 1005;
        return -1;
      case 0x9:
        queue_frame(c, ws_client_frame(0xA, message));
        break;
      default:
        break;  // pong and anything unknown
    }
    if (c.state != conn_state::open) return -1;
  }
  return static_cast<ptrdiff_t>(pos);
}

void loop::queue_frame(conn& c, std::string frame) {
  if (c.kind == conn_kind::subscriber) {
    sub_send(c, frame);
    return;
  }
  c.outbox.push_back(std::move(frame));
  if (c.wsi != nullptr) want_writeable(c.wsi);
}

void loop::on_reply(conn& pub, int64_t seq, bool ok, std::string_view error_code) {
  auto& log = sent_[pub.index];
  if (seq < 0 || seq >= static_cast<int64_t>(log.size()) || log[seq].status != 0) {
    ++unexpected_replies_;
    return;
  }
  sent_event& e = log[seq];
  e.status = ok ? 1 : 2;
  --pub.inflight;
  rtt_.add(mono_ns() - e.send_ns);
  if (ok) {
    if (e.round == round_) ++ok_per_hospital_[e.hospital];
  } else {
    ++errors_[error_code.empty() ? std::string("(unknown)") : std::string(error_code)];
  }
}

// ---- receiving -----------------------------------------------------------------------------------

void loop::on_ws_message(conn& c, std::string_view text, int64_t now) {
  const scanned_frame f = scan_frame(text, c.kind == conn_kind::subscriber ? &c.marker_hint : nullptr);
  switch (f.type) {
    case scanned_frame::kind::ping:
      queue_text(c, "PONG");
      return;
    case scanned_frame::kind::started:
      if (c.kind == conn_kind::subscriber && !c.started) {
        c.started = true;
        c.started_ns = now;
        if (!c.stalled) lag_[c.hospital].add(c.received);
        else sub_watch(c);  // stop reading
      }
      return;
    case scanned_frame::kind::data:
      if (c.kind == conn_kind::subscriber) on_subscriber_data(c, f, now);
      else if (f.id > 0) on_reply(c, f.id - 1, true, {});
      return;
    case scanned_frame::kind::error:
      if (c.kind != conn_kind::subscriber && f.id > 0) {
        on_reply(c, f.id - 1, false, f.error_code);
      } else {
        ++errors_[(c.kind == conn_kind::subscriber ? "subscribe: " : "") + std::string(f.error_code)];
      }
      return;
    case scanned_frame::kind::reconnect:
      ++errors_["server sent reconnect"];
      return;
    default:
      return;
  }
}

void loop::on_subscriber_data(conn& c, const scanned_frame& f, int64_t now) {
  if (!f.event_id.empty()) {
    c.last_event_id.assign(f.event_id.data(), f.event_id.size());
  }
  if (!f.has_marker) {
    if (f.resync) ++c.resyncs;
    else ++c.other_events;
    return;
  }
  if (f.publisher >= static_cast<int>(sent_.size()) ||
      f.seq >= static_cast<int64_t>(sent_[f.publisher].size())) {
    ++c.foreign;
    return;
  }
  sent_event& e = sent_[f.publisher][f.seq];
  if (e.hospital != c.hospital) {
    ++c.wrong_hospital;
    return;
  }
  if (!c.seen.insert(f.publisher, f.seq)) {
    ++c.duplicates;
    return;
  }
  const int64_t id_seq = event_seq(f.event_id);
  if (id_seq >= 0) {
    if (id_seq <= c.last_seq) ++c.out_of_order;
    c.last_seq = id_seq;
  }
  if (e.round != round_) return;  // an event of an earlier round (e.g. the storm's marker event)
  if (!c.stalled) lag_[c.hospital].advance(c.received);
  ++c.received;
  if (c.caught_up_ns == 0 && c.received >= ok_per_hospital_[c.hospital] && !publishing_ &&
      inflight_total() == 0)
    c.caught_up_ns = now;
  if (c.stalled || !measuring_) return;  // the throughput counts live, reading subscribers only
  ++deliveries_;
  if (first_delivery_ns_ == 0) first_delivery_ns_ = now;
  last_delivery_ns_ = now;
  latency_.add(now - f.send_ns);
  if (!e.delivered_once) {
    e.delivered_once = true;
    latency_first_.add(now - f.send_ns);
  }
}

void loop::on_http_bytes(conn& c) {
  // Parses as many complete responses as c.rx holds (Content-Length or chunked bodies).
  while (true) {
    const size_t head_end = c.rx.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    const std::string_view head(c.rx.data(), head_end);
    int status = 0;
    if (head.size() > 12 && head.substr(0, 5) == "HTTP/") status = std::atoi(head.data() + 9);
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    size_t body_start = head_end + 4;
    std::string body;
    size_t consumed = 0;
    const size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      const size_t length = static_cast<size_t>(std::atoll(lower.c_str() + cl + 17));
      if (c.rx.size() < body_start + length) return;
      body = c.rx.substr(body_start, length);
      consumed = body_start + length;
    } else if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      size_t pos = body_start;
      bool complete = false;
      while (true) {
        const size_t line_end = c.rx.find("\r\n", pos);
        if (line_end == std::string::npos) break;
        const size_t size = std::strtoul(c.rx.c_str() + pos, nullptr, 16);
        if (size == 0) {
          if (c.rx.size() < line_end + 4) break;
          consumed = line_end + 4;  // "0\r\n\r\n" (no trailers expected)
          complete = true;
          break;
        }
        if (c.rx.size() < line_end + 2 + size + 2) break;
        body.append(c.rx, line_end + 2, size);
        pos = line_end + 2 + size + 2;
      }
      if (!complete) return;
    } else {
      consumed = body_start;  // no body
    }
    c.rx.erase(0, consumed);
    if (c.http_pending.empty()) {
      ++unexpected_replies_;
      continue;
    }
    const int64_t seq = c.http_pending.front();
    c.http_pending.pop_front();
    const bool ok = status == 200 && body.find("\"result\"") != std::string::npos;
    std::string code;
    if (!ok) {
      const size_t at = body.find("\"code\":\"");
      code = at != std::string::npos ? body.substr(at + 8, body.find('"', at + 8) - at - 8)
                                     : "HTTP " + std::to_string(status);
    }
    on_reply(c, seq, ok, code);
  }
}

void loop::on_closed(conn& c) {
  if (c.state != conn_state::connecting && c.state != conn_state::open) return;  // already done
  if (c.state == conn_state::connecting) {
    --connecting_;
    if (retry_failed_ && c.kind == conn_kind::subscriber) {
      // Jittered, growing delay: 50-100 ms, 100-200 ms, … capped at 1-2 s.
      const int64_t base_ms = std::min<int64_t>(int64_t{100} << std::min(c.connect_attempts, 4), 2000);
      const int64_t jitter_ms = base_ms / 2 + static_cast<int64_t>(std::rand() % (base_ms / 2 + 1));
      ++c.connect_attempts;
      ++connect_retries_;
      c.state = conn_state::waiting;
      c.wsi = nullptr;
      c.retry_at_ns = mono_ns() + jitter_ms * 1'000'000;
      retry_list_.push_back(&c);
      return;
    }
  }
  if (c.kind != conn_kind::subscriber && c.lws_fd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.lws_fd, nullptr);  // before lws closes it
    c.lws_fd = -1;
  }
  const bool was_open = c.state == conn_state::open;
  if (c.kind == conn_kind::subscriber && c.started && !c.stalled && was_open)
    lag_[c.hospital].remove(c.received);
  if (c.close_code == 0) c.close_code = 1006;
  if (was_open && !c.close_requested) {
    c.closed_in_run = true;
    ++close_codes_[c.close_code];
  }
  c.state = conn_state::closed;
  c.wsi = nullptr;
  c.started = false;
  c.upgraded = false;
  // Requests in flight on a dead publisher connection never get a reply.
  c.inflight = 0;
}

int loop::on_writeable(conn& c) {
  if (c.outbox.empty()) {
    if (c.close_requested && c.kind == conn_kind::ws_publisher) {
      lws_close_reason(c.wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
      return -1;
    }
    return 0;
  }
  const auto mode = c.kind == conn_kind::ws_publisher ? LWS_WRITE_TEXT : LWS_WRITE_RAW;
  if (!lwsc::write_front(c.wsi, c.outbox, write_buffer_, mode)) return -1;
  if (!c.outbox.empty() || c.close_requested) want_writeable(c.wsi);
  return 0;
}

int loop::on_event(lws* wsi, int reason_int, conn* c, void* in, size_t len) {
  const auto reason = static_cast<lws_callback_reasons>(reason_int);
  if (c->wsi != nullptr && c->wsi != wsi) return 0;  // a stale wsi of an earlier connection
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      if (c->state != conn_state::connecting) return -1;
      --connecting_;
      c->state = conn_state::open;
      c->wsi = wsi;
      c->connect_attempts = 0;
      // A WS publisher (lws-framed): connectionParams first, then it is ready.
      c->outbox.push_front(connection_params(*c));
      c->started = true;
      c->started_ns = mono_ns();
      watch_publisher(*c);
      want_writeable(wsi);
      return 0;
    }
    case LWS_CALLBACK_RAW_CONNECTED:
      if (c->state != conn_state::connecting) return -1;
      --connecting_;
      c->state = conn_state::open;
      c->wsi = wsi;
      c->started = true;
      c->started_ns = mono_ns();
      watch_publisher(*c);
      if (!c->outbox.empty()) want_writeable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      const std::string why = in != nullptr ? std::string(static_cast<const char*>(in)) : "connection failed";
      ++connect_errors_[why.empty() ? "connection failed" : why];
      c->close_code = -1;
      on_closed(*c);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return lwsc::receive(c->rx, wsi, in, len, max_message_bytes,
                           [&](std::string_view message) { on_ws_message(*c, message, mono_ns()); })
                 ? 0
                 : -1;
    case LWS_CALLBACK_RAW_RX:
      c->rx.append(static_cast<const char*>(in), len);
      on_http_bytes(*c);
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_RAW_WRITEABLE:
      return on_writeable(*c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      c->close_code = lwsc::peer_close_code(in, len);
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_RAW_CLOSE:
      on_closed(*c);
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      // The last word on any connection: covers ends that raised no other callback.
      if (c->state == conn_state::connecting) {
        ++connect_errors_["connection failed"];
        c->close_code = -1;
      }
      on_closed(*c);
      return 0;
    default:
      return 0;
  }
}

} // namespace vigil::ctl::bench

// vigilctl bench: one libwebsockets client context with every connection of the run, serviced
// on the calling thread. See vigilctl_bench.hpp.
//
// WS publishers are lws WebSocket clients. Subscribers and HTTP publishers are lws RAW client
// connections: HTTP publishers speak HTTP/1.1 keep-alive themselves (one request in flight per
// connection); subscribers do the WebSocket upgrade and framing themselves, because the lws 4.1
// client parser handles received frames one byte per call (lws_ws_client_rx_sm), which cost the
// generator more CPU per delivered frame than the server spent sending it. Everything stays in
// the same poll loop. A 1 ms lws timer makes lws_service() return at least every millisecond, so
// the publishers' pacing and the deadlines run on time.

#include "tools/vigilctl_bench.hpp"

#include <libwebsockets.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace vigil::ctl::bench {

namespace {

constexpr const char* ws_protocol = "vigilctl-bench-ws";
constexpr const char* raw_protocol = "vigilctl-bench-raw";
constexpr size_t rx_buffer_bytes = 4096;        // per WS publisher; bigger frames come in pieces
constexpr size_t max_message_bytes = 1 << 20;   // a server frame larger than this is a bug
constexpr int64_t tick_us = 1000;

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

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}

} // namespace

struct loop::tick_timer {
  lws_sorted_usec_list_t sul;  // first member: the callback casts back from it
  lws_context* context = nullptr;
};

namespace {
void on_tick(lws_sorted_usec_list_t* sul) {
  auto* timer = reinterpret_cast<loop::tick_timer*>(sul);
  // Nothing to do but re-arm: the point is that lws_service() returns at least every tick.
  lws_sul_schedule(timer->context, 0, sul, on_tick, tick_us);
}
} // namespace

loop::loop(loop_config cfg) : cfg_(std::move(cfg)), tick_(std::make_unique<tick_timer>()) {
  std::memset(&tick_->sul, 0, sizeof tick_->sul);
}

loop::~loop() {
  if (ctx_ != nullptr) {
    lws_sul_cancel(&tick_->sul);
    lws_context_destroy(ctx_);
  }
}

bool loop::init(std::string* error) {
  lws_set_log_level(0, nullptr);
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  info.user = this;
  info.fd_limit_per_thread = static_cast<unsigned int>(cfg_.max_fds);
  info.pt_serv_buf_size = 65536;  // one read() takes up to 64 KiB: many frames per syscall
  info.timeout_secs = 30;
  ctx_ = lws_create_context(&info);
  if (ctx_ == nullptr) {
    *error = "cannot create the libwebsockets client context";
    return false;
  }
  tick_->context = ctx_;
  lws_sul_schedule(ctx_, 0, &tick_->sul, on_tick, tick_us);
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
    if (c->state == conn_state::open && c->wsi != nullptr) {
      c->close_requested = true;
      lws_callback_on_writable(c->wsi);
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
  if (!cfg_.source_ips.empty()) {
    c.source_ip = cfg_.source_ips[source_ip_next_++ % cfg_.source_ips.size()];
  }
  ++connecting_;
  const bool v6 = cfg_.host.find(':') != std::string::npos;
  const std::string host_header = (v6 ? "[" + cfg_.host + "]" : cfg_.host) + ":" + std::to_string(cfg_.port);
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = ctx_;
  ci.address = cfg_.host.c_str();
  ci.port = cfg_.port;
  ci.host = host_header.c_str();
  ci.origin = nullptr;
  ci.protocol = nullptr;
  ci.userdata = &c;
  ci.pwsi = &c.wsi;
  ci.iface = c.source_ip.empty() ? nullptr : c.source_ip.c_str();
  // No lws validity (ping/hang-up) timers: each one is an entry in a sorted list that every
  // new connection walks, which made connecting 15,000 clients quadratic. The servers' own
  // text PING/PONG keep-alive is answered in on_ws_message.
  static const lws_retry_bo_t no_validity_checks = {};
  ci.retry_and_idle_policy = &no_validity_checks;
  if (c.kind != conn_kind::ws_publisher) {
    ci.method = "RAW";
    ci.path = "";
    ci.local_protocol_name = raw_protocol;
  } else {
    ci.path = cfg_.ws_path.c_str();
    ci.local_protocol_name = ws_protocol;
  }
  if (lws_client_connect_via_info(&ci) == nullptr && c.state == conn_state::connecting) {
    // Failed synchronously without a callback.
    ++connect_errors_["connect failed"];
    c.close_code = -1;
    c.wsi = nullptr;
    on_closed(c);
  }
}

void loop::service_once() {
  lws_service(ctx_, 0);
  const int64_t now = mono_ns();
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
  if (c.wsi != nullptr) {
    if (!stalled && cfg_.stall_rcvbuf > 0) {
      // Reopen the window wide: with the small buffer, the sender's zero-window probes back off
      // for seconds and the reader would see almost nothing of what is queued for it.
      const int size = 4 << 20;
      setsockopt(lws_get_socket_fd(c.wsi), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
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

// ---- publishing ------------------------------------------------------------------------------------

void loop::start_publishing(double rate, int window, int64_t max_lag, int64_t until_ns, int round) {
  publishing_ = true;
  fixed_mode_ = false;
  rate_ = rate;
  window_ = std::max(window, 1);
  max_lag_ = max_lag;
  publish_start_ns_ = mono_ns();
  publish_until_ns_ = until_ns;
  sends_ = 0;
  behind_ = 0;
  round_ = round;
  std::fill(ok_per_hospital_.begin(), ok_per_hospital_.end(), 0);
  std::fill(sent_per_hospital_.begin(), sent_per_hospital_.end(), 0);
  first_send_ns_ = 0;
  last_send_ns_ = 0;
  // The lag trackers count from the round's start, like sent_per_hospital_.
  reset_subscriber_counts();
  pump();
}

void loop::publish_fixed(int per_hospital, int window, int round) {
  publishing_ = true;
  fixed_mode_ = true;
  fixed_per_hospital_ = per_hospital;
  fixed_sent_.assign(ok_per_hospital_.size(), 0);
  window_ = std::max(window, 1);
  max_lag_ = 0;
  rate_ = 0;
  publish_start_ns_ = mono_ns();
  publish_until_ns_ = INT64_MAX;
  sends_ = 0;
  behind_ = 0;
  round_ = round;
  std::fill(ok_per_hospital_.begin(), ok_per_hospital_.end(), 0);
  std::fill(sent_per_hospital_.begin(), sent_per_hospital_.end(), 0);
  first_send_ns_ = 0;
  last_send_ns_ = 0;
  pump();
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
    req += std::to_string(cfg_.port);
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
  const std::string& token =
      c.kind == conn_kind::subscriber ? cfg_.subscriber_tokens[c.hospital] : cfg_.publisher_token;
  std::string params = "{\"method\":\"connectionParams\",\"data\":{\"authorization\":";
  append_json_string(params, "Bearer " + token);
  params += "}}";
  return params;
}

std::string loop::subscription(const conn& c) const {
  std::string sub = "{\"id\":1,\"method\":\"subscription\",\"params\":{\"path\":"
                    "\"healthcare.subscribeToAlerts\",\"input\":{\"hospitalId\":";
  append_json_string(sub, cfg_.hospital_ids[c.hospital]);
  sub += '}';
  if (resubscribe_with_last_id_ && !c.last_event_id.empty()) {
    sub += ",\"lastEventId\":";
    append_json_string(sub, c.last_event_id);
  }
  sub += "}}";
  return sub;
}

void loop::on_upgraded(conn& c) {
  --connecting_;
  c.state = conn_state::open;
  c.upgraded = true;
  c.connect_attempts = 0;
  if (c.stalled && cfg_.stall_rcvbuf > 0) {
    // A small receive buffer (autotuning off) closes a stalled reader's window sooner.
    const int size = cfg_.stall_rcvbuf;
    setsockopt(lws_get_socket_fd(c.wsi), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  queue_frame(c, ws_client_frame(0x1, connection_params(c)));
  queue_frame(c, ws_client_frame(0x1, subscription(c)));
}

int loop::on_raw_ws_bytes(conn& c) {
  size_t pos = 0;
  if (!c.upgraded) {
    const size_t end = c.rx.find("\r\n\r\n");
    if (end == std::string::npos) return c.rx.size() > 16384 ? -1 : 0;
    const int status = c.rx.size() > 12 ? std::atoi(c.rx.c_str() + 9) : 0;
    if (status != 101) {
      ++connect_errors_["upgrade answered HTTP " + std::to_string(status)];
      c.close_code = -1;
      return -1;  // RAW_CLOSE follows; a connect phase retries it
    }
    on_upgraded(c);
    pos = end + 4;
  }
  // Server frames: unmasked, header of 2, 4 or 10 bytes (plus 4 if a server masks anyway).
  while (c.rx.size() - pos >= 2) {
    auto* b = reinterpret_cast<unsigned char*>(&c.rx[pos]);
    const size_t avail = c.rx.size() - pos;
    const bool fin = (b[0] & 0x80) != 0;
    const unsigned opcode = b[0] & 0x0f;
    const bool masked = (b[1] & 0x80) != 0;
    uint64_t length = b[1] & 0x7f;
    size_t header = 2;
    if (length == 126) {
      if (avail < 4) break;
      length = (uint64_t{b[2]} << 8) | b[3];
      header = 4;
    } else if (length == 127) {
      if (avail < 10) break;
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | b[i];
      header = 10;
    }
    if (length > max_message_bytes) return -1;
    const size_t mask_at = header;
    if (masked) header += 4;
    if (avail < header + length) break;
    char* payload = &c.rx[pos + header];
    if (masked)
      for (size_t i = 0; i < length; ++i) payload[i] ^= static_cast<char>(b[mask_at + (i & 3)]);
    const std::string_view data(payload, static_cast<size_t>(length));
    pos += header + static_cast<size_t>(length);
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (fin) on_ws_message(c, data);
        else c.frag.assign(data);
        break;
      case 0x0:
        c.frag.append(data);
        if (c.frag.size() > max_message_bytes) return -1;
        if (fin) {
          std::string message;
          message.swap(c.frag);
          on_ws_message(c, message);
        }
        break;
      case 0x8:
        c.close_code = length >= 2 ? ((static_cast<unsigned char>(data[0]) << 8) | static_cast<unsigned char>(data[1]))
                                   : 1005;
        return -1;
      case 0x9:
        queue_frame(c, ws_client_frame(0xA, data));
        break;
      default:
        break;  // pong and anything unknown
    }
    if (c.state != conn_state::open) return -1;
  }
  c.rx.erase(0, pos);
  return 0;
}

void loop::queue_frame(conn& c, std::string frame) {
  c.outbox.push_back(std::move(frame));
  if (c.wsi != nullptr) lws_callback_on_writable(c.wsi);
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

void loop::on_ws_message(conn& c, std::string_view text) {
  const scanned_frame f = scan_frame(text);
  switch (f.type) {
    case scanned_frame::kind::ping:
      queue_text(c, "PONG");
      return;
    case scanned_frame::kind::started:
      if (c.kind == conn_kind::subscriber && !c.started) {
        c.started = true;
        c.started_ns = mono_ns();
        if (!c.stalled) lag_[c.hospital].add(c.received);
        else if (c.wsi != nullptr) lws_rx_flow_control(c.wsi, 0);
      }
      return;
    case scanned_frame::kind::data:
      if (c.kind == conn_kind::subscriber) on_subscriber_data(c, f);
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

void loop::on_subscriber_data(conn& c, const scanned_frame& f) {
  const int64_t now = mono_ns();
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
    if (c.close_requested && c.kind == conn_kind::subscriber) {
      const std::string close = ws_client_frame(0x8, std::string_view("\x03\xe8", 2));  // 1000
      write_buffer_.resize(LWS_PRE + close.size());
      std::memcpy(write_buffer_.data() + LWS_PRE, close.data(), close.size());
      lws_write(c.wsi, write_buffer_.data() + LWS_PRE, close.size(), LWS_WRITE_RAW);
      return -1;
    }
    return 0;
  }
  const std::string& frame = c.outbox.front();
  write_buffer_.resize(LWS_PRE + frame.size());
  std::memcpy(write_buffer_.data() + LWS_PRE, frame.data(), frame.size());
  const auto mode = c.kind == conn_kind::ws_publisher ? LWS_WRITE_TEXT : LWS_WRITE_RAW;
  if (lws_write(c.wsi, write_buffer_.data() + LWS_PRE, frame.size(), mode) < static_cast<int>(frame.size()))
    return -1;
  c.outbox.pop_front();
  if (!c.outbox.empty() || c.close_requested) lws_callback_on_writable(c.wsi);
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
      lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_RAW_CONNECTED:
      if (c->state != conn_state::connecting) return -1;
      c->wsi = wsi;
      if (c->kind == conn_kind::subscriber) {
        // The upgrade request; the connection counts as connecting until the 101.
        const bool v6 = cfg_.host.find(':') != std::string::npos;
        std::string req = "GET " + cfg_.ws_path + " HTTP/1.1\r\nHost: " + (v6 ? "[" + cfg_.host + "]" : cfg_.host) +
                          ":" + std::to_string(cfg_.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dmlnaWxjdGwtYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        queue_frame(*c, std::move(req));
        return 0;
      }
      --connecting_;
      c->state = conn_state::open;
      c->wsi = wsi;
      c->started = true;
      c->started_ns = mono_ns();
      if (!c->outbox.empty()) lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      const std::string why = in != nullptr ? std::string(static_cast<const char*>(in)) : "connection failed";
      ++connect_errors_[why.empty() ? "connection failed" : why];
      c->close_code = -1;
      on_closed(*c);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      const bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
      if (c->rx.empty() && final) {
        on_ws_message(*c, std::string_view(static_cast<const char*>(in), len));
        return 0;
      }
      if (c->rx.size() + len > max_message_bytes) return -1;
      c->rx.append(static_cast<const char*>(in), len);
      if (!final) return 0;
      std::string message;
      message.swap(c->rx);
      on_ws_message(*c, message);
      return 0;
    }
    case LWS_CALLBACK_RAW_RX:
      c->rx.append(static_cast<const char*>(in), len);
      if (c->kind == conn_kind::subscriber) return on_raw_ws_bytes(*c);
      on_http_bytes(*c);
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_RAW_WRITEABLE:
      return on_writeable(*c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const auto* bytes = static_cast<const unsigned char*>(in);
      c->close_code = (bytes != nullptr && len >= 2) ? ((bytes[0] << 8) | bytes[1]) : 1005;
      return 0;
    }
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

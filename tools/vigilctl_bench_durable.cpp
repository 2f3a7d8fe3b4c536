// `vigilctl bench durable`: the load client of the durable event log benchmarks
// (bench/durable.sh; formerly bench/durable_load). Its connections are a small pool on one
// libwebsockets client context (the lws plumbing is tools/lws_client.hpp, shared with the bench
// loop and ws_client); frames are scanned by prefix, no JSON tree.
//
//   create  N WebSocket connections on one libwebsockets event loop, each keeping a window of
//           createAlert mutations in flight (spread over H hospitals); counts success replies
//           over a measured interval after a warm-up, and samples the server's CPU time (per
//           thread, from /proc) and its storage commit counters (/metrics) at both ends.
//   replay  fills one hospital with E events (pipelined createAlert, a live subscriber records
//           the event ids), then subscribes again with lastEventId = the first event's id and
//           times the arrival of the last one (E-1 events replayed), several times.
//   resume  only the timed re-subscription of `replay`, for given ids (e.g. after a restart).
//   lifecycle  the soak's load (bench/soak.sh): N full alert lifecycles (createAlert,
//           acknowledgeAlert, resolveAlert) over C connections, each keeping a window of
//           lifecycles in flight, spread over H hospitals, while S subscribers per hospital
//           receive every event; progress is written to a file every second.
//
// Output: `key=value` lines on stdout (bench/durable.sh reads them), diagnostics on stderr.
// Loopback only; every phase has a deadline, so a run is bounded whatever the server does.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "domain/auth.hpp"
#include "tools/lws_client.hpp"
#include "tools/vigilctl_bench.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl::durable {

namespace {

using bench::append_json_string;
using bench::connection_params_frame;
using bench::event_seq;
using bench::mono_ns;
using bench::subscribe_alerts_frame;

constexpr const char* program = "vigilctl bench durable";

// ---- small helpers ------------------------------------------------------------------------------

double ms_between(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

void print_kv(const std::string& key, const std::string& value) {
  std::printf("%s=%s\n", key.c_str(), value.c_str());
}

void print_kv(const std::string& key, double value) {
  std::printf("%s=%.3f\n", key.c_str(), value);
}

void print_kv(const std::string& key, int64_t value) {
  std::printf("%s=%lld\n", key.c_str(), static_cast<long long>(value));
}

/// CPU seconds (user + system) of this process.
double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

/// utime + stime (seconds) from a /proc/.../stat file, and the thread name. nullopt when unreadable.
std::optional<std::pair<std::string, double>> read_proc_stat(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto open = line.find('(');
  auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  std::string name = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // Fields after the name start at 3 (state); utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (rest >> field); ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return std::make_pair(name, static_cast<double>(utime + stime) / tick);
}

/// CPU seconds of every thread of `pid`, by "name/tid"; empty when the process is unreadable.
std::map<std::string, double> server_thread_cpu(int pid) {
  std::map<std::string, double> out;
  if (pid <= 0) return out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (auto s = read_proc_stat(dir + "/" + e->d_name + "/stat"))
      out[s->first + "/" + e->d_name] = s->second;
  }
  closedir(d);
  return out;
}

double server_cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  auto s = read_proc_stat("/proc/" + std::to_string(pid) + "/stat");
  return s ? s->second : 0;
}

struct http_result {
  int status = 0;     // 0 when there was no answer
  std::string body;
};

/// A blocking `GET path` on 127.0.0.1:port (HTTP/1.1, Connection: close), with an
/// `Authorization: Bearer` header when `token` is not empty.
http_result http_get(int port, const std::string& path, const std::string& token = "") {
  http_result out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += "\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  auto body = response.find("\r\n\r\n");
  if (response.compare(0, 9, "HTTP/1.1 ") != 0 || body == std::string::npos) return out;
  out.status = std::atoi(response.c_str() + 9);
  out.body = response.substr(body + 4);
  return out;
}

/// The storage counters of /metrics.
struct storage_counters {
  double commits = 0;
  double items = 0;
  double seconds = 0;
  bool ok = false;
};

double metric_value(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::strtod(text.c_str() + at + name.size() + 2, nullptr);
}

storage_counters read_storage_counters(int port) {
  storage_counters c;
  auto answer = http_get(port, "/metrics");
  if (answer.status != 200) return c;
  const std::string text = "\n" + answer.body;
  c.commits = metric_value(text, "vigil_storage_commits_total");
  c.items = metric_value(text, "vigil_storage_commit_items_total");
  c.seconds = metric_value(text, "vigil_storage_commit_seconds_sum");
  c.ok = true;
  return c;
}

// ---- server frames ------------------------------------------------------------------------------

enum class frame_kind { ok, error, started, data, stopped, ping, other };

struct frame_info {
  frame_kind kind = frame_kind::other;
  int64_t id = -1;
  std::string_view event_id;   // data frames of an alert stream
  std::string_view error_code; // error frames: error.data.code
};

/// Classifies a server frame from its prefix (vigild writes `{"id":N,"result":{"type":"…"` and
/// `{"id":N,"error":…` in that order): no JSON tree for 50,000 frames a second.
frame_info scan_frame(std::string_view t) {
  frame_info f;
  if (t == "PING") {
    f.kind = frame_kind::ping;
    return f;
  }
  constexpr std::string_view id_prefix = "{\"id\":";
  if (t.substr(0, id_prefix.size()) != id_prefix) return f;
  size_t i = id_prefix.size();
  int64_t id = 0;
  bool digits = false;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
    id = id * 10 + (t[i] - '0');
    ++i;
    digits = true;
  }
  if (digits) f.id = id;
  auto rest = t.substr(i);
  constexpr std::string_view result_prefix = ",\"result\":{\"type\":\"";
  constexpr std::string_view error_prefix = ",\"error\":";
  if (rest.substr(0, error_prefix.size()) == error_prefix) {
    f.kind = frame_kind::error;
    constexpr std::string_view code_key = "\"data\":{\"code\":\"";
    auto at = rest.find(code_key);
    if (at != std::string_view::npos) {
      auto from = at + code_key.size();
      f.error_code = rest.substr(from, rest.find('"', from) - from);
    }
    return f;
  }
  if (rest.substr(0, result_prefix.size()) != result_prefix) return f;
  rest = rest.substr(result_prefix.size());
  if (rest.substr(0, 8) == "started\"") {
    f.kind = frame_kind::started;
  } else if (rest.substr(0, 8) == "stopped\"") {
    f.kind = frame_kind::stopped;
  } else if (rest.substr(0, 5) == "data\"") {
    // A subscription item carries `"id":"<event id>"` right after the type; a reply does not.
    constexpr std::string_view event_key = "data\",\"id\":\"";
    if (rest.substr(0, event_key.size()) == event_key) {
      f.kind = frame_kind::data;
      auto from = event_key.size();
      f.event_id = rest.substr(from, rest.find('"', from) - from);
    } else {
      f.kind = frame_kind::ok;
    }
  }
  return f;
}

// ---- the connection pool -----------------------------------------------------------------------

struct conn {
  int index = 0;
  std::string hospital;
  lws* wsi = nullptr;
  bool open = false;
  bool closed = false;
  int close_code = 0;
  std::deque<std::string> outbox;
  std::string rx;
  int64_t next_id = 1;
  int inflight = 0;
  std::vector<int64_t> send_ns; // by request id modulo its size: the send time of a mutation
};

/// Every connection of a run on one lws client context, serviced on the calling thread.
class pool {
public:
  struct handlers {
    std::function<void(conn&)> on_open;
    std::function<void(conn&, std::string_view)> on_message;
  };

  pool(std::string host, int port, std::string token)
      : host_(std::move(host)), port_(port), token_(std::move(token)) {}
  ~pool() {
    if (ctx_ != nullptr) {
      shutting_down_ = true; // the closes that follow are ours
      timer_.cancel();
      lws_context_destroy(ctx_);
    }
  }

  bool init(handlers h, std::string* error);
  conn& connect(std::string hospital);
  void send(conn& c, std::string frame);
  /// Services the loop until `done()` or the deadline; true when done() held.
  bool run_until(const std::function<bool()>& done, int64_t deadline_ns);
  const std::vector<std::unique_ptr<conn>>& conns() const { return conns_; }
  int open_count() const;
  int closed_count() const;

  int on_event(lws* wsi, lws_callback_reasons reason, conn* c, void* in, size_t len);

private:
  int on_writeable(conn& c);

  std::string host_;
  int port_;
  std::string token_;
  handlers h_;
  lws_context* ctx_ = nullptr;
  lwsc::deadline_timer timer_;
  std::vector<std::unique_ptr<conn>> conns_;
  std::vector<unsigned char> write_buffer_;
  bool shutting_down_ = false;
};

constexpr size_t max_message_bytes = 1 << 20;  // a server frame larger than this is a bug

int pool_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* owner = static_cast<pool*>(lws_context_user(lws_get_context(wsi)));
  if (owner == nullptr || user == nullptr) return 0;
  return owner->on_event(wsi, reason, static_cast<conn*>(user), in, len);
}

const lws_protocols protocols[] = {
  {"durable-load", pool_callback, 0, 65536, 0, nullptr, 0},
  {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

bool pool::init(handlers h, std::string* error) {
  h_ = std::move(h);
  lws_set_log_level(LLL_ERR, nullptr);
  lwsc::context_options co;
  co.protocols = protocols;
  co.user = this;
  co.service_buffer = 65536; // one read() takes up to 64 KiB: many frames per syscall
  co.timeout_secs = 10;
  ctx_ = lwsc::make_context(co, error);
  return ctx_ != nullptr;
}

conn& pool::connect(std::string hospital) {
  auto c = std::make_unique<conn>();
  c->index = static_cast<int>(conns_.size());
  c->hospital = std::move(hospital);
  c->send_ns.assign(4096, 0);
  conn& ref = *c;
  conns_.push_back(std::move(c));
  lwsc::connect_options ci;
  ci.context = ctx_;
  ci.address = host_.c_str();
  ci.port = port_;
  ci.path = "/api/trpc?connectionParams=1";
  ci.local_protocol = protocols[0].name;
  ci.userdata = &ref;
  ci.pwsi = &ref.wsi;
  if (lwsc::connect(ci) == nullptr) ref.closed = true;
  return ref;
}

void pool::send(conn& c, std::string frame) {
  c.outbox.push_back(std::move(frame));
  if (c.open && c.wsi != nullptr) lws_callback_on_writable(c.wsi);
}

bool pool::run_until(const std::function<bool()>& done, int64_t deadline_ns) {
  const int64_t timeout_ms = (deadline_ns - mono_ns() + 999'999) / 1'000'000;
  return lwsc::service_until(ctx_, timer_, done, timeout_ms, [] { return false; }, nullptr);
}

int pool::open_count() const {
  return static_cast<int>(std::count_if(conns_.begin(), conns_.end(),
                                        [](const auto& c) { return c->open; }));
}

int pool::closed_count() const {
  return static_cast<int>(std::count_if(conns_.begin(), conns_.end(),
                                        [](const auto& c) { return c->closed; }));
}

int pool::on_writeable(conn& c) {
  if (!lwsc::write_front(c.wsi, c.outbox, write_buffer_, LWS_WRITE_TEXT)) return -1;
  if (!c.outbox.empty()) lws_callback_on_writable(c.wsi);
  return 0;
}

int pool::on_event(lws* wsi, lws_callback_reasons reason, conn* c, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      c->wsi = wsi;
      c->open = true;
      c->outbox.push_front(connection_params_frame(token_));
      h_.on_open(*c);
      lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return lwsc::receive(c->rx, wsi, in, len, max_message_bytes,
                           [&](std::string_view message) { h_.on_message(*c, message); })
                 ? 0
                 : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return on_writeable(*c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      c->close_code = lwsc::peer_close_code(in, len);
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      std::fprintf(stderr, "%s: connection %d failed: %s\n", program, c->index,
                   in != nullptr ? static_cast<const char*>(in) : "?");
      c->open = false;
      c->closed = true;
      c->wsi = nullptr;
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
      if (c->open && !c->closed && !shutting_down_)
        std::fprintf(stderr, "%s: connection %d closed (code %d)\n", program, c->index,
                     c->close_code);
      c->open = false;
      c->closed = true;
      c->wsi = nullptr;
      return 0;
    default:
      return 0;
  }
}

// ---- options ------------------------------------------------------------------------------------

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string secret = "dev-secret-change-me";
  int pid = 0;
  // create
  int connections = 100;
  int window = 64;
  int hospitals = 10;
  std::string hospital_prefix = "durable-h";
  double warmup_s = 2;
  double duration_s = 10;
  /// Creates per second over all connections, sent on a fixed schedule whatever the replies
  /// (open loop; --window is then ignored); 0: every connection keeps --window in flight.
  double rate = 0;
  // replay / resume
  std::string hospital = "durable-replay";
  int events = 10001;
  int publishers = 4;
  int repeats = 3;
  std::string after_id;
  std::string until_id;
  // lifecycle
  int64_t lifecycles = 100000;
  int subscribers = 1;          // per hospital
  std::string progress_file;
  double max_seconds = 3600;
  int64_t token_ttl_s = 3600;
  int keepalive_ms = 0;         // send "PONG" on every connection this often (0: never)
  // startup
  std::string vigild;
  std::string db;
  std::string log = "/dev/null";
  std::vector<std::string> vigild_args; // after `--`
};

constexpr const char* usage =
  "Usage: vigilctl bench durable MODE --port P [options]\n"
  "\n"
  "The durable event log benchmarks (bench/durable.sh, docs/benchmarks.md): key=value lines on\n"
  "stdout, diagnostics on stderr. Loopback (127.0.0.1) only; every phase has a deadline.\n"
  "\n"
  "  MODE create | replay | resume | startup\n"
  "  --port P           vigild's port on 127.0.0.1 (required)\n"
  "  --secret S         HS256 secret of vigild (default: the development secret)\n"
  "  --pid PID          vigild's pid: report its CPU time over the measured interval\n"
  "create:  --connections 100 --window 64 --hospitals 10 --hospital-prefix durable-h\n"
  "         --warmup 2 --duration 10 (seconds)\n"
  "         --rate R   R creates/s in total on a fixed schedule (open loop, latency at a load)\n"
  "replay:  --hospital ID --events 10001 --publishers 4 --repeats 3\n"
  "resume:  --hospital ID --after EVENT_ID --until EVENT_ID --repeats 1\n"
  "lifecycle: --lifecycles 100000 --connections 100 --window 8 --hospitals 10\n"
  "         --subscribers 1 (per hospital) --progress FILE --max-seconds 3600\n"
  "         --token-ttl 3600 (seconds; longer when vigild's wall clock runs fast, bench/soak.sh)\n"
  "         --keepalive-ms 0 (send PONG on every connection this often: vigild then never\n"
  "         needs to PING, whose deadline runs on its wall clock)\n"
  "startup: --vigild PATH --db PATH --hospital-prefix gen-h --hospitals 20 --log FILE\n"
  "         [-- extra vigild arguments]   (starts vigild itself; --port is not used)\n";

bool parse_int(const char* text, int lo, int hi, int* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool parse_seconds(const char* text, double lo, double hi, double* out) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

std::optional<options> parse_options(int argc, char** argv, std::string* error) {
  options o;
  if (argc < 2) {
    *error = "missing MODE";
    return std::nullopt;
  }
  o.mode = argv[1];
  if (o.mode != "create" && o.mode != "replay" && o.mode != "resume" && o.mode != "startup" &&
      o.mode != "lifecycle") {
    *error = "unknown MODE " + o.mode;
    return std::nullopt;
  }
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--") {
      o.vigild_args.assign(argv + i + 1, argv + argc);
      break;
    }
    if (i + 1 >= argc) {
      *error = key + " needs a value";
      return std::nullopt;
    }
    const char* v = argv[++i];
    bool ok = true;
    if (key == "--port") ok = parse_int(v, 1, 65535, &o.port);
    else if (key == "--secret") o.secret = v;
    else if (key == "--pid") ok = parse_int(v, 1, 1 << 30, &o.pid);
    else if (key == "--connections") ok = parse_int(v, 1, 1000, &o.connections);
    else if (key == "--window") ok = parse_int(v, 1, 1024, &o.window);
    else if (key == "--hospitals") ok = parse_int(v, 1, 1000, &o.hospitals);
    else if (key == "--hospital-prefix") o.hospital_prefix = v;
    else if (key == "--warmup") ok = parse_seconds(v, 0, 30, &o.warmup_s);
    else if (key == "--duration") ok = parse_seconds(v, 0.5, 60, &o.duration_s);
    else if (key == "--rate") ok = parse_seconds(v, 0, 1000000, &o.rate);
    else if (key == "--hospital") o.hospital = v;
    else if (key == "--events") ok = parse_int(v, 2, 1000000, &o.events);
    else if (key == "--publishers") ok = parse_int(v, 1, 100, &o.publishers);
    else if (key == "--repeats") ok = parse_int(v, 1, 20, &o.repeats);
    else if (key == "--after") o.after_id = v;
    else if (key == "--until") o.until_id = v;
    else if (key == "--lifecycles") {
      char* end = nullptr;
      o.lifecycles = std::strtoll(v, &end, 10);
      ok = end != v && *end == '\0' && o.lifecycles >= 1 && o.lifecycles <= 1'000'000'000;
    } else if (key == "--subscribers") ok = parse_int(v, 0, 100, &o.subscribers);
    else if (key == "--progress") o.progress_file = v;
    else if (key == "--keepalive-ms") ok = parse_int(v, 0, 60000, &o.keepalive_ms);
    else if (key == "--max-seconds") ok = parse_seconds(v, 1, 7 * 86400, &o.max_seconds);
    else if (key == "--token-ttl") {
      int ttl = 0;
      ok = parse_int(v, 60, 1 << 30, &ttl);
      o.token_ttl_s = ttl;
    }
    else if (key == "--vigild") o.vigild = v;
    else if (key == "--db") o.db = v;
    else if (key == "--log") o.log = v;
    else {
      *error = "unknown option " + key;
      return std::nullopt;
    }
    if (!ok) {
      *error = "invalid value for " + key + ": " + v;
      return std::nullopt;
    }
  }
  if (o.mode == "startup" && (o.vigild.empty() || o.db.empty())) {
    *error = "startup needs --vigild and --db";
    return std::nullopt;
  }
  if (o.port == 0 && o.mode != "startup") {
    *error = "--port is required";
    return std::nullopt;
  }
  if (o.mode == "resume" && (o.after_id.empty() || o.until_id.empty())) {
    *error = "resume needs --after and --until";
    return std::nullopt;
  }
  return o;
}

std::string mint_token(const options& o, std::vector<std::string> hospitals) {
  vigil::identity who;
  who.sub = "durable-bench";
  who.user_role = vigil::role::admin;
  who.hospitals = std::move(hospitals);
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  who.exp = now_s + o.token_ttl_s;
  return vigil::mint_hs256(o.secret, who, now_s);
}

// ---- createAlert frames -------------------------------------------------------------------------

const char* const alert_types[] = {"cardiac_arrest", "code_blue", "fire", "security",
                                   "medical_emergency"};

std::string create_frame(conn& c, int64_t id) {
  std::string f = "{\"id\":" + std::to_string(id) +
                  ",\"method\":\"mutation\",\"params\":{\"path\":\"healthcare.createAlert\","
                  "\"input\":{\"hospitalId\":";
  append_json_string(f, c.hospital);
  f += ",\"roomNumber\":\"ICU-" + std::to_string(1 + id % 40) + "\",\"alertType\":\"" +
       alert_types[id % 5] + "\",\"urgencyLevel\":" + std::to_string(1 + id % 5) +
       ",\"description\":\"durable bench connection " + std::to_string(c.index) + " request " +
       std::to_string(id) + "\",\"targetDepartment\":\"icu\"}}}";
  return f;
}

/// Sends the next createAlert on `c`, recording its send time.
void send_create(pool& p, conn& c) {
  const int64_t id = c.next_id++;
  c.send_ns[static_cast<size_t>(id) % c.send_ns.size()] = mono_ns();
  ++c.inflight;
  p.send(c, create_frame(c, id));
}

int64_t percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  auto k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// ---- mode: create -------------------------------------------------------------------------------

struct create_stats {
  int64_t ok = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> error_codes;
  std::vector<int64_t> latency_ns; // of replies inside the measured interval
  bool measuring = false;
  bool stopping = false;
};

void report_thread_cpu(const std::map<std::string, double>& before,
                       const std::map<std::string, double>& after, double seconds) {
  for (auto& [name, cpu] : after) {
    auto b = before.find(name);
    const double used = cpu - (b != before.end() ? b->second : 0.0);
    if (used / seconds >= 0.01) print_kv("server_thread_cpu_pct." + name, 100.0 * used / seconds);
  }
}

int mode_create(const options& o) {
  std::vector<std::string> hospitals;
  for (int i = 0; i < o.hospitals; ++i) hospitals.push_back(o.hospital_prefix + std::to_string(i));
  pool p(o.host, o.port, mint_token(o, hospitals));
  create_stats st;
  pool::handlers h;
  h.on_open = [&](conn& c) {
    if (o.rate <= 0)
      for (int i = 0; i < o.window; ++i) send_create(p, c);
  };
  h.on_message = [&](conn& c, std::string_view text) {
    auto f = scan_frame(text);
    if (f.kind == frame_kind::ping) {
      p.send(c, "PONG");
      return;
    }
    if (f.kind != frame_kind::ok && f.kind != frame_kind::error) return;
    --c.inflight;
    if (st.measuring) {
      if (f.kind == frame_kind::ok) {
        ++st.ok;
        if (f.id > 0)
          st.latency_ns.push_back(mono_ns() - c.send_ns[static_cast<size_t>(f.id) % c.send_ns.size()]);
      } else {
        ++st.errors;
        ++st.error_codes[std::string(f.error_code)];
      }
    }
    if (!st.stopping && o.rate <= 0) send_create(p, c);
  };
  std::string error;
  if (!p.init(std::move(h), &error)) {
    std::fprintf(stderr, "%s: %s\n", program, error.c_str());
    return 1;
  }
  for (int i = 0; i < o.connections; ++i) p.connect(hospitals[static_cast<size_t>(i % o.hospitals)]);
  const int64_t connect_deadline = mono_ns() + 10'000'000'000LL;
  p.run_until([&] { return p.open_count() + p.closed_count() >= o.connections; }, connect_deadline);
  if (p.open_count() < o.connections) {
    std::fprintf(stderr, "%s: only %d of %d connections opened\n", program, p.open_count(),
                 o.connections);
    return 1;
  }
  // --rate: creates go out on a fixed schedule, round robin over the connections, checked at
  // least every millisecond; a late loop catches up with a burst (the schedule does not slip).
  const int64_t pace_start = mono_ns();
  int64_t paced = 0;
  size_t next_conn = 0;
  auto pace = [&] {
    if (o.rate <= 0 || st.stopping) return;
    const auto due = static_cast<int64_t>(static_cast<double>(mono_ns() - pace_start) * o.rate / 1e9);
    for (; paced < due; ++paced) {
      conn& c = *p.conns()[next_conn++ % p.conns().size()];
      if (c.open) send_create(p, c);
    }
  };
  auto run = [&](const std::function<bool()>& done, int64_t deadline) {
    if (o.rate <= 0) return p.run_until(done, deadline);
    while (mono_ns() < deadline) {
      pace();
      if (p.run_until(done, std::min(deadline, mono_ns() + 1'000'000))) return true;
    }
    return done();
  };
  // Warm-up: the first call to a hospital starts its actor; SQLite's cache fills.
  const int64_t warm_end = mono_ns() + static_cast<int64_t>(o.warmup_s * 1e9);
  run([] { return false; }, warm_end);

  const auto metrics0 = read_storage_counters(o.port);
  const auto threads0 = server_thread_cpu(o.pid);
  const double server0 = server_cpu_seconds(o.pid);
  const double client0 = self_cpu_seconds();
  const int64_t t0 = mono_ns();
  st.measuring = true;
  run([&] { return p.closed_count() > 0; }, t0 + static_cast<int64_t>(o.duration_s * 1e9));
  st.measuring = false;
  const int64_t t1 = mono_ns();
  const double client1 = self_cpu_seconds();
  const double server1 = server_cpu_seconds(o.pid);
  const auto threads1 = server_thread_cpu(o.pid);
  const auto metrics1 = read_storage_counters(o.port);
  st.stopping = true;
  auto inflight = [&] {
    int64_t n = 0;
    for (auto& c : p.conns()) n += c->open ? c->inflight : 0;
    return n;
  };
  const bool drained = p.run_until([&] { return inflight() == 0; }, mono_ns() + 10'000'000'000LL);

  const double seconds = static_cast<double>(t1 - t0) / 1e9;
  print_kv("connections", static_cast<int64_t>(o.connections));
  print_kv("window", static_cast<int64_t>(o.window));
  if (o.rate > 0) print_kv("rate", o.rate);
  print_kv("hospitals", static_cast<int64_t>(o.hospitals));
  print_kv("measured_seconds", seconds);
  print_kv("create_ok", st.ok);
  print_kv("create_errors", st.errors);
  for (auto& [code, n] : st.error_codes) print_kv("create_error." + code, n);
  print_kv("create_per_second", static_cast<double>(st.ok) / seconds);
  print_kv("latency_p50_ms", static_cast<double>(percentile(st.latency_ns, 0.50)) / 1e6);
  print_kv("latency_p99_ms", static_cast<double>(percentile(st.latency_ns, 0.99)) / 1e6);
  print_kv("latency_max_ms", static_cast<double>(percentile(st.latency_ns, 1.0)) / 1e6);
  print_kv("connections_closed", static_cast<int64_t>(p.closed_count()));
  print_kv("drained", drained ? "yes" : "no");
  print_kv("client_cpu_pct", 100.0 * (client1 - client0) / seconds);
  if (o.pid > 0) {
    print_kv("server_cpu_pct", 100.0 * (server1 - server0) / seconds);
    report_thread_cpu(threads0, threads1, seconds);
  }
  if (metrics0.ok && metrics1.ok) {
    const double commits = metrics1.commits - metrics0.commits;
    const double items = metrics1.items - metrics0.items;
    const double secs = metrics1.seconds - metrics0.seconds;
    print_kv("storage_commits", commits);
    print_kv("storage_commit_items", items);
    print_kv("storage_commit_seconds", secs);
    print_kv("storage_commits_per_second", commits / seconds);
    print_kv("storage_mean_batch", commits > 0 ? items / commits : 0.0);
    print_kv("storage_mean_commit_ms", commits > 0 ? 1000.0 * secs / commits : 0.0);
    print_kv("storage_busy_pct", 100.0 * secs / seconds);
  }
  return st.ok > 0 && p.closed_count() == 0 ? 0 : 1;
}

// ---- mode: lifecycle ----------------------------------------------------------------------------

/// The step a request of a lifecycle is (by request id, per connection).
enum class step { create, acknowledge, resolve };

struct lifecycle_stats {
  int64_t started = 0;
  int64_t done = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> error_codes;
  int64_t events_received = 0;   // subscription items of every subscriber
  std::vector<int64_t> lifecycle_ns; // sampled: create sent to resolve answered
};

/// The alert id in a createAlert reply: the first `"id":"` after `"result":` (the alert object's
/// own id; plain or superjson-wrapped alike).
std::string_view created_alert_id(std::string_view frame) {
  auto at = frame.find("\"result\":");
  if (at == std::string_view::npos) return {};
  constexpr std::string_view key = "\"id\":\"";
  at = frame.find(key, at);
  if (at == std::string_view::npos) return {};
  auto from = at + key.size();
  auto end = frame.find('"', from);
  return end == std::string_view::npos ? std::string_view{} : frame.substr(from, end - from);
}

std::string alert_mutation_frame(int64_t id, const char* path, std::string_view alert_id,
                                 const char* extra) {
  std::string f = "{\"id\":" + std::to_string(id) +
                  ",\"method\":\"mutation\",\"params\":{\"path\":\"healthcare." + path +
                  "\",\"input\":{\"alertId\":";
  append_json_string(f, alert_id);
  f += extra;
  f += "}}}";
  return f;
}

void write_progress(const std::string& path, const lifecycle_stats& st) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "done=%lld errors=%lld events=%lld\n", static_cast<long long>(st.done),
                 static_cast<long long>(st.errors), static_cast<long long>(st.events_received));
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

int mode_lifecycle(const options& o) {
  std::vector<std::string> hospitals;
  for (int i = 0; i < o.hospitals; ++i) hospitals.push_back(o.hospital_prefix + std::to_string(i));
  pool p(o.host, o.port, mint_token(o, hospitals));
  lifecycle_stats st;
  // Per connection: request id -> (step, alert id, lifecycle start). Connections are indexed.
  struct pending_step {
    step what;
    std::string alert_id;
    int64_t started_ns;
  };
  std::vector<std::map<int64_t, pending_step>> pending;
  const int workers = o.connections;
  auto start_lifecycle = [&](conn& c) {
    if (st.started >= o.lifecycles) return;
    ++st.started;
    const int64_t id = c.next_id++;
    ++c.inflight;
    pending[static_cast<size_t>(c.index)][id] = {step::create, {}, mono_ns()};
    p.send(c, create_frame(c, id));
  };
  auto next_step = [&](conn& c, step what, std::string alert_id, int64_t started_ns) {
    const int64_t id = c.next_id++;
    ++c.inflight;
    std::string frame =
      what == step::acknowledge
        ? alert_mutation_frame(id, "acknowledgeAlert", alert_id, ",\"notes\":\"soak\"")
        : alert_mutation_frame(id, "resolveAlert", alert_id,
                               ",\"resolution\":\"soak lifecycle resolved\"");
    pending[static_cast<size_t>(c.index)][id] = {what, std::move(alert_id), started_ns};
    p.send(c, std::move(frame));
  };
  pool::handlers h;
  h.on_open = [&](conn& c) {
    if (c.index >= workers) {
      p.send(c, subscribe_alerts_frame(c.hospital, ""));
      return;
    }
    for (int i = 0; i < o.window; ++i) start_lifecycle(c);
  };
  h.on_message = [&](conn& c, std::string_view text) {
    auto f = scan_frame(text);
    if (f.kind == frame_kind::ping) {
      p.send(c, "PONG");
      return;
    }
    if (c.index >= workers) { // a subscriber
      if (f.kind == frame_kind::data) ++st.events_received;
      return;
    }
    if (f.kind != frame_kind::ok && f.kind != frame_kind::error) return;
    auto& mine = pending[static_cast<size_t>(c.index)];
    auto it = mine.find(f.id);
    if (it == mine.end()) return;
    pending_step ps = std::move(it->second);
    mine.erase(it);
    --c.inflight;
    if (f.kind == frame_kind::error) {
      ++st.errors;
      ++st.error_codes[std::string(f.error_code)];
      start_lifecycle(c); // this lifecycle is abandoned; keep the window full
      return;
    }
    switch (ps.what) {
      case step::create: {
        auto id = created_alert_id(text);
        if (id.empty()) {
          ++st.errors;
          ++st.error_codes["no_alert_id"];
          start_lifecycle(c);
          return;
        }
        next_step(c, step::acknowledge, std::string(id), ps.started_ns);
        return;
      }
      case step::acknowledge:
        next_step(c, step::resolve, std::move(ps.alert_id), ps.started_ns);
        return;
      case step::resolve:
        ++st.done;
        if (st.done % 64 == 0) st.lifecycle_ns.push_back(mono_ns() - ps.started_ns);
        start_lifecycle(c);
        return;
    }
  };
  std::string error;
  if (!p.init(std::move(h), &error)) {
    std::fprintf(stderr, "%s: %s\n", program, error.c_str());
    return 1;
  }
  const int total = workers + o.subscribers * o.hospitals;
  pending.resize(static_cast<size_t>(total));
  // Subscribers first, so they see every event of the run.
  for (int i = 0; i < workers; ++i) p.connect(hospitals[static_cast<size_t>(i % o.hospitals)]);
  for (int s = 0; s < o.subscribers; ++s)
    for (int hsp = 0; hsp < o.hospitals; ++hsp) p.connect(hospitals[static_cast<size_t>(hsp)]);
  const int64_t t0 = mono_ns();
  const int64_t deadline = t0 + static_cast<int64_t>(o.max_seconds * 1e9);
  int64_t next_progress = t0;
  int64_t next_keepalive = t0;
  auto finished = [&] {
    const int64_t now = mono_ns();
    if (o.keepalive_ms > 0 && now >= next_keepalive) {
      for (auto& c : p.conns())
        if (c->open) p.send(*c, "PONG");
      next_keepalive = now + o.keepalive_ms * 1'000'000LL;
    }
    if (now >= next_progress) {
      write_progress(o.progress_file, st);
      next_progress = now + 1'000'000'000LL;
    }
    return st.done + st.errors >= o.lifecycles || p.closed_count() > 0;
  };
  p.run_until(finished, deadline);
  const int64_t t1 = mono_ns();
  write_progress(o.progress_file, st);
  const double seconds = static_cast<double>(t1 - t0) / 1e9;
  print_kv("connections", static_cast<int64_t>(workers));
  print_kv("subscribers", static_cast<int64_t>(o.subscribers * o.hospitals));
  print_kv("hospitals", static_cast<int64_t>(o.hospitals));
  print_kv("window", static_cast<int64_t>(o.window));
  print_kv("seconds", seconds);
  print_kv("lifecycles_done", st.done);
  print_kv("lifecycle_errors", st.errors);
  for (auto& [code, n] : st.error_codes) print_kv("lifecycle_error." + code, n);
  print_kv("lifecycles_per_second", static_cast<double>(st.done) / seconds);
  print_kv("mutations_per_second", 3.0 * static_cast<double>(st.done) / seconds);
  print_kv("events_received", st.events_received);
  print_kv("lifecycle_p50_ms", static_cast<double>(percentile(st.lifecycle_ns, 0.50)) / 1e6);
  print_kv("lifecycle_p99_ms", static_cast<double>(percentile(st.lifecycle_ns, 0.99)) / 1e6);
  print_kv("connections_closed", static_cast<int64_t>(p.closed_count()));
  return st.done == o.lifecycles && p.closed_count() == 0 ? 0 : 1;
}

// ---- modes: replay and resume -------------------------------------------------------------------

/// One timed re-subscription: from the subscribe frame to the event `until_id`.
struct resume_result {
  bool complete = false;
  int64_t events = 0;
  int64_t bytes = 0;
  bool ordered = true;
  double started_ms = -1;
  double first_ms = -1;
  double total_ms = -1;
  int64_t resyncs = 0;
};

resume_result timed_resume(const options& o, const std::string& token, const std::string& after,
                           const std::string& until) {
  resume_result r;
  pool p(o.host, o.port, token);
  int64_t t0 = 0;
  int64_t last_seq = event_seq(after);
  const int64_t until_seq = event_seq(until);
  bool done = false;
  pool::handlers h;
  h.on_open = [&](conn& c) {
    t0 = mono_ns();
    p.send(c, subscribe_alerts_frame(o.hospital, after));
  };
  h.on_message = [&](conn& c, std::string_view text) {
    auto f = scan_frame(text);
    if (f.kind == frame_kind::ping) {
      p.send(c, "PONG");
    } else if (f.kind == frame_kind::started) {
      r.started_ms = ms_between(t0, mono_ns());
    } else if (f.kind == frame_kind::data) {
      if (r.first_ms < 0) r.first_ms = ms_between(t0, mono_ns());
      if (text.find("\"resync\":true") != std::string_view::npos) ++r.resyncs;
      ++r.events;
      r.bytes += static_cast<int64_t>(text.size());
      const int64_t seq = event_seq(f.event_id);
      if (seq <= last_seq) r.ordered = false;
      last_seq = seq;
      if (f.event_id == until || seq >= until_seq) {
        r.total_ms = ms_between(t0, mono_ns());
        done = true;
      }
    } else if (f.kind == frame_kind::error) {
      std::fprintf(stderr, "%s: subscription error %.*s\n", program,
                   static_cast<int>(f.error_code.size()), f.error_code.data());
      done = true;
    }
  };
  std::string error;
  if (!p.init(std::move(h), &error)) {
    std::fprintf(stderr, "%s: %s\n", program, error.c_str());
    return r;
  }
  p.connect(o.hospital);
  p.run_until([&] { return done || p.closed_count() > 0; }, mono_ns() + 60'000'000'000LL);
  r.complete = done && r.total_ms >= 0;
  return r;
}

void report_resume(const std::string& prefix, const resume_result& r) {
  print_kv(prefix + "complete", r.complete ? "yes" : "no");
  print_kv(prefix + "events", r.events);
  print_kv(prefix + "bytes", r.bytes);
  print_kv(prefix + "ordered", r.ordered ? "yes" : "no");
  print_kv(prefix + "resyncs", r.resyncs);
  print_kv(prefix + "started_ms", r.started_ms);
  print_kv(prefix + "first_event_ms", r.first_ms);
  print_kv(prefix + "total_ms", r.total_ms);
  if (r.total_ms > 0) print_kv(prefix + "events_per_second", r.events / (r.total_ms / 1000.0));
}

/// Creates `o.events` alerts in `o.hospital` while a live subscriber records their event ids.
/// Fills *ids; false when the deadline passed first.
bool fill_hospital(const options& o, const std::string& token, std::vector<std::string>* ids) {
  pool p(o.host, o.port, token);
  conn* subscriber = nullptr;
  bool started = false;
  int64_t issued = 0, ok = 0, failed = 0;
  pool::handlers h;
  h.on_open = [&](conn& c) {
    if (&c == subscriber) {
      p.send(c, subscribe_alerts_frame(o.hospital, ""));
      return;
    }
  };
  auto top_up = [&](conn& c) {
    while (c.inflight < o.window && issued < o.events) {
      send_create(p, c);
      ++issued;
    }
  };
  h.on_message = [&](conn& c, std::string_view text) {
    auto f = scan_frame(text);
    if (f.kind == frame_kind::ping) {
      p.send(c, "PONG");
    } else if (&c == subscriber) {
      if (f.kind == frame_kind::started) started = true;
      if (f.kind == frame_kind::data) ids->emplace_back(f.event_id);
    } else if (f.kind == frame_kind::ok || f.kind == frame_kind::error) {
      --c.inflight;
      (f.kind == frame_kind::ok ? ok : failed)++;
      top_up(c);
    }
  };
  std::string error;
  if (!p.init(std::move(h), &error)) {
    std::fprintf(stderr, "%s: %s\n", program, error.c_str());
    return false;
  }
  subscriber = &p.connect(o.hospital);
  const int64_t deadline = mono_ns() + 90'000'000'000LL;
  if (!p.run_until([&] { return started || p.closed_count() > 0; }, deadline) || !started)
    return false;
  for (int i = 0; i < o.publishers; ++i) p.connect(o.hospital);
  // Publishers start once open (top_up on their first reply is not enough: kick them here).
  p.run_until([&] { return p.open_count() + p.closed_count() > o.publishers; }, deadline);
  for (auto& c : p.conns())
    if (c.get() != subscriber) top_up(*c);
  const bool done = p.run_until(
    [&] { return static_cast<int64_t>(ids->size()) >= ok && ok + failed >= o.events; }, deadline);
  print_kv("fill_created", ok);
  print_kv("fill_failed", failed);
  print_kv("fill_events_seen", static_cast<int64_t>(ids->size()));
  return done && failed == 0 && static_cast<int64_t>(ids->size()) == o.events;
}

int mode_replay(const options& o) {
  const std::string token = mint_token(o, {o.hospital});
  std::vector<std::string> ids;
  const int64_t f0 = mono_ns();
  if (!fill_hospital(o, token, &ids)) {
    std::fprintf(stderr, "%s: could not create %d events in %s\n", program, o.events,
                 o.hospital.c_str());
    return 1;
  }
  print_kv("fill_seconds", ms_between(f0, mono_ns()) / 1000.0);
  print_kv("replay_hospital", o.hospital);
  print_kv("replay_after_id", ids.front());
  print_kv("replay_until_id", ids.back());
  print_kv("replay_expected_events", static_cast<int64_t>(ids.size() - 1));
  int failures = 0;
  for (int i = 0; i < o.repeats; ++i) {
    auto r = timed_resume(o, token, ids.front(), ids.back());
    report_resume("replay" + std::to_string(i + 1) + "_", r);
    if (!r.complete || !r.ordered || r.events != static_cast<int64_t>(ids.size() - 1)) ++failures;
  }
  return failures == 0 ? 0 : 1;
}

int mode_resume(const options& o) {
  const std::string token = mint_token(o, {o.hospital});
  int failures = 0;
  for (int i = 0; i < o.repeats; ++i) {
    auto r = timed_resume(o, token, o.after_id, o.until_id);
    report_resume("resume" + std::to_string(i + 1) + "_", r);
    if (!r.complete || !r.ordered) ++failures;
  }
  return failures == 0 ? 0 : 1;
}


// ---- mode: startup ------------------------------------------------------------------------------

/// vigild started by us, its stderr (and stdout) on a pipe.
struct child {
  pid_t pid = -1;
  int out_fd = -1;
};

std::optional<child> spawn_vigild(const options& o) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  std::vector<std::string> args = {o.vigild, "--host", "127.0.0.1", "--port", "0", "--db", o.db,
                                   "--admin.port", "0"};
  args.insert(args.end(), o.vigild_args.begin(), o.vigild_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    setenv("AUTH_JWT_SECRET", o.secret.c_str(), 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return child{pid, fds[0]};
}

/// Reads vigild's output until the ` event=listening ` line (copying it to `log`); the port, or
/// 0 when vigild exited or the deadline passed. *line gets the listening line.
int wait_listening(const child& c, std::FILE* log, int64_t deadline_ns, std::string* line) {
  std::string pending;
  char buf[4096];
  while (mono_ns() < deadline_ns) {
    pollfd p{c.out_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(c.out_fd, buf, sizeof buf);
    if (n <= 0) return 0;
    std::fwrite(buf, 1, static_cast<size_t>(n), log);
    pending.append(buf, static_cast<size_t>(n));
    size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos) {
      std::string l = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      if (l.find(" event=listening ") == std::string::npos) continue;
      auto at = l.find(" port=");
      *line = l;
      return at == std::string::npos ? 0 : std::atoi(l.c_str() + at + 6);
    }
  }
  return 0;
}

std::string url_encode(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

/// Repeats `GET path` until it answers 200 or the deadline passes; the answer (status 0: never).
http_result get_until_ok(int port, const std::string& path, const std::string& token,
                         int64_t deadline_ns) {
  http_result r;
  while (mono_ns() < deadline_ns) {
    r = http_get(port, path, token);
    if (r.status == 200) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  r.status = 0;
  return r;
}

int64_t json_int_after(const std::string& text, const std::string& key) {
  auto at = text.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + key.size() + 3);
}

int64_t rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

/// SIGTERM, then SIGKILL after 10 s; the exit status.
int stop_child(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

int mode_startup(const options& o) {
  std::vector<std::string> hospitals;
  for (int i = 0; i < o.hospitals; ++i) hospitals.push_back(o.hospital_prefix + std::to_string(i));
  const std::string token = mint_token(o, hospitals);
  std::FILE* log = std::fopen(o.log.c_str(), "w");
  if (log == nullptr) {
    std::fprintf(stderr, "%s: cannot write %s\n", program, o.log.c_str());
    return 1;
  }
  const int64_t t0 = mono_ns();
  auto c = spawn_vigild(o);
  if (!c) {
    std::fprintf(stderr, "%s: cannot start %s\n", program, o.vigild.c_str());
    return 1;
  }
  std::string line;
  const int port = wait_listening(*c, log, t0 + 60'000'000'000LL, &line);
  const int64_t t_listening = mono_ns();
  // Keep draining vigild's output so it never blocks on a full pipe.
  std::thread drain([fd = c->out_fd, log] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) std::fwrite(buf, 1, static_cast<size_t>(n), log);
  });
  int failures = 0;
  if (port == 0) {
    std::fprintf(stderr, "%s: vigild did not log event=listening (see %s)\n", program,
                 o.log.c_str());
    ++failures;
  } else {
    print_kv("startup_listening_ms", ms_between(t0, t_listening));
    auto at = line.find(" startup_ms=");
    if (at != std::string::npos) print_kv("vigild_logged_startup_ms", static_cast<int64_t>(std::atoll(line.c_str() + at + 12)));
    at = line.find(" alerts=");
    if (at != std::string::npos) print_kv("vigild_alert_index", static_cast<int64_t>(std::atoll(line.c_str() + at + 8)));
    const int64_t deadline = mono_ns() + 60'000'000'000LL;
    auto query = [&](const std::string& hospital) {
      return "/api/trpc/healthcare.getActiveAlerts?input=" +
             url_encode("{\"hospitalId\":\"" + hospital + "\",\"limit\":100}");
    };
    const int64_t q0 = mono_ns();
    auto first = get_until_ok(port, query(hospitals[0]), token, deadline);
    const int64_t q1 = mono_ns();
    if (first.status != 200) ++failures;
    print_kv("startup_first_query_ms", ms_between(t0, q1));
    print_kv("first_query_latency_ms", ms_between(q0, q1));
    print_kv("first_query_active_total", json_int_after(first.body, "total"));
    auto ready = get_until_ok(port, "/ready", "", deadline);
    const int64_t r1 = mono_ns();
    if (ready.status != 200) ++failures;
    print_kv("startup_ready_ms", ms_between(t0, r1));
    const int64_t a0 = mono_ns();
    for (size_t i = 1; i < hospitals.size(); ++i)
      if (get_until_ok(port, query(hospitals[i]), token, deadline).status != 200) ++failures;
    const int64_t a1 = mono_ns();
    print_kv("other_hospitals_warmup_ms", ms_between(a0, a1));
    print_kv("startup_all_hospitals_ms", ms_between(t0, a1));
    const int64_t w0 = mono_ns();
    http_get(port, query(hospitals[0]), token);
    print_kv("warm_query_latency_ms", ms_between(w0, mono_ns()));
    print_kv("server_rss_kb", rss_kb(c->pid));
    print_kv("server_cpu_seconds", server_cpu_seconds(c->pid));
  }
  const int status = stop_child(c->pid);
  drain.join();
  close(c->out_fd);
  std::fclose(log);
  print_kv("vigild_exit", static_cast<int64_t>(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
  return failures == 0 ? 0 : 1;
}

} // namespace

int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::printf("%s", usage);
      return exit_ok;
    }
  }
  std::string error;
  auto o = parse_options(argc, argv, &error);
  if (!o) {
    std::fprintf(stderr, "%s: %s\n%s", program, error.c_str(), usage);
    return exit_usage;
  }
  if (o->mode == "create") return mode_create(*o);
  if (o->mode == "replay") return mode_replay(*o);
  if (o->mode == "startup") return mode_startup(*o);
  if (o->mode == "lifecycle") return mode_lifecycle(*o);
  return mode_resume(*o);
}

} // namespace vigil::ctl::durable

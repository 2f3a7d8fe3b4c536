#pragma once
// `vigilctl bench`: the load generator. Internal interface shared by its three source files:
//
//   tools/vigilctl_bench.cpp        options, the four scenarios, the report (text and JSON)
//   tools/vigilctl_bench_loop.cpp   the event loop holding every connection in one thread:
//                                   subscribers on their own sockets (epoll), WS and HTTP
//                                   publishers in a libwebsockets client context
//   tools/vigilctl_bench_stats.cpp  latency histogram, frame scanning and building, /proc
//   tools/vigilctl_bench_durable.cpp  `vigilctl bench durable`: the durable event log benchmarks
//                                   (bench/durable.sh) on their own small lws connection pool
//   tools/lws_client.{hpp,cpp}      the lws client plumbing all of them (and ws_client) share
//
// Publishers put `bench:<publisher>:<seq>:<send_ns>` in each alert's description, so every
// subscriber can tell which mutation an event came from (lost and duplicated events) and how long
// it took end to end (the clock is the bench's own monotonic clock; sender and receiver are the
// same process).

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct lws;
struct lws_context;

namespace vigil::ctl::bench {

/// Nanoseconds on the monotonic clock.
int64_t mono_ns();

// ---- statistics ----------------------------------------------------------------------------------

/// A log-linear histogram of non-negative integers (nanoseconds here): exact below 128, then 64
/// buckets per power of two (relative error under 1.6%). Fixed memory, O(1) insert.
class histogram {
public:
  histogram();
  void add(int64_t value);
  void merge(const histogram& other);
  int64_t count() const { return count_; }
  int64_t max() const { return max_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  /// The value below which a fraction `q` (0..1) of the samples lie: the upper edge of the bucket
  /// holding the q-quantile, capped at max(). 0 when empty.
  int64_t quantile(double q) const;

private:
  static size_t index_of(int64_t v);
  static int64_t upper_edge(size_t index);
  std::vector<int64_t> buckets_;
  int64_t count_ = 0;
  int64_t max_ = 0;
  int64_t min_ = 0;
  long double sum_ = 0;
};

/// What a server frame is, from a fast scan (no JSON tree): enough for the bench's bookkeeping.
struct scanned_frame {
  enum class kind { started, data, stopped, error, reconnect, ping, pong, other };
  kind type = kind::other;
  /// The numeric request id (`{"id":N,…`), -1 when absent, null or not a number.
  int64_t id = -1;
  /// Data frames carrying a bench marker in the alert description.
  bool has_marker = false;
  int publisher = -1;
  int64_t seq = -1;
  int64_t send_ns = 0;
  /// The event id of a data frame (`result.id`, or the flat event's `id`), empty when none.
  std::string_view event_id;
  /// Error frames: `error.data.code` ("TOO_MANY_REQUESTS", …); empty when not found.
  std::string_view error_code;
  /// A resync event (`"resync":true`).
  bool resync = false;
};

/// Scans a text frame from the server. Never throws; unknown shapes give kind::other.
/// `marker_hint` (optional, per connection): where the marker was in the previous frame, relative
/// to the end of the event id. A subscriber's frames differ only in numbers, so the marker is
/// nearly always found there at once, without reading the ~450 bytes before it; a miss costs the
/// full scan and updates the hint.
scanned_frame scan_frame(std::string_view text, size_t* marker_hint = nullptr);

// ---- frames the bench sends -------------------------------------------------------------------------

/// Appends `s` as a JSON string, escaping quotes and backslashes only: enough for the bench's
/// own hospital ids, event ids and tokens.
void append_json_string(std::string& out, std::string_view s);
/// `{"method":"connectionParams","data":{"authorization":"Bearer <token>"}}`.
std::string connection_params_frame(std::string_view token);
/// subscribeToAlerts for `hospital` with request id 1, resuming after `last_event_id` unless it
/// is empty.
std::string subscribe_alerts_frame(std::string_view hospital, std::string_view last_event_id);

/// The decimal number after the last '-' of an event id (`<epoch>-<seq>`), -1 when none.
int64_t event_seq(std::string_view event_id);

/// A process's resident memory and CPU time, from /proc/PID/status and /proc/PID/stat.
struct proc_sample {
  int64_t rss_kb = 0;
  int64_t hwm_kb = 0;      // VmHWM: the peak RSS since the process started
  double cpu_seconds = 0;  // utime + stime
};
std::optional<proc_sample> read_proc(int pid);

/// This process's CPU seconds (user + system) and peak RSS.
proc_sample read_self();

// ---- the connections -------------------------------------------------------------------------------

/// Remembers which (publisher, seq) pairs a subscriber has seen: one bit each.
class seen_set {
public:
  /// True when newly inserted, false for a duplicate.
  bool insert(int publisher, int64_t seq);
  bool contains(int publisher, int64_t seq) const;
  void clear() {
    words_.clear();
    stride_ = 0;
  }

private:
  void widen(size_t stride);
  // Word w of publisher p is words_[w * stride_ + p]: the words a subscriber is filling for all
  // publishers (at most 8 of them share a cache line) sit together, so a batch of frames from
  // many publishers touches one or two lines per subscriber instead of one per publisher.
  std::vector<uint64_t> words_;
  size_t stride_ = 0;  // a power of two, above the highest publisher seen
};

/// Per-hospital tracker of the slowest live subscriber's received count, O(1) per event, used
/// to keep "as fast as possible" publishing within what the subscribers actually receive.
class lag_tracker {
public:
  void add(int64_t count);
  void remove(int64_t count);
  void advance(int64_t from_count);  // a subscriber went from `from_count` to `from_count + 1`
  bool empty() const { return members_ == 0; }
  int64_t min() const { return base_; }
  void reset();

private:
  std::deque<int64_t> at_;  // at_[i]: subscribers whose count is base_ + i
  int64_t base_ = 0;
  int64_t members_ = 0;
};

enum class conn_kind { subscriber, ws_publisher, http_publisher };
enum class conn_state { idle, waiting, connecting, open, closed };

/// One connection of the bench. Lives in loop::conns_ for the whole run (reconnects reuse it).
struct conn {
  conn_kind kind = conn_kind::subscriber;
  int index = 0;         // among connections of its kind
  int hospital = 0;      // subscribers: the hospital they subscribe to
  conn_state state = conn_state::idle;
  lws* wsi = nullptr;    // publishers (subscribers are not lws connections)
  int fd = -1;           // subscribers: their socket, in the loop's epoll set
  int lws_fd = -1;       // publishers: lws' socket, watched for input in the epoll set too
  bool tcp_connected = false;  // subscribers: the TCP connect finished
  uint32_t watching = 0;       // subscribers: the epoll events asked for
  std::string sub_out;         // subscribers: bytes the socket did not take yet
  std::string source_ip;
  std::string rx;        // a message being reassembled (WS), unparsed bytes (HTTP), or the
                         // start of a subscriber frame cut by the end of a read
  bool upgraded = false; // subscribers: the server answered 101 (raw WebSocket from then on)
  std::string frag;      // subscribers: a fragmented message being reassembled
  std::deque<std::string> outbox;
  bool close_requested = false;
  int close_code = 0;    // 0 while open; 1006 when the connection ended without a close frame
  int64_t connect_start_ns = 0;
  int64_t started_ns = 0;  // subscribers: `started` received; publishers: ready
  bool started = false;
  bool stalled = false;
  bool closed_in_run = false;
  size_t marker_hint = 0;     // subscribers: see scan_frame
  std::string last_event_id;  // subscribers: for lastEventId on reconnect

  // subscribers
  seen_set seen;
  int64_t received = 0;       // distinct bench events of the current round
  int64_t duplicates = 0;
  int64_t out_of_order = 0;
  int64_t other_events = 0;   // data frames without a bench marker (escalations, …)
  int64_t resyncs = 0;
  int64_t wrong_hospital = 0;
  int64_t foreign = 0;        // markers that no publisher of this run sent
  int64_t last_seq = -1;      // ordering check on event ids
  int64_t caught_up_ns = 0;   // reconnect storm: when the expected count was reached
  int connect_attempts = 0;   // failed attempts since the last successful connect
  int64_t retry_at_ns = 0;    // when a failed connect is tried again (0: not waiting)

  // publishers
  int64_t inflight = 0;
  int64_t next_request_id = 1;
  std::deque<int64_t> http_pending;  // HTTP: seqs of the requests written, oldest first
};

/// Publisher-side record of every mutation sent.
struct sent_event {
  int hospital = 0;
  int round = 0;
  uint8_t status = 0;  // 0 pending, 1 ok, 2 error
  int64_t send_ns = 0;
  bool delivered_once = false;  // the first subscriber has it (for latency_first)
};

/// Everything the loop needs to know about the target and the load.
struct loop_config {
  std::string host;
  int port = 0;
  int publisher_port = 0;      // publishers' port on the same host (another node of a cluster)
  std::string ws_path;         // e.g. /api/trpc?connectionParams=1
  std::string http_base;       // e.g. /api/trpc
  std::vector<std::string> source_ips;
  std::vector<std::string> hospital_ids;
  std::vector<std::string> subscriber_tokens;  // per hospital
  std::string publisher_token;
  size_t payload_bytes = 0;    // extra description padding
  int connect_concurrency = 1000;
  int max_fds = 0;
  int stall_rcvbuf = 0;        // SO_RCVBUF of stalled subscribers (0: kernel default)
};

/// The event loop and all connections (single-threaded).
class loop {
public:
  explicit loop(loop_config cfg);
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  /// Creates the lws context. False with *error set on failure.
  bool init(std::string* error);

  /// Adds connections (not yet connected).
  void add_subscribers(int count, int hospitals);
  void add_publishers(int count, bool http);

  /// Queues a connect of every subscriber (or publisher) that is not open; connects are started
  /// at most `connect_concurrency` at a time. `last_event_id`: resubscribe with each
  /// subscriber's last event id.
  void connect_subscribers(bool with_last_event_id);
  void connect_publishers();
  /// Asks every open subscriber to close (1000).
  void close_subscribers();
  /// While on, a subscriber whose connection attempt fails (refused, reset, handshake read
  /// failed) tries again after a short, growing, jittered delay, like a real client would.
  void set_retry_failed_connects(bool on);
  int64_t connect_retries() const { return connect_retries_; }

  /// Services the loop until `done()` or the deadline (monotonic ns) passes. Returns done().
  /// `done()` is evaluated at most once per millisecond (it may walk every connection).
  template <typename Done>
  bool run_until(Done done, int64_t deadline_ns) {
    int64_t next_check = 0;
    while (true) {
      const int64_t now = mono_ns();
      if (now >= next_check) {
        if (done()) return true;
        next_check = now + 1'000'000;
      }
      if (now >= deadline_ns) return done();
      service_once();
    }
  }
  /// Services the loop until the deadline.
  void run_for(int64_t until_ns) {
    run_until([] { return false; }, until_ns);
  }

  // ---- publishing ----
  /// Starts a publishing round: `rate` mutations/s in total (0: as fast as the window and
  /// `max_lag` allow) until `until_ns`. Hospitals are used round-robin.
  void start_publishing(double rate, int window, int64_t max_lag, int64_t until_ns, int round);
  /// Sends exactly `per_hospital` mutations to every hospital (then stops), window-limited.
  void publish_fixed(int per_hospital, int window, int round);
  bool publishing() const { return publishing_; }
  int64_t inflight_total() const;

  // ---- state ----
  std::vector<std::unique_ptr<conn>>& conns() { return conns_; }
  std::vector<conn*>& subscribers() { return subscribers_; }
  std::vector<conn*>& publishers() { return publishers_; }
  std::vector<std::vector<sent_event>>& sent() { return sent_; }  // per publisher, by seq
  /// OK events of `round` per hospital.
  const std::vector<int64_t>& ok_per_hospital() const { return ok_per_hospital_; }
  histogram& latency() { return latency_; }
  /// Per event: the latency to its first subscriber. The generator reads subscribers one after
  /// another, so the spread between this and `latency` is partly the generator's own work.
  histogram& latency_first() { return latency_first_; }
  histogram& rtt() { return rtt_; }
  void set_measuring(bool on) { measuring_ = on; }
  /// Subscribers in `stalled` stop reading once started (or resume with false).
  void set_stalled(conn& c, bool stalled);
  /// Forgets what subscribers received (a new round).
  void reset_subscriber_counts();
  int64_t deliveries() const { return deliveries_; }
  int64_t first_delivery_ns() const { return first_delivery_ns_; }
  int64_t last_delivery_ns() const { return last_delivery_ns_; }
  int64_t first_send_ns() const { return first_send_ns_; }
  int64_t last_send_ns() const { return last_send_ns_; }
  int64_t sends() const { return sends_; }
  int64_t behind_schedule() const { return behind_; }
  std::map<std::string, int64_t>& errors() { return errors_; }
  std::map<std::string, int64_t>& connect_errors() { return connect_errors_; }
  std::map<int, int64_t>& close_codes() { return close_codes_; }
  int64_t unexpected_replies() const { return unexpected_replies_; }
  int open_count(conn_kind kind) const;
  int started_count(conn_kind kind) const;
  int pending_connects() const {
    return static_cast<int>(connect_queue_.size() + retry_list_.size()) + connecting_;
  }
  /// Samples the server process every 100 ms while servicing (peak RSS, for the report).
  void watch_pid(int pid) { pid_ = pid; }
  int64_t peak_server_rss_kb() const { return peak_rss_kb_; }
  int round() const { return round_; }

  // lws callback entry point (public for the C callback).
  int on_event(lws* wsi, int reason, conn* c, void* in, size_t len);

private:
  void service_once();
  void start_connects();
  void connect_one(conn& c);
  /// Resets the publishing state shared by both kinds of round.
  void begin_round(int window, int round, int64_t until_ns);
  void pump();
  bool send_mutation(conn& pub, int hospital);
  void on_ws_message(conn& c, std::string_view text, int64_t now);
  void on_subscriber_data(conn& c, const scanned_frame& f, int64_t now);
  void on_reply(conn& pub, int64_t seq, bool ok, std::string_view error_code);
  void on_http_bytes(conn& c);
  /// A subscriber's bytes as read (`now`: when); frames are parsed in place (they may be
  /// unmasked in place, too). -1: close the connection.
  int on_subscriber_bytes(conn& c, char* data, size_t len, int64_t now);
  /// Parses the whole frames at the start of `data`: the bytes used, -1 to close.
  ptrdiff_t on_frames(conn& c, char* data, size_t len, int64_t now);
  void on_upgraded(conn& c);
  void queue_text(conn& c, std::string text);
  std::string connection_params(const conn& c) const;
  std::string subscription(const conn& c) const;
  void on_closed(conn& c);
  int on_writeable(conn& c);
  /// lws_callback_on_writable, and lws is serviced on the next round.
  void want_writeable(lws* wsi);
  /// Adds an open publisher's socket to the epoll set (input only: lws reads it).
  void watch_publisher(conn& c);
  // subscriber sockets (epoll, not lws)
  void sub_connect(conn& c, const std::pair<sockaddr_storage, socklen_t>* source);
  void sub_ready(conn& c, uint32_t events, int64_t now);
  /// Sends now, or keeps what the socket did not take and asks for EPOLLOUT.
  void sub_send(conn& c, std::string_view bytes);
  bool sub_flush(conn& c);
  /// Sets the epoll events from the state: EPOLLIN unless stalled, EPOLLOUT while bytes wait.
  void sub_watch(conn& c);
  /// Closes the socket and runs on_closed (which may queue a retry).
  void sub_close(conn& c);
  void queue_frame(conn& c, std::string frame);
  std::string mutation_input(int publisher, int64_t seq, int hospital, int64_t now);

  loop_config cfg_;
  lws_context* ctx_ = nullptr;
  std::vector<std::unique_ptr<conn>> conns_;
  std::vector<conn*> subscribers_;
  std::vector<conn*> publishers_;
  std::deque<conn*> connect_queue_;
  std::vector<conn*> retry_list_;
  bool retry_failed_ = false;
  int64_t connect_retries_ = 0;
  bool resubscribe_with_last_id_ = false;
  int connecting_ = 0;
  int source_ip_next_ = 0;
  std::vector<unsigned char> write_buffer_;
  sockaddr_storage target_{};
  socklen_t target_len_ = 0;
  std::vector<std::pair<sockaddr_storage, socklen_t>> source_addrs_;  // cfg_.source_ips, resolved
  int epoll_fd_ = -1;          // subscribers' sockets, and publishers' (lws') sockets for input
  bool lws_pending_ = false;   // lws has work now (a write asked for, buffered input)
  int64_t next_lws_ns_ = 0;    // lws is serviced by then at the latest (timers, connects)
  std::vector<char> read_buffer_;
  int64_t next_timeout_check_ns_ = 0;

  // publishing
  bool publishing_ = false;
  bool fixed_mode_ = false;
  int fixed_per_hospital_ = 0;
  std::vector<int64_t> fixed_sent_;  // per hospital
  double rate_ = 0;
  int window_ = 1;
  int64_t max_lag_ = 0;
  int64_t publish_start_ns_ = 0;
  int64_t publish_until_ns_ = 0;
  int64_t sends_ = 0;       // in the current round
  int64_t behind_ = 0;      // rate mode: sends that were due but found no window
  int next_hospital_ = 0;
  int next_publisher_ = 0;
  int round_ = 0;
  std::vector<std::vector<sent_event>> sent_;
  std::vector<int64_t> sent_per_hospital_;
  std::vector<int64_t> ok_per_hospital_;
  std::vector<lag_tracker> lag_;
  histogram latency_;
  histogram latency_first_;
  histogram rtt_;
  bool measuring_ = false;
  int64_t deliveries_ = 0;
  int64_t first_delivery_ns_ = 0;
  int64_t last_delivery_ns_ = 0;
  int64_t first_send_ns_ = 0;
  int64_t last_send_ns_ = 0;
  int64_t unexpected_replies_ = 0;
  std::map<std::string, int64_t> errors_;
  std::map<std::string, int64_t> connect_errors_;
  std::map<int, int64_t> close_codes_;
  int pid_ = 0;
  int64_t next_sample_ns_ = 0;
  int64_t peak_rss_kb_ = 0;
};

} // namespace vigil::ctl::bench

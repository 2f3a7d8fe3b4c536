#pragma once
// The state of a hospital actor and the logic that runs on it, one concern per file:
//   hospital.cpp           the behaviour (thin: each handler calls one method), start, status
//   hospital_calls.cpp     queries, mutations, idempotency, commit-then-publish
//   hospital_timers.cpp    escalation timers
//   hospital_fanout.cpp    the ring and the frames of live subscribers, resync events
//   hospital_catchup.cpp   subscriptions: start, stop, drop, catch-up (replay) pump
//   hospital_presence.cpp  who is online (presence items, staffOnline, online roles)
//   hospital_receipts.cpp  confirmDelivery, seenBy updates, the unattended-alert failsafe
// Only this actor's own thread touches it.

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/runtime.hpp"
#include "domain/alert.hpp"
#include "domain/queries.hpp"

namespace vigil {

/// One live subscription of a hospital.
struct hospital_subscriber {
  subscribe_ptr req;
  uint64_t serial = 0;        // distinguishes a restarted subscription with the same key
  bool live = true;           // false while catching up (replay)
  bool reading = false;       // a storage page request is in flight
  uint64_t cursor = 0;        // last seq delivered or skipped during catch-up
  uint64_t presence_seen = 0; // presence: likewise
  // catch-up: read from storage, not sent yet. A list, not a deque: an empty std::deque
  // allocates ~600 bytes, kept by every live subscription for its lifetime.
  std::list<encoded_event_ptr> backlog;
  uint64_t backlog_floor = 0; // catch-up: after the backlog, jump the cursor to this seq
};

using sub_key = std::pair<uint64_t, std::string>; // (connection, request id text)

struct hospital_state;
using hospital_self = hospital_actor::stateful_pointer<hospital_state>;
using call_promise = caf::typed_response_promise<call_result_ptr>;

struct hospital_state {
  static inline const char* name = "vigil.hospital";

  explicit hospital_state(hospital_self self) : self(self) {}

  hospital_self self;
  runtime_ptr rt;
  std::string hospital_id;
  /// The open alerts and the `storage.resolved-window` newest resolved ones (plus, briefly, an
  /// old one read on demand); the rest is in SQLite only.
  std::unordered_map<std::string, alert> alerts;
  bool complete = true;       // `alerts` holds every alert of the hospital (nothing evicted yet)
  std::set<std::pair<int64_t, std::string>> resolved_in_memory; // (createdAt, id), oldest first
  std::unordered_map<std::string, int> committing; // alerts with a commit in flight: kept
  /// Alerts being read from storage on demand, with the calls waiting for them.
  std::unordered_map<std::string, std::vector<std::pair<call_ptr, call_promise>>> loading;
  /// Set while a call waiting for an on-demand load runs: its reply goes through this promise.
  std::optional<call_promise> outer_promise;
  /// Cluster: alerts the alert index puts in this hospital that its follower has not delivered
  /// yet, with the calls waiting for them (at most stream_wait_ms).
  std::unordered_map<std::string, std::vector<std::pair<call_ptr, call_promise>>> awaiting_stream;
  std::unordered_map<std::string, uint64_t> timer_gen;
  std::deque<encoded_event_ptr> ring;
  uint64_t ring_floor = 0;    // every event of this hospital with seq > ring_floor is in the ring
  uint64_t last_seq = 0;      // newest seq of this hospital's stream
  std::map<sub_key, hospital_subscriber> subs; // ordered by connection: drop() finds them at once
  std::unordered_map<std::string, int> user_refs; // live subscriptions per user (staffOnline)
  std::unordered_map<std::string, int> role_refs; // live subscriptions per role (failsafe)
  std::unordered_map<std::string, uint64_t> failsafe_gen; // like timer_gen, for failsafe timers
  std::unordered_map<std::string, int64_t> seen_by_last; // alert -> last seenBy update
  std::unordered_map<std::string, bool> seen_by_pending; // alert -> a seenBy update is scheduled
  /// Until then presence is not trusted (clients are reconnecting after a restart): no
  /// "nobody online" escalation, and receipt deadlines are not earlier. 0 = trusted.
  int64_t presence_trusted_from = 0;
  size_t presence_subs = 0;
  std::vector<std::pair<uint64_t, out_frame>> fanout; // reused by publish()
  std::vector<std::pair<uint64_t, out_frame>> catch_up_frames; // reused by pump()
  uint64_t next_serial = 1;
  // idempotency: key -> (reply, created_at); keys whose first call is still committing
  std::unordered_map<std::string, std::pair<call_result_ptr, int64_t>> idempotent;
  std::unordered_map<std::string, std::vector<call_promise>> idempotent_pending;
  metrics_actor metrics;         // this hospital's metrics actor
  bool presence_flush_scheduled = false;
  uint64_t presence_changes = 0; // changes of the online list

  // ---- cluster (storage.engine = jetstream; hospital_cluster.cpp)
  /// Each alert as the stream has it (`alerts` also holds this node's writes in flight).
  std::unordered_map<std::string, alert> confirmed;
  /// Per alert: this node's writes sent and not yet applied from the stream (nor failed).
  std::unordered_map<std::string, int> writes_in_flight;
  /// Per alert with writes in flight: the seq applied when the first of them was validated.
  /// `alerts` holds that state plus this node's writes (other nodes' writes of the alert are
  /// applied to `confirmed` only): the view the later writes were validated on.
  std::unordered_map<std::string, uint64_t> chain_basis;
  /// Per alert: what runs once no write of this node on it is in flight (a write that lost its
  /// race runs again then: the writes validated on top of the lost one fail too).
  std::unordered_map<std::string, std::vector<std::function<void()>>> when_settled;
  /// A receipt recorded on this node (confirmDelivery) that no write of this node has carried
  /// into the stream yet.
  struct unstored_receipt {
    std::shared_ptr<const identity> who;
    std::string event_id;
    int64_t at = 0;
  };
  /// Per alert, in the order recorded: applied again whenever the stream's version of the
  /// alert replaces the local one, until the seenBy update that carries them is applied.
  std::unordered_map<std::string, std::vector<unstored_receipt>> unstored_receipts;
  /// Applies the alert's unstored receipts to alerts[alert_id]; true when that changed it.
  bool reapply_unstored_receipts(const std::string& alert_id);
  /// Continuations waiting until the hospital applied the stream up to a seq.
  std::multimap<uint64_t, std::function<void()>> on_applied;

  // ---- hospital.cpp
  /// Takes over a loaded snapshot, spawns the metrics actor and arms every escalation timer.
  void start(runtime_ptr runtime, const hospital_snapshot& snap);
  hospital_status status() const;
  alert_list all_alerts() const;

  // ---- hospital_window.cpp
  /// Puts the alert's new state in memory (and in the resolved window when resolved).
  void remember(const alert& a);
  /// Drops an alert from memory.
  void forget(const std::string& alert_id);
  /// Evicts the oldest resolved alerts beyond `storage.resolved-window` (not while committing).
  void trim_window();
  /// Drops the resolved alert at `i` from memory and from the alert index; returns the next one.
  std::set<std::pair<int64_t, std::string>>::iterator
  drop_resolved(std::set<std::pair<int64_t, std::string>>::iterator i);
  /// Drops resolved alerts past retention.resolved-alert-days (storage deletes them too) and
  /// idempotency keys older than 24 h; runs at most once a minute.
  void expire_resolved();
  static constexpr int64_t resolved_expiry_check_ms = 60000;
  int64_t next_expiry_check_ms = 0;
  /// A commit of `alert_id` finished (stored or not).
  void commit_done(const std::string& alert_id);
  /// Reads the alert from storage, then runs `c` (answering `rp`) as if it had been in memory.
  void load_then(const std::string& alert_id, const call_ptr& c, call_promise rp);
  /// Runs `c` now (the alert it waited for is in memory or nowhere), answering `rp`.
  void run_waiting(const call_ptr& c, call_promise rp);
  /// Cluster: runs `c` once the follower delivered the alert's event, at most stream_wait_ms
  /// later (the alert index reads the stream ahead of the hospital's follower).
  void await_stream(const std::string& alert_id, const call_ptr& c, call_promise rp);
  /// Cluster: answers the calls waiting for the alert (arrived, or waited long enough).
  void stream_wait_over(const std::string& alert_id);
  static constexpr int64_t stream_wait_ms = 1000;
  /// The promise a deferred reply goes through: the waiting call's, or a new one.
  call_promise promise();
  /// getActiveAlerts with status resolved/all while resolved alerts are only in storage: pages
  /// the keys of the stored ones with the alerts in memory, then reads the page's alerts.
  void list_with_stored(const json::value& input, call_promise rp);
  /// Asks storage for the alerts of `q`; `done` runs on this actor with the answer.
  void query_storage(alert_query q, std::function<void(const alert_rows&)> done,
                     call_promise rp);

  // ---- hospital_calls.cpp
  /// Any call: getMetrics/getAlertStats go to the metrics actor, the rest is answered here.
  caf::result<call_result_ptr> handle_call(const call_ptr& c);
  /// A mutation; `given` and `attempt` when a cluster write runs again after a conflict.
  caf::result<call_result_ptr> handle_mutation(const call_ptr& c,
                                               std::optional<call_promise> given = {},
                                               int attempt = 0);
  caf::result<call_result_ptr> handle_query(const call& c);
  /// handle_call without the on-demand load (the alert, if any, is in memory or nowhere).
  caf::result<call_result_ptr> dispatch(const call_ptr& c);
  /// A mutation's reply without its last member, `alert` (the alert after the change), which
  /// commit_transition appends from the alert's text: every mutation reply ends with it.
  using reply_fn = std::function<json::value(const alert&)>;
  /// Called with the stored alert once a transition is durable (the audit log line).
  using stored_fn = std::function<void(const alert&)>;
  /// Stores a transition with its audit record if any (one transaction), then publishes its event and
  /// answers `rp` with `make_reply(next)` + `alert`. Cluster: `retry` validates and writes again after
  /// losing the race to another node; the audit record is not stored (no audit trail there).
  using retry_fn = std::function<void()>;
  void commit_transition(transition t, reply_fn make_reply, call_promise rp,
                         std::optional<audit_record> audit,
                         std::optional<std::string> idem_key = {}, stored_fn on_stored = {},
                         retry_fn retry = {});
  /// Sends the audit record of a mutation refused here (not found, state, input rules).
  void audit_refused(const call& c, const std::string& alert_id, trpc_code code);

  // ---- hospital_cluster.cpp
  /// commit_transition in a cluster: append to the stream with the expected last seq; the event
  /// is published (and the caller answered) when the follower delivers it. `audit` is stored
  /// by the store once the event is (jetstream_audit).
  void commit_to_stream(transition t, reply_fn make_reply, call_promise rp,
                        std::optional<audit_record> audit, std::optional<std::string> idem_key,
                        stored_fn on_stored, retry_fn retry);
  /// The next event of the hospital's subject (this node's or another's).
  void apply_stream_event(const stream_event& ev);
  /// Runs `fn` once the stream is applied up to `seq` (at once if it is).
  void when_applied(uint64_t seq, std::function<void()> fn);

  // ---- hospital_timers.cpp
  /// Arms the alert's escalation timer (cancelling any earlier one).
  void schedule_escalation(const alert& a, int64_t min_delay_ms = 0);
  /// The timer (alert, generation) fired.
  void escalation_due(const std::string& alert_id, uint64_t gen);

  // ---- hospital_receipts.cpp
  /// confirmDelivery: records receipts for the alert events named (ring, else storage).
  caf::result<call_result_ptr> confirm_delivery(const call& c);
  /// Records the receipts of (alert id, event id) pairs, stores them and answers `rp`.
  void apply_confirmations(std::shared_ptr<const identity> who,
                           std::vector<std::pair<std::string, std::string>> found, size_t ignored,
                           call_promise rp);
  /// The alert entered its current tier (or the hospital started): arms the failsafe.
  /// `check_online`: escalate at once when nobody of the tier's role is online.
  void arm_failsafe(const alert& a, bool check_online, int64_t min_delay_ms = 0);
  /// The failsafe timer (alert, generation) fired.
  void failsafe_due(const std::string& alert_id, uint64_t gen, bool nobody_online);
  /// A new receipt changed the alert's seenBy: publish it, at most once a second.
  void seen_by_changed(const std::string& alert_id);
  void seen_by_flush(const std::string& alert_id);
  /// Whether a user with `role` has a live subscription to this hospital (a cluster node: on
  /// any node, as far as rt->presence knows; when it cannot know, true).
  bool role_online(const std::string& role) const;
  /// The roles online here changed: a cluster node tells the others (rt->presence).
  void roles_changed();

  // ---- hospital_fanout.cpp
  /// A committed event: into the ring, then one frame per matching live subscriber.
  void publish(const encoded_event_ptr& ev);
  bool deliver(const subscribe_ptr& req, const encoded_event_ptr& ev);
  /// The resync event (docs/api.md "Event ids and resume").
  void send_resync(const subscribe_ptr& req, const char* reason, int64_t now);

  // ---- hospital_catchup.cpp
  void start_subscription(const subscribe_ptr& req);
  void stop_subscription(uint64_t conn, const std::string& key, bool send_stopped);
  /// The connection closed: forget its subscriptions.
  void drop_connection(uint64_t conn);
  /// Sends the next chunk of a catching-up subscription.
  void pump(sub_key key, uint64_t serial);

  // ---- hospital_presence.cpp
  /// Counts a new subscription of its user; true when presence subscribers must hear of it.
  bool add_user(const subscribe_request& req);
  /// Uncounts a subscription; true when presence subscribers must hear of it.
  bool remove_user(const subscribe_request& req);
  int staff_online() const;
  json::value presence_json(int64_t now) const;
  /// The set of online users changed.
  void presence_changed();
  /// Sends the current presence to every presence subscriber behind.
  void push_presence_now();
};

/// `{"success":true}`: the head of most mutations' replies (`alert` follows).
json::value success_head(const alert& a);

/// A data frame carrying a non-event item (metrics, presence).
std::string item_frame(const subscribe_request& req, const json::value& data);

/// Whether subscription `req` wants event `ev`.
bool matches(const subscribe_request& req, const encoded_event& ev);

/// The frame of `ev` for subscription `req`: its prefix (shared with the request, not copied),
/// then the event's tail in the subscription's encoding.
out_frame event_frame_for(const subscribe_ptr& req, const encoded_event_ptr& ev);

} // namespace vigil

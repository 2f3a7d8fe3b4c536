#pragma once
// Every actor of vigild as a typed interface: the messages it takes and what it answers. A
// message an actor does not take, or an answer of the wrong type, is a compile error, not a
// runtime `unexpected_message` or a request timeout. Handlers marked (internal) are messages an
// actor sends itself (timers, continuations): CAF 0.17 typed actors can only receive what their
// interface lists, so they are part of it, but nobody else sends them.
//
// Every atom has exactly one meaning. Message payloads are the shared pointers of
// actors/messages.hpp (one allocation, never copied on fan-out); status answers are the structs
// of actors/status.hpp.

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "actors/status.hpp"

namespace vigil {

// ---- atoms ---------------------------------------------------------------------------------

/// Any actor: report your status struct.
using status_atom = caf::atom_constant<caf::atom("status")>;
// connection
using ws_frame_atom = caf::atom_constant<caf::atom("wsframe")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
using kick_atom = caf::atom_constant<caf::atom("kick")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
// http_call
using start_atom = caf::atom_constant<caf::atom("start")>;
// hospital and metrics
using unsubscribe_atom = caf::atom_constant<caf::atom("unsub")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using escalation_due_atom = caf::atom_constant<caf::atom("escdue")>;
using catch_up_atom = caf::atom_constant<caf::atom("catchup")>;
using presence_flush_atom = caf::atom_constant<caf::atom("presflush")>;
using failsafe_due_atom = caf::atom_constant<caf::atom("failsafe")>;
using seen_by_flush_atom = caf::atom_constant<caf::atom("seenflush")>;
using stream_wait_atom = caf::atom_constant<caf::atom("streamwait")>;
using staff_online_atom = caf::atom_constant<caf::atom("staffon")>;
using metrics_tick_atom = caf::atom_constant<caf::atom("mtick")>;
using metrics_flush_atom = caf::atom_constant<caf::atom("mflush")>;
// directory
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using hospitals_atom = caf::atom_constant<caf::atom("hospitals")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using restore_retry_atom = caf::atom_constant<caf::atom("restretry")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
// connection, http_call
using hospital_down_atom = caf::atom_constant<caf::atom("hospdown")>;
using dormant_atom = caf::atom_constant<caf::atom("dormant")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
// storage
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;
using audit_page_atom = caf::atom_constant<caf::atom("auditpage")>;
// cluster (storage.engine = jetstream)
using follow_atom = caf::atom_constant<caf::atom("follow")>;
// inspector
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using sample_tick_atom = caf::atom_constant<caf::atom("sample")>;

/// The committed state of one alert, as a hospital actor hands it to its metrics actor.
using alert_ptr = std::shared_ptr<const alert>;

// ---- interfaces ----------------------------------------------------------------------------

/// The metrics actor of one hospital (actors/metrics.cpp), spawned by and linked to it.
using metrics_actor = caf::typed_actor<
  /// An alert's committed state, after every commit of the hospital.
  caf::reacts_to<alert_ptr>,
  /// staffOnline changed.
  caf::reacts_to<staff_online_atom, int64_t>,
  /// A subscribeToMetrics subscription (the hospital already sent `started`).
  caf::reacts_to<subscribe_ptr>,
  /// Stops the subscription (connection, request key) and sends `stopped`.
  caf::reacts_to<unsubscribe_atom, uint64_t, std::string>,
  /// The connection closed: forget its subscriptions.
  caf::reacts_to<drop_atom, uint64_t>,
  /// (internal) The interval of subscription (connection, key, serial) is up.
  caf::reacts_to<metrics_tick_atom, uint64_t, std::string, uint64_t>,
  /// (internal) A burst of changes is over: one item to every subscriber behind.
  caf::reacts_to<metrics_flush_atom>,
  /// getMetrics and getAlertStats.
  caf::replies_to<call_ptr>::with<call_result_ptr>,
  /// Inspection.
  caf::replies_to<status_atom>::with<metrics_status>>;

/// A hospital actor (actors/hospital*.cpp): alerts, escalation timers, ring, subscribers.
using hospital_actor = caf::typed_actor<
  /// A validated call (query or mutation); mutations answer once committed.
  caf::replies_to<call_ptr>::with<call_result_ptr>,
  /// A subscription; from then on the hospital writes its frames into the outbox.
  caf::reacts_to<subscribe_ptr>,
  /// Stops subscription (connection, request key) and sends `stopped`.
  caf::reacts_to<unsubscribe_atom, uint64_t, std::string>,
  /// The connection closed: forget its subscriptions.
  caf::reacts_to<drop_atom, uint64_t>,
  /// (internal) The escalation timer (alert id, generation) is due.
  caf::reacts_to<escalation_due_atom, std::string, uint64_t>,
  /// (internal) The failsafe of (alert id, generation) is due; true: nobody of the tier's role
  /// was online when the alert entered it, false: the receipt deadline passed.
  caf::reacts_to<failsafe_due_atom, std::string, uint64_t, bool>,
  /// (internal) Publish the alert's changed `seenBy` (at most once a second per alert).
  caf::reacts_to<seen_by_flush_atom, std::string>,
  /// (internal) Continue the catch-up of subscription (connection, key, serial).
  caf::reacts_to<catch_up_atom, uint64_t, std::string, uint64_t>,
  /// (internal) A burst of presence changes is over: tell presence subscribers.
  caf::reacts_to<presence_flush_atom>,
  /// Cluster: the next event of the hospital's subject (from the follower), in stream order.
  caf::reacts_to<stream_event_ptr>,
  /// (internal, cluster) Stop waiting for the event of this alert (the alert index had read it
  /// before the follower delivered it): answer the calls naming it from what is held.
  caf::reacts_to<stream_wait_atom, std::string>,
  /// Inspection: counts, subscribed connections, pending escalation timers.
  caf::replies_to<status_atom>::with<hospital_status>>;

/// Every running hospital, by id.
using hospital_list = std::vector<std::pair<std::string, hospital_actor>>;

/// The storage reader (actors/storage_actor.cpp): a read-only SQLite connection on its own
/// thread for hospital warm-ups and replay pages.
using storage_reader_actor = caf::typed_actor<
  /// A hospital's snapshot (alerts, newest seq, recent idempotency keys).
  caf::replies_to<load_atom, std::string>::with<hospital_snapshot_ptr>,
  /// A page of stored events of a hospital or one alert.
  caf::replies_to<read_atom, read_request_ptr>::with<event_page_ptr>,
  /// Alerts a hospital does not hold in memory (an old alert, a history page, resolved alerts).
  caf::replies_to<alert_query_ptr>::with<alert_rows_ptr>,
  /// Readiness: `ok` when its thread serves its mailbox.
  caf::replies_to<status_atom>::with<storage_status>>;

/// The storage actor (actors/storage_actor.cpp): the read-write SQLite connection, group commit.
/// It answers everything the reader does, so it converts to a storage_reader_actor.
using storage_actor = storage_reader_actor::extend<
  /// Stores the writes of one mutation; answered after the transaction holding it.
  caf::replies_to<commit_atom, commit_request_ptr>::with<commit_reply_ptr>,
  /// (internal) Commit every request queued so far in one transaction.
  caf::reacts_to<flush_atom>,
  /// (internal) Prune events (and audit records) older than their retention, a batch at a time.
  caf::reacts_to<prune_atom>,
  /// Audit records of refused actions: appended to the chain with the next commit (batched).
  caf::reacts_to<audit_atom, audit_records_ptr>,
  /// A page of a hospital's audit trail (getAuditLog), read after committing what is queued.
  caf::replies_to<audit_page_atom, audit_page_request_ptr>::with<audit_page_ptr>>;

/// The JetStream store (actors/jetstream_store.cpp), storage.engine = jetstream: the storage
/// interface backed by the cluster's event stream, on its own thread.
using jetstream_actor = storage_actor;

/// The JetStream follows (actors/jetstream_store.cpp): the consumers that feed every hosted
/// hospital the events of its subject, made on a thread of their own (making one waits for
/// JetStream, seconds while the NATS cluster elects a stream leader; commits do not wait).
using jetstream_follow_actor = caf::typed_actor<
  /// Follow hospital (id, actor) from after this seq: every later event of its subject goes to
  /// the actor as a stream_event_ptr, in stream order.
  caf::reacts_to<follow_atom, std::string, hospital_actor, uint64_t>,
  /// (internal) Start the alert-index follower (every message's headers, from the first); tried
  /// again every second until a consumer is made.
  caf::reacts_to<follow_atom>>;

/// The directory (actors/directory.cpp): hospital id -> hospital actor.
using directory_actor = caf::typed_actor<
  /// The hospital's actor, loaded from storage and spawned on first use.
  caf::replies_to<lookup_atom, std::string>::with<hospital_actor>,
  /// Every running hospital (inspection, shutdown).
  caf::replies_to<hospitals_atom>::with<hospital_list>,
  /// Start-up: the hospitals with active alerts and their first deadlines; each loads shortly
  /// before its first deadline (actors/directory.hpp).
  caf::reacts_to<restore_atom, restore_plan_ptr>,
  /// (internal) Retry the start-up load of a hospital that failed.
  caf::reacts_to<restore_retry_atom, std::string>,
  /// (internal) A hospital of the restore plan is due to load.
  caf::reacts_to<wake_atom, std::string>,
  /// The hospitals of the restore plan whose actor has not started yet (their timers wait in
  /// the directory; the console lists their escalations from storage).
  caf::replies_to<dormant_atom>::with<std::vector<std::string>>,
  /// (internal) Reload a hospital whose actor died abnormally (hospital, exit reason): a restart
  /// the rate limit held back, or a reload that failed.
  caf::reacts_to<restart_atom, std::string, std::string>,
  /// Readiness (GET /ready) and counts.
  caf::replies_to<status_atom>::with<directory_status>>;

/// A connection actor (actors/connection.cpp): one per WebSocket.
using connection_actor = caf::typed_actor<
  /// A message read from the socket (text, binary flag).
  caf::reacts_to<ws_frame_atom, std::string, bool>,
  /// The socket closed with this close code: drop subscriptions and stop.
  caf::reacts_to<closed_atom, uint16_t>,
  /// Operator `kick`: close with 4000.
  caf::reacts_to<kick_atom>,
  /// Operator `reconnect-all`: ask the client to reconnect.
  caf::reacts_to<reconnect_atom>,
  /// (internal) One of the connection's timers fired (anonymous, expiry, expiry close).
  caf::reacts_to<timeout_atom, uint64_t>,
  /// (internal) A hospital actor this connection used died: answer its calls it neither
  /// answered nor bounced (sent by the down handler to itself, so it comes after the bounces).
  caf::reacts_to<hospital_down_atom, caf::actor_addr>,
  /// Inspection: user, role, subscriptions, mailbox, peer.
  caf::replies_to<status_atom>::with<connection_status>>;

/// An http_call actor (actors/http_call.cpp): one per tRPC HTTP request.
using http_call_actor = caf::typed_actor<
  /// (internal) Run the request (sent by the actor to itself when it starts).
  caf::reacts_to<start_atom>,
  /// (internal) A hospital actor this request used died: as for connection_actor.
  caf::reacts_to<hospital_down_atom, caf::actor_addr>,
  /// Inspection.
  caf::replies_to<status_atom>::with<http_call_status>>;

/// The inspector (actors/inspector*.cpp), asked by the console listener.
using inspector_actor = caf::typed_actor<
  /// A console command with its arguments; the answer is {"ok":…} JSON text.
  caf::replies_to<inspect_atom, std::string, std::vector<std::string>>::with<std::string>,
  /// (internal) Sample the process counters (for events/s and deliveries/s).
  caf::reacts_to<sample_tick_atom>,
  /// Inspection.
  caf::replies_to<status_atom>::with<inspector_status>>;

} // namespace vigil

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::alert_ptr)

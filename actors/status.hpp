#pragma once
// What each actor answers to `status_atom` (actors/interfaces.hpp): one plain struct per actor
// kind, read by the inspector (`vigilctl console`: hospitals, connections, actors, escalations)
// and by the readiness probe (GET /ready). Inspectable (CAF 0.17 form), so they print with
// caf::deep_to_string and could cross a node boundary.
//
// Kept free of actor headers: code that only formats a status includes this file alone.

#include <caf/meta/type_name.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil {

/// A connection actor (one WebSocket).
struct connection_status {
  uint64_t conn_id = 0;
  std::string user;             // the token's subject; empty while not authenticated
  std::string role;             // empty while not authenticated
  size_t subscriptions = 0;     // live subscriptions of this connection
  size_t mailbox = 0;
  std::string peer;             // the client's IP:port
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_status& x) {
  return f(caf::meta::type_name("connection_status"), x.conn_id, x.user, x.role,
           x.subscriptions, x.mailbox, x.peer);
}

/// An http_call actor (one tRPC HTTP request).
struct http_call_status {
  uint64_t conn_id = 0;
  size_t items = 0;             // calls of the (batch) request
  size_t remaining = 0;         // calls without an answer yet
  size_t mailbox = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_call_status& x) {
  return f(caf::meta::type_name("http_call_status"), x.conn_id, x.items, x.remaining, x.mailbox);
}

/// A running escalation timer of a hospital.
struct pending_escalation {
  std::string alert_id;
  int tier = 0;                 // the alert's current tier; the timer moves it to tier + 1
  int64_t deadline_ms = 0;      // ms since the epoch
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pending_escalation& x) {
  return f(caf::meta::type_name("pending_escalation"), x.alert_id, x.tier, x.deadline_ms);
}

/// A hospital actor.
struct hospital_status {
  std::string hospital_id;
  size_t alerts = 0;            // every alert it holds
  size_t open = 0;              // not resolved
  size_t active = 0;            // neither acknowledged nor resolved
  size_t subscribers = 0;       // subscriptions of every kind
  std::vector<uint64_t> connections; // the connections subscribed here, ascending
  size_t ring_depth = 0;        // recent events kept for replay
  size_t mailbox = 0;
  uint64_t metrics_actor = 0;   // the actor id of its metrics actor (0: none)
  std::vector<pending_escalation> escalations; // in no particular order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hospital_status& x) {
  return f(caf::meta::type_name("hospital_status"), x.hospital_id, x.alerts, x.open, x.active,
           x.subscribers, x.connections, x.ring_depth, x.mailbox, x.metrics_actor,
           x.escalations);
}

/// A hospital's metrics actor.
struct metrics_status {
  std::string hospital_id;
  size_t alerts = 0;
  size_t subscribers = 0;       // subscribeToMetrics subscriptions
  size_t mailbox = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_status& x) {
  return f(caf::meta::type_name("metrics_status"), x.hospital_id, x.alerts, x.subscribers,
           x.mailbox);
}

/// The directory. Its status is the readiness verdict of GET /ready.
struct directory_status {
  size_t hospitals = 0;         // running hospital actors
  size_t loading = 0;           // hospitals being loaded from storage
  size_t restoring = 0;         // start-up restore: hospitals with timers not armed yet
  size_t restore_total = 0;
  /// Why the server is not ready, empty when it is: the restore is done and the storage reader
  /// (which loads every hospital) answered within 1 s.
  std::string not_ready;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_status& x) {
  return f(caf::meta::type_name("directory_status"), x.hospitals, x.loading, x.restoring,
           x.restore_total, x.not_ready);
}

/// The storage actor or the storage reader (one type: the writer answers everything the reader
/// does, so a writer handle can stand in for a missing reader).
struct storage_status {
  bool ok = false;              // writer: a probe write succeeded; reader: its thread serves
  bool writer = false;
  size_t pending_commits = 0;   // writer: commit requests waiting for the next flush
  uint64_t last_seq = 0;        // newest committed seq
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_status& x) {
  return f(caf::meta::type_name("storage_status"), x.ok, x.writer, x.pending_commits,
           x.last_seq);
}

/// The inspector itself.
struct inspector_status {
  size_t samples = 0;           // counter samples in the rate window
  size_t mailbox = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inspector_status& x) {
  return f(caf::meta::type_name("inspector_status"), x.samples, x.mailbox);
}

} // namespace vigil

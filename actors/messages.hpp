#pragma once
// Every message exchanged between Vigil's actors. All messages are
// local to one process; payloads travel as shared pointers to immutable structs (one allocation,
// no copies on fan-out), whitelisted with CAF_ALLOW_UNSAFE_MESSAGE_TYPE at the end of this file.
// The typed interfaces of the actors that exchange them, and their atoms, are in
// actors/interfaces.hpp.

#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "delivery/encoded_event.hpp"
#include "delivery/http_request.hpp"
#include "domain/alert.hpp"
#include "domain/queries.hpp"
#include "domain/audit.hpp"
#include "domain/auth.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/rate_limiter.hpp"
#include "domain/subscription.hpp" // stream_kind, event_filter

namespace vigil {

/// A validated call routed to a hospital actor.
struct call {
  const procedure_info* proc = nullptr;
  json::value input;                         // validated, normalised
  std::shared_ptr<const identity> who;       // never null here (auth checked before routing)
  uint64_t conn_id = 0;                      // the caller's connection or HTTP request (audit)
  std::string remote;                        // its peer address "ip:port" (audit)
};
using call_ptr = std::shared_ptr<const call>;

/// The outcome of a call: data on success, an error otherwise.
struct call_result {
  bool ok = false;
  json::value data;
  call_error error;
  /// Data already encoded (mutation replies, written once from the alert): `text` is its plain
  /// JSON and `text_meta` its superjson meta ("" without dates); `data` is then null.
  bool encoded = false;
  std::string text;
  std::string text_meta;
  static std::shared_ptr<const call_result> success(json::value v) {
    auto r = std::make_shared<call_result>();
    r->ok = true;
    r->data = std::move(v);
    return r;
  }
  static std::shared_ptr<const call_result> success_text(std::string plain, std::string meta) {
    auto r = std::make_shared<call_result>();
    r->ok = true;
    r->encoded = true;
    r->text = std::move(plain);
    r->text_meta = std::move(meta);
    return r;
  }
  /// The data as a value: `data`, or `text` parsed (its dates then plain strings).
  json::value value() const {
    if (!encoded)
      return data;
    std::string err;
    auto v = json::parse(text, &err);
    return v ? std::move(*v) : json::value{};
  }
  static std::shared_ptr<const call_result> failure(trpc_code c, std::string msg) {
    auto r = std::make_shared<call_result>();
    r->error = call_error{c, std::move(msg)};
    return r;
  }
};
using call_result_ptr = std::shared_ptr<const call_result>;

/// A subscription handed to a hospital actor, which from then on writes its frames (started,
/// replay, live data, stopped) straight into the connection's outbox.
struct subscribe_request {
  uint64_t conn_id = 0;
  std::string key;                           // JSON text of the request id: unique per connection
  std::string prefix;                        // `{"id":…,"result":{"type":"data",`
  json::value id;                            // the request id (for started/stopped/error frames)
  bool jsonrpc = false;
  bool superjson = false;
  stream_kind kind = stream_kind::alerts;
  std::string alert_id;                      // stream_kind::alert
  std::optional<std::string> last_event_id;
  event_filter filter;
  int64_t interval_ms = 5000;                // metrics
  std::shared_ptr<const identity> who;
  int64_t since_ms = 0;                      // when the subscription started (presence)
};
using subscribe_ptr = std::shared_ptr<const subscribe_request>;

/// One write of a commit: the event to store (without id; storage assigns seq and id), the new
/// alert state and an optional idempotency record.
struct pending_write {
  alert_event event;                         // seq/id unset
  alert next;                                // the alert after the change
  std::optional<std::string> idempotency_key;
  std::string idempotency_reply;             // plain JSON of the first reply
  std::optional<audit_record> audit;         // the action, stored in the same transaction
  /// false: only the alert row is written (delivery receipts), no event, no seq.
  bool store_event = true;
  /// Set by encode_write (actors/storage_actor.hpp) on the hospital actor, so that the storage
  /// thread only binds and steps: the event's text without its id (the payload is
  /// event_payload(id, event_rest)), its superjson meta and the alert row's JSON.
  bool encoded = false;
  std::string event_rest;
  std::string event_meta;
  std::string row_json;
};

struct commit_request {
  std::vector<pending_write> writes;
  // Cluster (storage.engine = jetstream) only: the hospital's subject and the writer-order check.
  std::string hospital_id;
  /// The view the writes were validated on: the newest seq of the hospital the hospital actor
  /// had applied (for a `chained` write, when the first write of the alert still in flight was
  /// validated). Published with ExpectLastSubjectSeq (or this node's newest write, later).
  uint64_t expected_last_seq = 0;
  /// Validated on top of this node's earlier writes of the same alert still in flight: fails
  /// when one of those failed. (Any write expects at least this node's newest write's seq.)
  bool chained = false;
};
using commit_request_ptr = std::shared_ptr<const commit_request>;

struct commit_reply {
  bool ok = false;
  /// Cluster: another node appended to the hospital first; catch up to `stream_last_seq` and
  /// validate again.
  bool conflict = false;
  uint64_t stream_last_seq = 0;
  std::string error;
  std::vector<encoded_event_ptr> events;     // one per write that stores an event, in order
  uint64_t last_seq = 0;
};
using commit_reply_ptr = std::shared_ptr<const commit_reply>;

/// What a hospital actor starts from: its alerts, its newest seq and recent idempotency records.
/// What a hospital loads at start: its open alerts and a window of its newest resolved ones
/// (`storage.resolved-window`); older alerts stay in SQLite and are read on demand.
/// Start-up (actors/directory.hpp): every hospital with an active alert, with its soonest
/// escalation deadline (0: none, only failsafe deadlines), soonest first, and the number of
/// escalation timers in all.
struct restore_plan {
  std::vector<std::string> hospitals;
  std::vector<int64_t> deadlines;            // parallel to `hospitals`
  size_t timers = 0;
};
using restore_plan_ptr = std::shared_ptr<const restore_plan>;

struct hospital_snapshot {
  std::string hospital_id;
  std::vector<alert> alerts;                 // open alerts + the newest resolved ones
  bool complete = true;                      // `alerts` holds every alert of the hospital
  uint64_t last_seq_of_hospital = 0;
  std::unordered_map<std::string, std::pair<std::string, int64_t>> idempotency; // key -> (reply, created_at)
  std::string error;                         // non-empty: loading failed
};
using hospital_snapshot_ptr = std::shared_ptr<const hospital_snapshot>;

/// Alerts read on demand from the alerts table (docs/architecture.md "Lazy loading").
struct alert_query {
  enum class kind {
    one,       // the alert `alert_id`
    history,   // getAlertHistory: a page of alerts created in [from_ms, to_ms], newest first
    keys,      // getActiveAlerts with status resolved/all: the keys of every resolved alert
               // (`detailed`: with urgency, type and acknowledgement time), no text
    ids,       // the alerts `ids` of the hospital (a getActiveAlerts page), in that order
    resolved_since, // the alerts resolved at or after from_ms (the metrics of 24 h)
    escalations,    // the pending escalations of the hospitals `ids` (the console)
  };
  kind what = kind::one;
  std::string hospital_id;
  std::string alert_id;
  std::vector<std::string> ids;
  bool detailed = false;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  size_t limit = 0;
  size_t offset = 0;
};
using alert_query_ptr = std::shared_ptr<const alert_query>;

/// The answer to an alert_query: the alerts (in the query's order) and, for history, the number
/// of alerts in the range. `ok` false: storage failed (`error`).
struct alert_rows {
  std::vector<alert> alerts;
  std::vector<alert_key> keys;               // kind::keys
  uint64_t total = 0;
  bool ok = true;
  std::string error;
};
using alert_rows_ptr = std::shared_ptr<const alert_rows>;
/// Cluster: one event of a hospital's subject as every node hosting the hospital applies it, in
/// stream order (its own writes included): the encoded event, the alert after it and the
/// idempotency record it carried.
struct stream_event {
  encoded_event_ptr event;
  alert next;
  std::optional<std::string> idempotency_key;
  std::string idempotency_reply;             // plain JSON of the first reply
  int64_t timestamp = 0;
};
using stream_event_ptr = std::shared_ptr<const stream_event>;

/// A page of stored events for replay or timelines.
struct read_request {
  std::string hospital_id;                   // events of a hospital …
  std::string alert_id;                      // … or of one alert (when set)
  uint64_t after_seq = 0;
  size_t limit = 512;
};
using read_request_ptr = std::shared_ptr<const read_request>;

struct event_page {
  std::vector<encoded_event_ptr> events;
  std::string error;
};
using event_page_ptr = std::shared_ptr<const event_page>;

/// Audit records of refused actions, appended by the storage writer with its next commit.
using audit_records_ptr = std::shared_ptr<const std::vector<audit_record>>;

/// A page of one hospital's audit records, newest first, with seq < before_seq.
struct audit_page_request {
  std::string hospital_id;
  uint64_t before_seq = 0;
  size_t limit = 50;
};
using audit_page_request_ptr = std::shared_ptr<const audit_page_request>;

struct audit_page {
  std::vector<audit_record> records;
  std::string error;                         // non-empty: reading failed
};
using audit_page_ptr = std::shared_ptr<const audit_page>;

} // namespace vigil

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::audit_records_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::audit_page_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::audit_page_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::call_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::call_result_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::subscribe_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::commit_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::commit_reply_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::hospital_snapshot_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::read_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::alert_query_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::restore_plan_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::alert_rows_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::stream_event_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::event_page_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(vigil::http_request_ptr)

#pragma once
// The audit trail's record, its canonical encoding and the hash chain over it (docs/operations.md
// "Audit trail"). Every record's hash is SHA-256 over its canonical encoding, which includes the
// previous record's hash, so changing or removing a stored record breaks the chain at that seq.
// Pure: the storage writer assigns seq, prev_hash and hash; `vigilctl audit --verify` and the
// tests walk the chain with audit_chain_checker.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/errors.hpp"
#include "domain/json.hpp"

namespace vigil {

/// One audited action. Only ids, names and codes: never a token, never an alert's free text.
struct audit_record {
  uint64_t seq = 0;            // one global order, assigned by the storage writer (1, 2, …)
  int64_t ts = 0;              // ms since the epoch, when the action was decided
  std::string user_id;         // the verified token's sub; "system" for timers; "" unauthenticated
  std::string role;            // role name, "system", or ""
  std::string hospital_id;     // the hospital the action targeted ("" when unknown)
  std::string alert_id;        // the alert it targeted ("" when none)
  std::string action;          // procedure name (createAlert, …) or escalationTimeout
  std::string outcome;         // "ok" or the tRPC error code name (FORBIDDEN, …)
  uint64_t conn_id = 0;        // connection or HTTP request id (0 for timers)
  std::string remote;          // peer address "ip:port" ("" for timers)
  std::string prev_hash;       // hash of record seq-1 (or the anchor), 64 hex digits
  std::string hash;            // sha256 of audit_canonical(*this), 64 hex digits
};

/// prev_hash of the very first record: 64 zeros.
extern const std::string audit_genesis_hash;

/// The outcome text of a successful action.
inline constexpr const char* audit_ok = "ok";

/// The action name of an escalation fired by a hospital's timer (user "system").
inline constexpr const char* audit_timer_escalation = "escalationTimeout";

/// The outcome text of a refused action: its tRPC code name.
std::string audit_outcome(trpc_code code);

/// The bytes that are hashed: a version tag, then every field but `hash` in a fixed order, each
/// as `<decimal length>:<bytes>;` (so no field's content can imitate a field boundary).
std::string audit_canonical(const audit_record& r);

/// sha256_hex(audit_canonical(r)).
std::string audit_hash(const audit_record& r);

/// Sets r.prev_hash = previous and r.hash: the writer's step.
void audit_seal(audit_record& r, const std::string& previous);

/// The record as JSON: {seq, time (ISO-8601 text), userId, role, hospitalId, alertId, action,
/// outcome, connectionId, remoteAddress, prevHash, hash}; empty texts are null.
json::value to_json(const audit_record& r);

/// Reverse of to_json(r); nullopt when a field is missing or of the wrong type.
std::optional<audit_record> audit_from_json(const json::value& v);

/// The getAuditLog reply from up to limit + 1 records read newest first: {records (at most
/// `limit`, newest first), nextCursor (the seq to pass as `cursor` for the next, older page;
/// null when there is none)}.
json::value audit_log_reply(const std::vector<audit_record>& newest_first, size_t limit);

/// What is wrong at a record of the chain.
struct audit_problem {
  uint64_t seq = 0;            // the first record that does not verify
  std::string what;            // e.g. "hash mismatch: the record was changed"
};

/// Walks a chain in seq order from an anchor (seq 0 and the genesis hash, or the last pruned
/// record). Feed every record with check(); finish() reports rows missing at the end.
class audit_chain_checker {
public:
  audit_chain_checker(uint64_t anchor_seq, std::string anchor_hash);
  /// The first problem at or before `r` (later calls after a problem keep returning it).
  std::optional<audit_problem> check(const audit_record& r);
  /// After the last record: a problem when the chain ends before `expected_last_seq` (the
  /// writer's high-water mark), i.e. the newest records were removed.
  std::optional<audit_problem> finish(uint64_t expected_last_seq);
  uint64_t last_seq() const { return last_seq_; }
  const std::string& last_hash() const { return last_hash_; }
  uint64_t checked() const { return checked_; }

private:
  uint64_t last_seq_;
  std::string last_hash_;
  uint64_t checked_ = 0;
  std::optional<audit_problem> problem_;
};

} // namespace vigil

// `vigilctl replay --verify`: derive every alert from its events and compare with the alerts table.
// See replay_verify.hpp.

#include "storage/replay_verify.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include "domain/alert.hpp"
#include "domain/json.hpp"
#include "domain/json_fields.hpp"
#include "domain/time.hpp"
#include "storage/rows.hpp"
#include "storage/schema.hpp"

namespace vigil::storage {

namespace {

// ---- Reading event data -------------------------------------------------------------------------

const json::value* member(const json::value& v, std::string_view key) { return v.find(key); }

using json::read_int;
using json::read_opt_string;
using json::read_string;
using json::read_time;

// ---- Rendering values for the report --------------------------------------------------------------

std::string show(const std::string& s) {
  std::string out;
  json::write_string(out, s);
  return out;
}
std::string show(const std::optional<std::string>& s) { return s ? show(*s) : "null"; }
std::string show(const char* s) { return show(std::string(s)); }
std::string show(int i) { return std::to_string(i); }
std::string show_time(int64_t ms) { return format_iso(ms); }
std::string show_time(const std::optional<int64_t>& ms) { return ms ? format_iso(*ms) : "null"; }

/// One alert derived from its events.
struct derived_alert {
  alert state;
  std::string created_event;  // id of its alert.created event
  bool broken = false;        // an event could not be applied (already reported)
};

/// Applies one non-creation event to `a`; returns the problem when the event cannot be applied.
std::optional<std::string> apply_event(alert& a, const std::string& type, const json::value& data,
                                       int64_t ts) {
  auto wrong_state = [&](const char* expected) {
    return std::optional<std::string>(type + " while the alert was " + status_name(a.status) +
                                      " (expected " + expected + ")");
  };
  if (type == "alert.acknowledged") {
    if (a.status != alert_status::active) return wrong_state("active");
    std::string by;
    int64_t at = 0;
    std::optional<std::string> notes;
    int urgency = 0;
    if (!read_string(data, "acknowledgedBy", by) || !read_time(data, "acknowledgedAt", at) ||
        !read_opt_string(data, "notes", notes) || !read_int(data, "urgencyLevel", urgency))
      return std::string("its data lacks acknowledgedBy, acknowledgedAt, notes or urgencyLevel");
    a.status = alert_status::acknowledged;
    a.acknowledged_by = by;
    a.acknowledged_at = at;
    a.acknowledgement_notes = notes;
    a.urgency_level = urgency;
    a.next_escalation_at.reset();
  } else if (type == "alert.resolved") {
    if (a.status != alert_status::acknowledged) return wrong_state("acknowledged");
    std::string by;
    int64_t at = 0;
    std::optional<std::string> resolution;
    if (!read_string(data, "resolvedBy", by) || !read_time(data, "resolvedAt", at) ||
        !read_opt_string(data, "resolution", resolution))
      return std::string("its data lacks resolvedBy, resolvedAt or resolution");
    a.status = alert_status::resolved;
    a.resolved_by = by;
    a.resolved_at = at;
    a.resolution = resolution;
    a.next_escalation_at.reset();
  } else if (type == "alert.escalated") {
    if (a.status != alert_status::active) return wrong_state("active");
    auto parsed = escalation_from_json(data);
    if (!parsed)
      return std::string("its data is not an escalation record");
    escalation_record& r = *parsed;
    // The failsafe's last-tier call (unattended) stays at its tier.
    if (r.from_tier != a.escalation_level || r.to_tier != r.from_tier + (r.unattended ? 0 : 1))
      return "it escalates from tier " + std::to_string(r.from_tier) + " to " +
             std::to_string(r.to_tier) + " but the alert was at tier " +
             std::to_string(a.escalation_level);
    a.escalation_level = r.to_tier;
    a.escalations.push_back(std::move(r));
  } else if (type == "alert.updated") {
    if (a.status == alert_status::resolved) return wrong_state("active or acknowledged");
    if (member(data, "transferredFrom") != nullptr) {
      if (a.status != alert_status::acknowledged) return wrong_state("acknowledged");
      std::string to;
      std::optional<std::string> from;
      if (!read_string(data, "acknowledgedBy", to) || !read_opt_string(data, "transferredFrom", from))
        return std::string("its transfer data lacks acknowledgedBy or transferredFrom");
      if (from != a.acknowledged_by)
        return std::string("it transfers from a user who had not acknowledged the alert");
      a.acknowledged_by = to;
    } else {
      if (const json::value* d = member(data, "description"); d != nullptr) {
        if (!d->is_string()) return std::string("its description is not a string");
        a.description = d->as_string();
      }
      if (member(data, "urgencyLevel") != nullptr && !read_int(data, "urgencyLevel", a.urgency_level))
        return std::string("its urgencyLevel is not an integer");
    }
  } else {
    return "unknown event type " + show(type);
  }
  a.updated_at = ts;
  return std::nullopt;
}

} // namespace

// ---- The verifier ---------------------------------------------------------------------------------

struct replay_verifier::impl {
  verify_report report;
  std::optional<uint64_t> previous_seq;
  std::map<std::string, derived_alert> derived;  // ordered: deterministic report
  std::set<std::string> partial;  // alerts with stored events but no stored alert.created

  void problem(std::string text) { report.differences.push_back(std::move(text)); }

  void check_sequence(uint64_t seq);
  /// Parses and checks the payload against the columns; nullopt (reported) when unusable.
  std::optional<json::value> check_payload(const stored_event& e, const std::string& id);
  void apply(const stored_event& e, const std::string& id, const json::value& payload);
  void compare(const std::string& id, const derived_alert& d, const alert& table);
  void check_row(const alert_row& row, const json::value& json, const alert& table);
};

replay_verifier::replay_verifier(std::string epoch, uint64_t meta_last_seq,
                                 uint64_t pruned_through)
    : impl_(std::make_unique<impl>()) {
  impl_->report.epoch = std::move(epoch);
  impl_->report.meta_last_seq = meta_last_seq;
  impl_->report.pruned_through = pruned_through;
}

replay_verifier::~replay_verifier() = default;

void replay_verifier::impl::check_sequence(uint64_t seq) {
  // Missing seqs at or below pruned_through are explained by retention; anything above is a gap.
  const uint64_t pruned = report.pruned_through;
  const uint64_t expected = previous_seq ? *previous_seq + 1 : 1;
  if (previous_seq && seq <= *previous_seq) {
    problem("event seq " + std::to_string(seq) + " follows seq " + std::to_string(*previous_seq) +
            ": the log is not in ascending order");
    return;
  }
  if (seq > expected) {
    const uint64_t low = std::max(expected, pruned + 1);
    const uint64_t high = seq - 1;
    if (low <= high) {
      const std::string range =
          low == high ? "seq " + std::to_string(low)
                      : "seqs " + std::to_string(low) + ".." + std::to_string(high);
      problem("sequence gap: " + range + " missing before seq " + std::to_string(seq) +
              " (pruned through " + std::to_string(pruned) + ")");
    }
  }
  previous_seq = seq;
}

std::optional<json::value> replay_verifier::impl::check_payload(const stored_event& e,
                                                                const std::string& id) {
  std::string parse_error;
  auto payload = json::parse(e.payload, &parse_error);
  if (!payload || !payload->is_object()) {
    problem("event " + id + ": the payload is not a JSON object");
    return std::nullopt;
  }
  std::string text;
  auto expect_string = [&](const char* key, const std::string& column, const char* what) {
    if (!read_string(*payload, key, text) || text != column) {
      problem("event " + id + ": payload " + key + " does not match the " + what);
      return false;
    }
    return true;
  };
  bool ok = expect_string("id", id, "event's seq and the database epoch");
  ok &= expect_string("type", e.type, "type column");
  ok &= expect_string("alertId", e.alert_id, "alert_id column");
  ok &= expect_string("hospitalId", e.hospital_id, "hospital_id column");
  int64_t ts = 0;
  if (!read_time(*payload, "timestamp", ts) || ts != e.ts) {
    problem("event " + id + ": payload timestamp does not match the ts column");
    ok = false;
  }
  const json::value* data = payload->find("data");
  if (data == nullptr || !data->is_object()) {
    problem("event " + id + ": payload data is not an object");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return payload;
}

void replay_verifier::impl::apply(const stored_event& e, const std::string& id,
                                  const json::value& payload) {
  const json::value& data = *payload.find("data");
  if (e.alert_id == "*" || (data.find("resync") != nullptr)) {
    problem("event " + id + ": a resync event is stored in the log");
    return;
  }
  alert* state = nullptr;
  if (e.type == "alert.created") {
    if (derived.count(e.alert_id) != 0) {
      problem("event " + id + ": a second alert.created for alert " + e.alert_id);
      return;
    }
    if (partial.count(e.alert_id) != 0) {
      problem("event " + id + ": alert.created for alert " + e.alert_id +
              " comes after other events of that alert");
      return;
    }
    auto created = alert_from_json(data);
    if (!created) {
      problem("event " + id + ": its data is not a valid alert");
      return;
    }
    if (created->id != e.alert_id || created->hospital_id != e.hospital_id) {
      problem("event " + id + ": the created alert's id or hospitalId does not match the event");
      return;
    }
    derived_alert d;
    d.state = std::move(*created);
    d.created_event = id;
    state = &derived.emplace(e.alert_id, std::move(d)).first->second.state;
  } else {
    auto found = derived.find(e.alert_id);
    if (found == derived.end()) {
      partial.insert(e.alert_id);  // its alert.created was pruned (or is missing)
      return;
    }
    if (found->second.broken) return;
    if (auto why = apply_event(found->second.state, e.type, data, e.ts)) {
      problem("event " + id + " (alert " + e.alert_id + "): cannot be applied: " + *why);
      found->second.broken = true;
      return;
    }
    state = &found->second.state;
  }
  // The filter attributes stored with the event describe the alert after the event.
  if (e.urgency_level != 0 && e.urgency_level != state->urgency_level)
    problem("event " + id + ": urgency_level column " + std::to_string(e.urgency_level) +
            " but the alert's urgencyLevel after the event is " +
            std::to_string(state->urgency_level));
  if (!e.alert_type.empty() && e.alert_type != state->alert_type)
    problem("event " + id + ": alert_type column does not match the alert's alertType");
}

void replay_verifier::add_event(const stored_event& e) {
  verify_report& r = impl_->report;
  if (r.events == 0) r.first_seq = e.seq;
  ++r.events;
  r.last_seq = std::max(r.last_seq, e.seq);
  impl_->check_sequence(e.seq);
  const std::string id = format_event_id(r.epoch, e.seq);
  auto payload = impl_->check_payload(e, id);
  if (!payload) return;
  impl_->apply(e, id, *payload);
}

void replay_verifier::impl::compare(const std::string& id, const derived_alert& d,
                                    const alert& table) {
  const alert& ev = d.state;
  const std::string prefix = "alert " + id + ": ";
  auto differ = [&](const char* field, const std::string& from_events,
                    const std::string& in_table) {
    if (from_events != in_table)
      problem(prefix + field + ": the events give " + from_events + ", the alerts table has " +
              in_table);
  };
  // Free text (and the patient id) is compared but never printed.
  auto differ_private = [&](const char* field, const std::optional<std::string>& from_events,
                            const std::optional<std::string>& in_table) {
    if (from_events != in_table)
      problem(prefix + field + " differs between the events and the alerts table (value not shown)");
  };
  differ("hospitalId", show(ev.hospital_id), show(table.hospital_id));
  differ("roomNumber", show(ev.room_number), show(table.room_number));
  differ("alertType", show(ev.alert_type), show(table.alert_type));
  differ("urgencyLevel", show(ev.urgency_level), show(table.urgency_level));
  differ_private("description", ev.description, table.description);
  differ("status", show(status_name(ev.status)), show(status_name(table.status)));
  differ("escalationLevel", show(ev.escalation_level), show(table.escalation_level));
  differ("targetDepartment", show(ev.target_department), show(table.target_department));
  differ_private("patientId", ev.patient_id, table.patient_id);
  differ("createdBy", show(ev.created_by), show(table.created_by));
  differ("createdAt", show_time(ev.created_at), show_time(table.created_at));
  differ("updatedAt", show_time(ev.updated_at), show_time(table.updated_at));
  differ("acknowledgedBy", show(ev.acknowledged_by), show(table.acknowledged_by));
  differ("acknowledgedAt", show_time(ev.acknowledged_at), show_time(table.acknowledged_at));
  differ_private("acknowledgementNotes", ev.acknowledgement_notes, table.acknowledgement_notes);
  differ("resolvedBy", show(ev.resolved_by), show(table.resolved_by));
  differ("resolvedAt", show_time(ev.resolved_at), show_time(table.resolved_at));
  differ_private("resolution", ev.resolution, table.resolution);
  if (ev.escalations.size() != table.escalations.size()) {
    differ("escalations", std::to_string(ev.escalations.size()) + " records",
           std::to_string(table.escalations.size()));
    return;
  }
  for (size_t i = 0; i < ev.escalations.size(); ++i) {
    const escalation_record& x = ev.escalations[i];
    const escalation_record& y = table.escalations[i];
    const std::string field = "escalations." + std::to_string(i);
    if (x.from_tier != y.from_tier || x.to_tier != y.to_tier || x.to_role != y.to_role ||
        x.escalated_at != y.escalated_at || x.escalated_by != y.escalated_by ||
        x.reason != y.reason || x.unattended != y.unattended)
      problem(prefix + field + " differs between the events and the alerts table");
  }
}

void replay_verifier::impl::check_row(const alert_row& row, const json::value& json,
                                      const alert& table) {
  const std::string prefix = "alert " + row.id + ": ";
  if (table.id != row.id) problem(prefix + "the json id does not match the id column");
  if (table.hospital_id != row.hospital_id)
    problem(prefix + "the json hospitalId does not match the hospital_id column");
  if (status_name(table.status) != row.status)
    problem(prefix + "the status column is " + show(row.status) + " but the json status is " +
            show(status_name(table.status)));
  if (table.created_at != row.created_at)
    problem(prefix + "the created_at column does not match the json createdAt");
  if (table.next_escalation_at != row.next_escalation_at)
    problem(prefix + "the next_escalation_at column is " + show_time(row.next_escalation_at) +
            " but the json nextEscalationAt is " + show_time(table.next_escalation_at));
  int tier = 0;
  if (!read_int(json, "currentEscalationTier", tier) || tier != table.escalation_level)
    problem(prefix + "currentEscalationTier differs from escalationLevel");
  if (table.status != alert_status::active && table.next_escalation_at)
    problem(prefix + "nextEscalationAt is set although the alert is " + status_name(table.status));
}

verify_report replay_verifier::finish(const std::vector<alert_row>& alerts) {
  impl& s = *impl_;
  verify_report& r = s.report;
  if (r.events > 0 && r.meta_last_seq < r.last_seq)
    s.problem("meta last_seq is " + std::to_string(r.meta_last_seq) +
              ", below the newest stored seq " + std::to_string(r.last_seq));
  std::set<std::string> seen;
  for (const alert_row& row : alerts) {
    ++r.alerts;
    seen.insert(row.id);
    std::string parse_error;
    auto json = json::parse(row.json, &parse_error);
    std::optional<alert> table = json ? alert_from_json(*json) : std::nullopt;
    if (!table) {
      s.problem("alert " + row.id + ": the alerts table's json is not a valid alert");
      continue;
    }
    s.check_row(row, *json, *table);
    auto found = s.derived.find(row.id);
    if (found != s.derived.end()) {
      if (!found->second.broken) s.compare(row.id, found->second, *table);
      ++r.alerts_verified;
    } else if (r.pruned_through > 0) {
      ++r.alerts_not_verifiable;  // its alert.created (maybe all its events) went with retention
    } else {
      s.problem("alert " + row.id + ": no alert.created event is stored, and nothing was pruned");
    }
  }
  for (const auto& [id, d] : s.derived)
    if (seen.count(id) == 0)
      s.problem("alert " + id + " (created by event " + d.created_event +
                ") is missing from the alerts table");
  for (const std::string& id : s.partial)
    if (seen.count(id) == 0) s.problem("alert " + id + " has events but no row in the alerts table");
  return std::move(r);
}

// ---- The database -----------------------------------------------------------------------------

namespace {

/// A read-only connection with one read transaction, closed on destruction.
class snapshot {
public:
  ~snapshot() {
    if (db_ == nullptr) return;
    if (in_transaction_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close_v2(db_);
  }

  bool open(const std::string& path, std::string* error) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return fail("file does not exist", error);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      return fail(db_ != nullptr ? sqlite3_errmsg(db_) : "cannot open", error);
    sqlite3_busy_timeout(db_, 5000);
    if (!check_schema_read_only(db_, error)) return false;
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
      return fail(std::string("begin: ") + sqlite3_errmsg(db_), error);
    in_transaction_ = true;
    return true;
  }

  /// A meta value; nullopt when absent. *error is set (and false returned via ok) on failure.
  std::optional<std::string> meta(const char* key, bool* ok, std::string* error) {
    std::optional<std::string> out;
    *ok = query(sql::get_meta, [&](sqlite3_stmt* s) { sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC); },
                [&](sqlite3_stmt* s) { out = column_text(s, 0); }, error);
    return out;
  }

  bool events(const std::function<void(const stored_event&)>& each, std::string* error) {
    return query(
        sql::all_events_after,
        [](sqlite3_stmt* s) {
          sqlite3_bind_int64(s, 1, 0);
          sqlite3_bind_int64(s, 2, -1);  // LIMIT -1: no limit
        },
        [&](sqlite3_stmt* s) { each(read_event(s)); },
        error);
  }

  bool alerts(std::vector<alert_row>* out, std::string* error) {
    return query(
        sql::load_all_alerts, [](sqlite3_stmt*) {},
        [&](sqlite3_stmt* s) { out->push_back(read_alert(s)); },
        error);
  }

private:
  static bool fail(const std::string& message, std::string* error) {
    if (error != nullptr) *error = message;
    return false;
  }

  template <typename Bind, typename Row>
  bool query(const char* sql_text, Bind bind, Row row, std::string* error) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql_text, -1, &s, nullptr) != SQLITE_OK)
      return fail(std::string("prepare: ") + sqlite3_errmsg(db_), error);
    bind(s);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
    const bool ok = rc == SQLITE_DONE;
    if (!ok) fail(std::string("read: ") + sqlite3_errmsg(db_), error);
    sqlite3_finalize(s);
    return ok;
  }

  sqlite3* db_ = nullptr;
  bool in_transaction_ = false;
};

/// A meta value that may be absent (0), else a non-negative integer.
bool parse_meta_u64(const std::optional<std::string>& text, uint64_t* out) {
  *out = 0;
  return !text || parse_u64(*text, out);
}

} // namespace

std::optional<verify_report> verify_database(
  const std::string& path, std::string* error,
  const std::function<void(uint64_t, uint64_t)>& progress) {
  std::string message;
  auto failed = [&](const std::string& what) {
    if (error != nullptr) *error = "verify " + path + ": " + what;
    return std::nullopt;
  };
  snapshot db;
  if (!db.open(path, &message)) return failed(message);
  bool ok = false;
  auto epoch = db.meta(meta_key::epoch, &ok, &message);
  if (!ok) return failed(message);
  if (!epoch || !is_valid_epoch(*epoch)) return failed("the database has no valid epoch");
  uint64_t meta_last_seq = 0, pruned_through = 0;
  auto last_text = db.meta(meta_key::last_seq, &ok, &message);
  if (!ok) return failed(message);
  if (!parse_meta_u64(last_text, &meta_last_seq))
    return failed("meta last_seq is not a non-negative integer");
  auto pruned_text = db.meta(meta_key::pruned_through, &ok, &message);
  if (!ok) return failed(message);
  if (!parse_meta_u64(pruned_text, &pruned_through))
    return failed("meta pruned_through is not a non-negative integer");

  replay_verifier verifier(*epoch, meta_last_seq, pruned_through);
  const uint64_t expected = meta_last_seq > pruned_through ? meta_last_seq - pruned_through : 0;
  uint64_t read = 0;
  if (!db.events(
        [&](const stored_event& e) {
          verifier.add_event(e);
          if (progress) progress(++read, expected);
        },
        &message))
    return failed(message);
  std::vector<alert_row> alerts;
  if (!db.alerts(&alerts, &message)) return failed(message);
  return verifier.finish(alerts);
}

std::string format_report(const verify_report& r) {
  std::string out;
  out += "epoch: " + r.epoch + "\n";
  out += "events: " + std::to_string(r.events);
  if (r.events > 0)
    out += " stored (seq " + std::to_string(r.first_seq) + ".." + std::to_string(r.last_seq) + ")";
  out += ", meta last_seq " + std::to_string(r.meta_last_seq) + ", pruned through " +
         std::to_string(r.pruned_through) + "\n";
  out += "alerts: " + std::to_string(r.alerts) + " (" + std::to_string(r.alerts_verified) +
         " verified, " + std::to_string(r.alerts_not_verifiable) +
         " not verifiable: their alert.created event was pruned)\n";
  out += "differences: " + std::to_string(r.differences.size()) + "\n";
  for (const std::string& d : r.differences) out += "  - " + d + "\n";
  out += r.consistent() ? "result: consistent\n" : "result: INCONSISTENT\n";
  return out;
}

} // namespace vigil::storage

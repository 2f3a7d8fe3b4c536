#include "domain/alert_text.hpp"

#include <charconv>

#include "domain/receipts.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

/// `,"key":` (no comma for the first member).
void key(std::string& out, const char* k, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += k;
  out += "\":";
}

void put_int(std::string& out, int64_t i) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

void put_date(std::string& out, int64_t ms) {
  out += '"';
  append_iso(out, ms);
  out += '"';
}

void put_opt_string(std::string& out, const std::optional<std::string>& s) {
  if (s) json::write_string(out, *s);
  else out += "null";
}

void put_opt_date(std::string& out, const std::optional<int64_t>& ms) {
  if (ms) put_date(out, *ms);
  else out += "null";
}

/// Appends `dates` (entries relative to a value) with every path under `prefix`.
void prefixed_entries(std::string& entries, std::string_view dates, std::string_view prefix) {
  constexpr std::string_view tag = "\":[\"Date\"]";
  size_t pos = 0;
  while (pos < dates.size()) {
    // Each entry is `"<path>":["Date"]`; the paths of alert_text need no escaping.
    size_t end = dates.find(tag, pos);
    if (end == std::string_view::npos) break;
    if (!entries.empty()) entries += ',';
    entries += '"';
    entries += prefix;
    entries += '.';
    entries.append(dates.substr(pos + 1, end - pos - 1));
    entries += tag;
    pos = end + tag.size();
    if (pos < dates.size() && dates[pos] == ',') ++pos;
  }
}

/// The members to_json(a, true) adds, then the closing brace. Short and usually empty lists:
/// their trees are cheap, and one writer keeps one shape.
void row_members(std::string& out, const alert& a) {
  key(out, "escalations");
  out += '[';
  for (size_t i = 0; i < a.escalations.size(); ++i) {
    if (i > 0) out += ',';
    json::write(out, to_json(a.escalations[i]));
  }
  out += ']';
  key(out, "receipts");
  out += '[';
  for (size_t i = 0; i < a.receipts.size(); ++i) {
    if (i > 0) out += ',';
    json::write(out, to_json(a.receipts[i]));
  }
  out += ']';
  key(out, "seenBy");
  json::write(out, seen_by_json(a));
  key(out, "attendedTier");
  put_int(out, a.attended_tier);
  out += '}';
}

} // namespace

void write_alert(std::string& out, const alert& a, bool with_escalations) {
  out.reserve(out.size() + 640);
  out += '{';
  key(out, "id", true);
  json::write_string(out, a.id);
  key(out, "hospitalId");
  json::write_string(out, a.hospital_id);
  key(out, "roomNumber");
  json::write_string(out, a.room_number);
  key(out, "alertType");
  json::write_string(out, a.alert_type);
  key(out, "urgencyLevel");
  put_int(out, a.urgency_level);
  key(out, "description");
  put_opt_string(out, a.description);
  key(out, "status");
  out += '"';
  out += status_name(a.status);
  out += '"';
  key(out, "escalationLevel");
  put_int(out, a.escalation_level);
  key(out, "currentEscalationTier");
  put_int(out, a.escalation_level);
  key(out, "nextEscalationAt");
  put_opt_date(out, a.next_escalation_at);
  key(out, "targetDepartment");
  put_opt_string(out, a.target_department);
  key(out, "patientId");
  put_opt_string(out, a.patient_id);
  key(out, "createdBy");
  json::write_string(out, a.created_by);
  key(out, "createdAt");
  put_date(out, a.created_at);
  key(out, "updatedAt");
  put_date(out, a.updated_at);
  key(out, "acknowledgedBy");
  put_opt_string(out, a.acknowledged_by);
  key(out, "acknowledgedAt");
  put_opt_date(out, a.acknowledged_at);
  key(out, "acknowledgementNotes");
  put_opt_string(out, a.acknowledgement_notes);
  key(out, "resolvedBy");
  put_opt_string(out, a.resolved_by);
  key(out, "resolvedAt");
  put_opt_date(out, a.resolved_at);
  key(out, "resolution");
  put_opt_string(out, a.resolution);
  if (with_escalations) {
    row_members(out, a);
    return;
  }
  out += '}';
}

json_text alert_text(const alert& a) {
  json_text t;
  write_alert(t.plain, a, false);
  // The same entries as alert_date_entries, relative to the alert itself.
  auto root = [&](const char* k) {
    if (!t.dates.empty()) t.dates += ',';
    t.dates += '"';
    t.dates += k;
    t.dates += "\":[\"Date\"]";
  };
  if (a.next_escalation_at) root("nextEscalationAt");
  root("createdAt");
  root("updatedAt");
  if (a.acknowledged_at) root("acknowledgedAt");
  if (a.resolved_at) root("resolvedAt");
  return t;
}

std::string alert_row_text(const std::string& alert_plain, const alert& a) {
  // to_json(a, true) is to_json(a) with four more members at the end.
  std::string out;
  out.reserve(alert_plain.size() + 96);
  out.append(alert_plain, 0, alert_plain.size() - 1); // without the closing brace
  row_members(out, a);
  return out;
}

std::string meta_of(std::string_view entries) {
  if (entries.empty()) return {};
  std::string out = "{\"values\":{";
  out += entries;
  out += "},\"v\":1}";
  return out;
}

event_text encode_event_text(const alert_event& e, const json_text* data_text) {
  event_text t;
  std::string& out = t.rest;
  out.reserve(160 + (data_text != nullptr ? data_text->plain.size() : 256));
  key(out, "type");
  json::write_string(out, e.type);
  key(out, "alertId");
  json::write_string(out, e.alert_id);
  key(out, "hospitalId");
  json::write_string(out, e.hospital_id);
  key(out, "timestamp");
  put_date(out, e.timestamp);
  key(out, "data");
  std::string entries = "\"timestamp\":[\"Date\"]";
  if (data_text != nullptr) {
    out += data_text->plain;
    prefixed_entries(entries, data_text->dates, "data");
  } else {
    json::write(out, e.data);
    json::append_date_entries(entries, e.data, "data");
  }
  out += '}';
  t.meta = meta_of(entries);
  return t;
}

std::string event_payload(std::string_view id, std::string_view rest) {
  std::string out;
  out.reserve(8 + id.size() + rest.size());
  out += "{\"id\":";
  json::write_string(out, id);
  out += rest;
  return out;
}

json_text reply_text(const json::value& head, const json_text& alert) {
  json_text t;
  t.plain.reserve(alert.plain.size() + 64);
  json::write(t.plain, head);
  t.plain.pop_back(); // the closing brace of the head object
  t.plain += t.plain.size() > 1 ? ",\"alert\":" : "\"alert\":";
  t.plain += alert.plain;
  t.plain += '}';
  json::append_date_entries(t.dates, head, "");
  prefixed_entries(t.dates, alert.dates, "alert");
  return t;
}

} // namespace vigil

// The procedure table and input validation (docs/api.md "Input validation", "Mutations",
// "Queries", "Subscriptions").
//
// Validation is table-driven: every procedure has a list of field specs in the order of its
// input table. A validator walks the list, collects one issue per offending field (the first
// check that fails, in zod's check order) and builds a fresh, normalised object holding only the
// known keys. Reasons mimic zod's wording so clients see familiar messages.

#include "domain/procedures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/event_id.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

// ---- The procedure table ------------------------------------------------------------------------

constexpr procedure_info procedure_table[] = {
  {procedure::create_alert, "healthcare.createAlert", proc_kind::mutation, permission::create,
   proc_scope::hospital},
  {procedure::acknowledge_alert, "healthcare.acknowledgeAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::resolve_alert, "healthcare.resolveAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::trigger_escalation, "healthcare.triggerEscalation", proc_kind::mutation,
   permission::escalate, proc_scope::alert},
  {procedure::update_alert, "healthcare.updateAlert", proc_kind::mutation, permission::update,
   proc_scope::alert},
  {procedure::transfer_alert, "healthcare.transferAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::batch_acknowledge_alerts, "healthcare.batchAcknowledgeAlerts", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert_list},
  {procedure::batch_resolve_alerts, "healthcare.batchResolveAlerts", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert_list},
  {procedure::confirm_delivery, "healthcare.confirmDelivery", proc_kind::mutation,
   permission::view, proc_scope::hospital},
  {procedure::get_active_alerts, "healthcare.getActiveAlerts", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::get_alert, "healthcare.getAlert", proc_kind::query, permission::view,
   proc_scope::alert},
  {procedure::get_metrics, "healthcare.getMetrics", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::get_escalation_status, "healthcare.getEscalationStatus", proc_kind::query,
   permission::view, proc_scope::alert},
  {procedure::get_active_escalations, "healthcare.getActiveEscalations", proc_kind::query,
   permission::view, proc_scope::hospital},
  {procedure::get_alert_timeline, "healthcare.getAlertTimeline", proc_kind::query,
   permission::view, proc_scope::alert},
  {procedure::get_alert_history, "healthcare.getAlertHistory", proc_kind::query,
   permission::view, proc_scope::hospital},
  {procedure::get_alert_stats, "healthcare.getAlertStats", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::subscribe_to_alerts, "healthcare.subscribeToAlerts", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::subscribe_to_alert, "healthcare.subscribeToAlert", proc_kind::subscription,
   permission::view, proc_scope::alert},
  {procedure::subscribe_to_metrics, "healthcare.subscribeToMetrics", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::subscribe_to_presence, "healthcare.subscribeToPresence", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::get_audit_log, "healthcare.getAuditLog", proc_kind::query, permission::view_audit,
   proc_scope::hospital},
};

// ---- Field specs --------------------------------------------------------------------------------

enum class field_kind {
  text,         // string, length bounds in code points
  integer,      // JSON number without fraction
  number,       // any JSON number
  choice,       // string enum
  uuid,
  hospital_id,
  room_number,  // normalised to upper case
  event_id,     // `<epoch>-<seq>` (domain/event_id.hpp)
  timestamp,    // ISO-8601 string (date-flagged or not) -> date value
  list,         // array of `element`, length bounds
  object,       // nested object of `members`
};

using choices = std::vector<std::string_view>;

struct field_spec {
  std::string_view key;
  field_kind kind = field_kind::text;
  bool required = false;
  std::optional<double> min;
  std::optional<double> max;
  const choices* options = nullptr;                 // choice
  std::shared_ptr<const field_spec> element;        // list
  std::shared_ptr<const std::vector<field_spec>> members; // object
  std::optional<json::value> fallback;              // default when absent
};

// Largest integer a JavaScript client can represent exactly; the implicit upper bound of integer
// fields that have none, so every accepted value fits int64.
constexpr double max_safe_integer = 9007199254740991.0;

field_spec make(std::string_view key, field_kind kind) {
  field_spec f;
  f.key = key;
  f.kind = kind;
  return f;
}

field_spec text(std::string_view key, std::optional<double> min, std::optional<double> max) {
  field_spec f = make(key, field_kind::text);
  f.min = min;
  f.max = max;
  return f;
}

field_spec integer(std::string_view key, double min, double max) {
  field_spec f = make(key, field_kind::integer);
  f.min = min;
  f.max = max;
  return f;
}

field_spec number(std::string_view key, double min, double max) {
  field_spec f = make(key, field_kind::number);
  f.min = min;
  f.max = max;
  return f;
}

field_spec choice(std::string_view key, const choices& options) {
  field_spec f = make(key, field_kind::choice);
  f.options = &options;
  return f;
}

field_spec list(std::string_view key, field_spec element, std::optional<double> min,
                std::optional<double> max) {
  field_spec f = make(key, field_kind::list);
  f.element = std::make_shared<const field_spec>(std::move(element));
  f.min = min;
  f.max = max;
  return f;
}

field_spec object(std::string_view key, std::vector<field_spec> members) {
  field_spec f = make(key, field_kind::object);
  f.members = std::make_shared<const std::vector<field_spec>>(std::move(members));
  return f;
}

field_spec required(field_spec f) {
  f.required = true;
  return f;
}

field_spec with_default(field_spec f, json::value v) {
  f.fallback = std::move(v);
  return f;
}

const choices alert_types = {"cardiac_arrest", "code_blue", "fire", "security",
                             "medical_emergency"};
const choices event_types = {"alert.created", "alert.escalated", "alert.updated",
                             "alert.acknowledged", "alert.resolved"};
const choices urgency_assessments = {"maintain", "increase", "decrease"};
const choices response_actions = {"responding", "delayed", "delegating", "monitoring"};
const choices status_filters = {"active", "acknowledged", "resolved", "all"};
const choices sort_fields = {"createdAt", "urgencyLevel", "acknowledgedAt"};
const choices sort_orders = {"asc", "desc"};

field_spec hospital_field() { return required(make("hospitalId", field_kind::hospital_id)); }
field_spec alert_field() { return required(make("alertId", field_kind::uuid)); }
field_spec alert_list_field() {
  return required(list("alertIds", make("", field_kind::uuid), 1, 50));
}
field_spec room_field() {
  field_spec f = required(make("roomNumber", field_kind::room_number));
  f.min = 1;
  f.max = 10;
  return f;
}
field_spec last_event_field() { return text("lastEventId", std::nullopt, 200); }

std::vector<field_spec> build_schema(procedure p) {
  switch (p) {
    case procedure::create_alert:
      return {hospital_field(),
              room_field(),
              required(choice("alertType", alert_types)),
              required(integer("urgencyLevel", 1, 5)),
              text("description", std::nullopt, 500),
              text("targetDepartment", 1, 64),
              text("patientId", 1, 64),
              text("idempotencyKey", 1, 100)};
    case procedure::acknowledge_alert:
      return {alert_field(),
              text("notes", 1, 500),
              with_default(choice("urgencyAssessment", urgency_assessments), "maintain"),
              choice("responseAction", response_actions),
              number("estimatedResponseTime", 1, 999),
              text("delegateTo", 1, 100)};
    case procedure::resolve_alert:
      return {alert_field(), required(text("resolution", 10, 1000))};
    case procedure::trigger_escalation:
      return {alert_field(), text("reason", std::nullopt, 500)};
    case procedure::update_alert:
      return {alert_field(), text("description", std::nullopt, 500),
              integer("urgencyLevel", 1, 5)};
    case procedure::transfer_alert:
      return {alert_field(), required(text("toUserId", 1, 100)), required(text("reason", 1, 500))};
    case procedure::batch_acknowledge_alerts:
      return {alert_list_field(), text("notes", 1, 500)};
    case procedure::batch_resolve_alerts:
      return {alert_list_field(), required(text("resolution", 10, 1000))};
    case procedure::confirm_delivery:
      return {hospital_field(), required(list("eventIds", make("", field_kind::event_id), 1, 100))};
    case procedure::get_active_alerts:
      return {hospital_field(),
              with_default(choice("status", status_filters), "active"),
              integer("urgencyLevel", 1, 5),
              choice("alertType", alert_types),
              with_default(choice("sortBy", sort_fields), "createdAt"),
              with_default(choice("sortOrder", sort_orders), "desc"),
              with_default(integer("limit", 1, 100), 20),
              with_default(integer("offset", 0, max_safe_integer), 0),
              text("cursor", std::nullopt, std::nullopt)};
    case procedure::get_alert:
    case procedure::get_escalation_status:
    case procedure::get_alert_timeline:
      return {alert_field()};
    case procedure::get_metrics:
    case procedure::get_active_escalations:
    case procedure::get_alert_stats:
    case procedure::subscribe_to_presence:
      return {hospital_field()};
    case procedure::get_alert_history:
      return {hospital_field(),
              make("startDate", field_kind::timestamp),
              make("endDate", field_kind::timestamp),
              with_default(integer("limit", 1, 100), 50),
              with_default(integer("offset", 0, max_safe_integer), 0)};
    case procedure::subscribe_to_alerts: {
      field_spec filter = object(
          "filter", {list("types", choice("", event_types), 1, std::nullopt),
                     integer("maxUrgencyLevel", 1, 5),
                     list("alertTypes", choice("", alert_types), 1, std::nullopt)});
      return {hospital_field(), last_event_field(), std::move(filter)};
    }
    case procedure::subscribe_to_alert:
      return {alert_field(), last_event_field()};
    case procedure::get_audit_log:
      // cursor: the seq of the last record of the previous page (pages go newest first).
      return {hospital_field(), integer("cursor", 1, max_safe_integer),
              with_default(integer("limit", 1, 500), 50)};
    case procedure::subscribe_to_metrics:
      // No default here: an absent interval means the server's `metrics.interval`.
      return {hospital_field(), integer("interval", 1000, 60000)};
  }
  return {};
}

constexpr size_t procedure_count = sizeof(procedure_table) / sizeof(procedure_table[0]);

/// Schemas are built once (thread-safe static) and indexed by the enum value.
const std::vector<field_spec>& schema_of(procedure p) {
  static const std::vector<std::vector<field_spec>> schemas = [] {
    std::vector<std::vector<field_spec>> all(procedure_count);
    for (const auto& info : procedure_table)
      all[static_cast<size_t>(info.id)] = build_schema(info.id);
    return all;
  }();
  return schemas[static_cast<size_t>(p)];
}

// ---- Issue collection ---------------------------------------------------------------------------

struct issue {
  std::string path;
  std::string reason;
};

using issue_list = std::vector<issue>;

/// A BAD_REQUEST message names at most this many issues, then how many more there were: one
/// request full of bad values (a 1 MiB list of bad ids) must not make a reply many times its size.
constexpr size_t max_reported_issues = 20;

std::string join_path(const std::string& prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  std::string out = prefix;
  out += '.';
  out += key;
  return out;
}

/// zod's name for the type of a received value.
const char* received_type(const json::value& v) {
  switch (v.type()) {
    case json::value::kind::null: return "null";
    case json::value::kind::boolean: return "boolean";
    case json::value::kind::integer:
    case json::value::kind::number: return "number";
    case json::value::kind::string: return "string";
    case json::value::kind::array: return "array";
    case json::value::kind::object: return "object";
  }
  return "unknown";
}

/// `'a' | 'b' | 'c'`.
std::string join_choices(const choices& options) {
  std::string out;
  for (size_t i = 0; i < options.size(); ++i) {
    if (i) out += " | ";
    out += '\'';
    out += options[i];
    out += '\'';
  }
  return out;
}

/// The type a field expects, as zod names it in "Expected <type>, received <type>".
std::string expected_type(const field_spec& f) {
  switch (f.kind) {
    case field_kind::text:
    case field_kind::uuid:
    case field_kind::hospital_id:
    case field_kind::event_id:
    case field_kind::room_number: return "string";
    case field_kind::integer:
    case field_kind::number: return "number";
    case field_kind::choice: return join_choices(*f.options);
    case field_kind::timestamp: return "date";
    case field_kind::list: return "array";
    case field_kind::object: return "object";
  }
  return "unknown";
}

/// Bounds are whole numbers in every schema; print them without a fraction.
std::string format_bound(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e18) return std::to_string(static_cast<int64_t>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

/// Number of Unicode code points of valid UTF-8 (continuation bytes are not counted).
size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

char to_upper_ascii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string to_lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

/// `^[A-Z0-9]{1,4}(-[A-Z0-9]{1,3})?$` on an already upper-cased string.
bool room_number_matches(std::string_view s) {
  size_t dash = s.find('-');
  std::string_view head = s.substr(0, dash);
  if (head.empty() || head.size() > 4) return false;
  for (char c : head)
    if (!is_upper_alnum(c)) return false;
  if (dash == std::string_view::npos) return true;
  std::string_view tail = s.substr(dash + 1);
  if (tail.empty() || tail.size() > 3) return false;
  for (char c : tail)
    if (!is_upper_alnum(c)) return false;
  return true;
}

class validator {
public:
  validator(issue_list& issues, size_t& unreported) : issues_(issues), unreported_(unreported) {}

  /// Validates the members of `in` against `fields`; returns the normalised object.
  json::value check_object(const json::value& in, const std::vector<field_spec>& fields,
                           const std::string& prefix) {
    json::value out = json::value::make_object();
    for (const auto& f : fields) {
      std::string path = join_path(prefix, f.key);
      const json::value* v = in.find(f.key);
      // Optional fields sent as null count as absent (plain clients send null for "not given").
      if (!v || (v->is_null() && !f.required)) {
        if (f.required)
          add(path, "Required");
        else if (f.fallback)
          out.set(std::string(f.key), *f.fallback);
        continue;
      }
      if (auto ok = check_value(f, *v, path)) out.set(std::string(f.key), std::move(*ok));
    }
    return out;
  }

private:
  void add(std::string path, std::string reason) {
    if (issues_.size() >= max_reported_issues) {
      ++unreported_;
      return;
    }
    issues_.push_back({std::move(path), std::move(reason)});
  }

  void type_mismatch(const field_spec& f, const json::value& v, const std::string& path) {
    add(path, "Expected " + expected_type(f) + ", received " + received_type(v));
  }

  std::optional<json::value> check_value(const field_spec& f, const json::value& v,
                                         const std::string& path) {
    switch (f.kind) {
      case field_kind::text:
      case field_kind::room_number: return check_text(f, v, path);
      case field_kind::integer:
      case field_kind::number: return check_number(f, v, path);
      case field_kind::choice: return check_choice(f, v, path);
      case field_kind::uuid:
        if (!v.is_string()) break;
        if (!valid_uuid(v.as_string())) {
          add(path, "Invalid uuid");
          return std::nullopt;
        }
        // Alert ids are stored lowercase; accept any case on input.
        return json::value(to_lower_ascii(v.as_string()));
      case field_kind::event_id:
        if (!v.is_string()) break;
        if (!parse_event_id(v.as_string())) {
          add(path, "Invalid event id");
          return std::nullopt;
        }
        return json::value(v.as_string());
      case field_kind::hospital_id:
        if (!v.is_string()) break;
        if (!valid_hospital_id(v.as_string())) {
          add(path, "Invalid hospital id");
          return std::nullopt;
        }
        return json::value(v.as_string());
      case field_kind::timestamp: return check_timestamp(f, v, path);
      case field_kind::list: return check_list(f, v, path);
      case field_kind::object:
        if (!v.is_object()) break;
        return check_object(v, *f.members, path);
    }
    type_mismatch(f, v, path);
    return std::nullopt;
  }

  std::optional<json::value> check_text(const field_spec& f, const json::value& v,
                                        const std::string& path) {
    if (!v.is_string()) {
      type_mismatch(f, v, path);
      return std::nullopt;
    }
    const std::string& s = v.as_string();
    size_t len = code_points(s);
    if (f.min && len < *f.min) {
      add(path, "String must contain at least " + format_bound(*f.min) + " character(s)");
      return std::nullopt;
    }
    if (f.max && len > *f.max) {
      add(path, "String must contain at most " + format_bound(*f.max) + " character(s)");
      return std::nullopt;
    }
    if (f.kind == field_kind::room_number) {
      std::string upper = s;
      for (char& c : upper) c = to_upper_ascii(c);
      if (!room_number_matches(upper)) {
        add(path, "Invalid room number format");
        return std::nullopt;
      }
      return json::value(std::move(upper));
    }
    // A fresh value: drops a date flag a superjson client may have put on a free-text field.
    return json::value(s);
  }

  std::optional<json::value> check_number(const field_spec& f, const json::value& v,
                                          const std::string& path) {
    if (!v.is_number()) {
      type_mismatch(f, v, path);
      return std::nullopt;
    }
    double d = v.as_double();
    bool whole = v.is_int() || (std::isfinite(d) && std::floor(d) == d);
    if (f.kind == field_kind::integer && !whole) {
      add(path, "Expected integer, received float");
      return std::nullopt;
    }
    bool below = f.min && d < *f.min;
    bool above = f.max && d > *f.max;
    if (below) {
      add(path, "Number must be greater than or equal to " + format_bound(*f.min));
      return std::nullopt;
    }
    if (above) {
      add(path, "Number must be less than or equal to " + format_bound(*f.max));
      return std::nullopt;
    }
    if (f.kind == field_kind::integer || v.is_int())
      return json::value(v.is_int() ? v.as_int() : static_cast<int64_t>(d));
    return json::value(d);
  }

  std::optional<json::value> check_choice(const field_spec& f, const json::value& v,
                                          const std::string& path) {
    if (!v.is_string()) {
      type_mismatch(f, v, path);
      return std::nullopt;
    }
    for (auto option : *f.options)
      if (option == v.as_string()) return json::value(v.as_string());
    add(path, "Invalid enum value. Expected " + join_choices(*f.options) + ", received '" +
                  v.as_string() + "'");
    return std::nullopt;
  }

  std::optional<json::value> check_timestamp(const field_spec& f, const json::value& v,
                                             const std::string& path) {
    if (!v.is_string()) {
      type_mismatch(f, v, path);
      return std::nullopt;
    }
    auto ms = parse_iso(v.as_string());
    if (!ms) {
      add(path, "Invalid datetime");
      return std::nullopt;
    }
    return json::value::date(*ms);
  }

  std::optional<json::value> check_list(const field_spec& f, const json::value& v,
                                        const std::string& path) {
    if (!v.is_array()) {
      type_mismatch(f, v, path);
      return std::nullopt;
    }
    const auto& items = v.as_array();
    bool ok = true;
    // As zod does: the length issue first, then every bad element.
    if (f.min && static_cast<double>(items.size()) < *f.min) {
      add(path, "Array must contain at least " + format_bound(*f.min) + " element(s)");
      ok = false;
    } else if (f.max && static_cast<double>(items.size()) > *f.max) {
      add(path, "Array must contain at most " + format_bound(*f.max) + " element(s)");
      ok = false;
    }
    json::value out = json::value::make_array();
    for (size_t i = 0; i < items.size(); ++i) {
      auto item = check_value(*f.element, items[i], join_path(path, std::to_string(i)));
      if (item)
        out.push(std::move(*item));
      else
        ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  issue_list& issues_;
  size_t& unreported_;
};

bool absent(const json::value& in, std::string_view key) {
  const json::value* v = in.find(key);
  return !v || v->is_null();
}

/// Rules spanning several fields, checked after the per-field rules.
void check_cross_field(procedure p, const json::value& in, const json::value& out,
                       issue_list& issues) {
  if (p == procedure::acknowledge_alert) {
    const json::value* action = out.find("responseAction");
    if (action && action->as_string() == "delegating" && absent(in, "delegateTo"))
      issues.push_back({"delegateTo", "delegateTo is required when responseAction is delegating"});
  } else if (p == procedure::update_alert) {
    if (absent(in, "description") && absent(in, "urgencyLevel"))
      issues.push_back({"input", "At least one of description, urgencyLevel is required"});
  }
}

call_error invalid(const issue_list& issues, size_t unreported = 0) {
  std::string msg = "Invalid input: ";
  size_t shown = std::min(issues.size(), max_reported_issues);
  unreported += issues.size() - shown;
  for (size_t i = 0; i < shown; ++i) {
    if (i) msg += "; ";
    msg += issues[i].path;
    msg += ": ";
    msg += issues[i].reason;
  }
  if (unreported > 0) {
    msg += "; and ";
    msg += std::to_string(unreported);
    msg += unreported == 1 ? " more issue" : " more issues";
  }
  return {trpc_code::bad_request, std::move(msg)};
}

} // namespace

const procedure_info* find_procedure(std::string_view path) {
  for (const auto& info : procedure_table)
    if (path == info.path) return &info;
  return nullptr;
}

std::variant<json::value, call_error> validate_input(procedure p, const json::value* input) {
  issue_list issues;
  // A null root is what a superjson `undefined` or a plain `null` input amounts to: no input.
  if (!input || input->is_null()) {
    issues.push_back({"input", "Required"});
    return invalid(issues);
  }
  if (!input->is_object()) {
    issues.push_back({"input", std::string("Expected object, received ") + received_type(*input)});
    return invalid(issues);
  }
  size_t unreported = 0;
  validator check(issues, unreported);
  json::value out = check.check_object(*input, schema_of(p), "");
  check_cross_field(p, *input, out, issues);
  if (!issues.empty()) return invalid(issues, unreported);
  return out;
}

bool valid_hospital_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

} // namespace vigil

#include "domain/queries.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>
#include <utility>

#include "domain/base64url.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

constexpr int64_t ms_per_second = 1000;
constexpr int64_t ms_per_minute = 60 * ms_per_second;
constexpr int64_t ms_per_hour = 60 * ms_per_minute;
constexpr int64_t ms_per_day = 24 * ms_per_hour;

// ---- Input helpers ------------------------------------------------------------------------------
// The input is already validated and defaulted; the fallbacks only guard against a caller that
// skipped validation, so a missing key never turns into garbage.

std::string input_string(const json::value& in, std::string_view key, std::string fallback) {
  const json::value* v = in.find(key);
  return (v && v->is_string()) ? v->as_string() : std::move(fallback);
}

std::optional<int64_t> input_int(const json::value& in, std::string_view key) {
  const json::value* v = in.find(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->as_int();
}

/// A timestamp input: a date string (validated inputs) or, leniently, milliseconds.
std::optional<int64_t> input_time(const json::value& in, std::string_view key) {
  const json::value* v = in.find(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return parse_iso(v->as_string());
  if (v->is_number()) return v->as_int();
  return std::nullopt;
}

// ---- Numbers ------------------------------------------------------------------------------------

/// A number that prints as an integer when it is whole (e.g. `1`, `2`), else as a double.
json::value whole_or_double(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15)
    return json::value(static_cast<int64_t>(d));
  return json::value(d);
}

/// Whole seconds of a non-negative duration, dropping the fraction (like the original's
/// responseTimeSeconds).
int64_t whole_seconds(int64_t ms) { return ms / ms_per_second; }

/// Mean of durations in milliseconds as seconds rounded to the nearest integer; 0 when empty.
int64_t mean_seconds_rounded(int64_t sum_ms, int64_t count) {
  if (count == 0) return 0;
  double mean = static_cast<double>(sum_ms) / static_cast<double>(count) / ms_per_second;
  return std::llround(mean);
}

// ---- getActiveAlerts: sort keys -----------------------------------------------------------------

enum class sort_field { created_at, urgency_level, acknowledged_at };

/// Short tag of a sort field inside a cursor.
char field_tag(sort_field f) {
  switch (f) {
    case sort_field::created_at: return 'c';
    case sort_field::urgency_level: return 'u';
    case sort_field::acknowledged_at: return 'a';
  }
  return 'c';
}

sort_field parse_sort_field(const std::string& s) {
  if (s == "urgencyLevel") return sort_field::urgency_level;
  if (s == "acknowledgedAt") return sort_field::acknowledged_at;
  return sort_field::created_at;
}

/// The position of an alert in a listing: primary value (absent only for a null acknowledgedAt),
/// then createdAt, then id. A cursor decodes to the same structure.
struct sort_key {
  std::optional<int64_t> primary;
  int64_t created_at = 0;
  std::string id;
};

sort_key key_of(const alert_key& a, sort_field f) {
  sort_key k;
  switch (f) {
    case sort_field::created_at: k.primary = a.created_at; break;
    case sort_field::urgency_level: k.primary = a.urgency_level; break;
    case sort_field::acknowledged_at: k.primary = a.acknowledged_at; break;
  }
  k.created_at = a.created_at;
  k.id = a.id;
  return k;
}

/// -1/0/1 comparison of two keys in listing order. Nulls come last in either direction; every
/// other component follows the direction.
int compare_keys(const sort_key& a, const sort_key& b, bool desc) {
  if (a.primary.has_value() != b.primary.has_value()) return a.primary ? -1 : 1;
  auto directed = [desc](int c) { return desc ? -c : c; };
  if (a.primary && *a.primary != *b.primary) return directed(*a.primary < *b.primary ? -1 : 1);
  if (a.created_at != b.created_at) return directed(a.created_at < b.created_at ? -1 : 1);
  int c = a.id.compare(b.id);
  if (c != 0) return directed(c < 0 ? -1 : 1);
  return 0;
}

// ---- getActiveAlerts: cursors -------------------------------------------------------------------
// Opaque cursor: "c1." + base64url("<tag>|<primary or n>|<createdAt>|<id>"). The prefix keeps it
// apart from the ISO-timestamp form, which never starts with a letter.

constexpr std::string_view cursor_prefix = "c1.";
/// Strict decimal integer (optional leading '-'), no spaces, no overflow.
std::optional<int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 19 + (s[0] == '-' ? 1 : 0)) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  int64_t n = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    int digit = s[i] - '0';
    if (n > (INT64_MAX - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return s[0] == '-' ? -n : n;
}

std::string encode_cursor(const sort_key& k, sort_field f) {
  std::string payload(1, field_tag(f));
  payload += '|';
  payload += k.primary ? std::to_string(*k.primary) : "n";
  payload += '|';
  payload += std::to_string(k.created_at);
  payload += '|';
  payload += k.id;
  return std::string(cursor_prefix) + base64url_encode(payload);
}

/// Decodes an opaque cursor made for sort field `f`; nullopt when unreadable or made for another
/// sort field (its position would be meaningless).
std::optional<sort_key> decode_cursor(std::string_view text, sort_field f) {
  if (text.substr(0, cursor_prefix.size()) != cursor_prefix) return std::nullopt;
  auto payload = base64url_decode(text.substr(cursor_prefix.size()));
  if (!payload) return std::nullopt;
  std::string_view p = *payload;
  std::string_view parts[3];
  for (auto& part : parts) {
    size_t bar = p.find('|');
    if (bar == std::string_view::npos) return std::nullopt;
    part = p.substr(0, bar);
    p.remove_prefix(bar + 1);
  }
  if (parts[0].size() != 1 || parts[0][0] != field_tag(f) || p.empty()) return std::nullopt;
  sort_key k;
  if (parts[1] != "n") {
    k.primary = parse_int(parts[1]);
    if (!k.primary) return std::nullopt;
  } else if (f != sort_field::acknowledged_at) {
    return std::nullopt; // only acknowledgedAt can be null
  }
  auto created = parse_int(parts[2]);
  if (!created) return std::nullopt;
  k.created_at = *created;
  k.id = std::string(p);
  return k;
}

/// Where a listing starts: after an opaque cursor's key, or from an ISO timestamp (inclusive).
struct start_position {
  std::optional<sort_key> after;
  std::optional<int64_t> created_bound;
};

std::variant<start_position, call_error> read_cursor(const json::value& input, sort_field f) {
  const json::value* c = input.find("cursor");
  start_position pos;
  if (!c || c->is_null()) return pos;
  const call_error invalid{trpc_code::bad_request, "Invalid cursor"};
  if (!c->is_string()) return invalid;
  const std::string& text = c->as_string();
  if (auto key = decode_cursor(text, f)) {
    pos.after = std::move(*key);
    return pos;
  }
  if (f == sort_field::created_at) {
    if (auto ms = parse_iso(text)) {
      pos.created_bound = *ms;
      return pos;
    }
  }
  return invalid;
}

bool passes_start(const alert_key& a, const start_position& pos, sort_field f, bool desc) {
  if (pos.after) return compare_keys(*pos.after, key_of(a, f), desc) < 0;
  if (pos.created_bound)
    return desc ? a.created_at <= *pos.created_bound : a.created_at >= *pos.created_bound;
  return true;
}

/// The filters of getActiveAlerts (status, urgencyLevel, alertType).
struct alert_filter {
  std::optional<alert_status> status; // nullopt = "all"
  std::optional<int64_t> urgency;
  std::optional<std::string> type;

  bool matches(const alert_key& a) const {
    if (status && a.status != *status) return false;
    if (urgency && a.urgency_level != *urgency) return false;
    if (type && a.alert_type != *type) return false;
    return true;
  }
};

alert_filter read_filter(const json::value& input) {
  alert_filter f;
  std::string status = input_string(input, "status", "active");
  if (status != "all") f.status = parse_status(status).value_or(alert_status::active);
  f.urgency = input_int(input, "urgencyLevel");
  if (const json::value* t = input.find("alertType"); t && t->is_string()) f.type = t->as_string();
  return f;
}

// ---- Escalations --------------------------------------------------------------------------------

/// Milliseconds until `deadline` (0 when due), or null.
json::value time_until(const std::optional<int64_t>& deadline, int64_t now) {
  if (!deadline) return json::value();
  return json::value(std::max<int64_t>(0, *deadline - now));
}

json::value tier_config(const alert& a, const escalation_policy& policy) {
  int tier = a.escalation_level;
  if (a.status != alert_status::active || tier < 1 || tier > policy.max_tier())
    return json::value();
  const escalation_tier& t = policy.tiers[static_cast<size_t>(tier - 1)];
  bool last = tier == policy.max_tier();
  json::value cfg = json::value::make_object();
  cfg.set("role", t.role);
  if (!last && t.timeout_ms)
    cfg.set("timeoutMinutes", whole_or_double(static_cast<double>(*t.timeout_ms) / ms_per_minute));
  else
    cfg.set("timeoutMinutes", json::value());
  cfg.set("nextRole", last ? json::value() : json::value(policy.tiers[static_cast<size_t>(tier)].role));
  return cfg;
}

json::value escalation_item(const alert& a, int64_t now) {
  json::value item = json::value::make_object();
  item.set("id", a.id);
  item.set("roomNumber", a.room_number);
  item.set("alertType", a.alert_type);
  item.set("urgencyLevel", a.urgency_level);
  item.set("currentEscalationTier", a.escalation_level);
  item.set("nextEscalationAt", json::value::date_or_null(a.next_escalation_at));
  item.set("createdAt", json::value::date(a.created_at));
  item.set("timeUntilEscalation", time_until(a.next_escalation_at, now));
  item.set("isOverdue", a.next_escalation_at.has_value() && *a.next_escalation_at < now);
  return item;
}

/// Soonest deadline first, no deadline last; then oldest, then by id (a stable, total order).
bool sooner_deadline(const alert* x, const alert* y) {
  const auto& a = x->next_escalation_at;
  const auto& b = y->next_escalation_at;
  if (a.has_value() != b.has_value()) return a.has_value();
  if (a && *a != *b) return *a < *b;
  if (x->created_at != y->created_at) return x->created_at < y->created_at;
  return x->id < y->id;
}

} // namespace

// ---- Public functions ---------------------------------------------------------------------------

alert_figures figures_of(const alert& a) {
  alert_figures f;
  f.status = a.status;
  f.urgency_level = a.urgency_level;
  f.escalation_level = a.escalation_level;
  f.created_at = a.created_at;
  f.acknowledged_at = a.acknowledged_at;
  f.resolved_at = a.resolved_at;
  return f;
}

alert_key key_of_alert(const alert& a) {
  alert_key k;
  k.id = a.id;
  k.status = a.status;
  k.created_at = a.created_at;
  k.urgency_level = a.urgency_level;
  k.acknowledged_at = a.acknowledged_at;
  k.alert_type = a.alert_type;
  return k;
}

bool listing_needs_details(const json::value& input) {
  if (input_int(input, "urgencyLevel")) return true;
  if (const json::value* t = input.find("alertType"); t && t->is_string()) return true;
  return parse_sort_field(input_string(input, "sortBy", "createdAt")) != sort_field::created_at;
}

std::variant<active_page, call_error> active_alerts_page(const std::vector<alert_key>& keys,
                                                         const json::value& input) {
  const sort_field field = parse_sort_field(input_string(input, "sortBy", "createdAt"));
  const bool desc = input_string(input, "sortOrder", "desc") != "asc";
  active_page out;
  out.limit = std::max<int64_t>(1, input_int(input, "limit").value_or(20));
  out.offset = std::max<int64_t>(0, input_int(input, "offset").value_or(0));

  auto start = read_cursor(input, field);
  if (auto* err = std::get_if<call_error>(&start)) return *err;
  const start_position& pos = std::get<start_position>(start);

  const alert_filter filter = read_filter(input);
  std::vector<size_t> after;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!filter.matches(keys[i])) continue;
    ++out.total;
    if (passes_start(keys[i], pos, field, desc)) after.push_back(i);
  }
  std::sort(after.begin(), after.end(), [&](size_t x, size_t y) {
    return compare_keys(key_of(keys[x], field), key_of(keys[y], field), desc) < 0;
  });

  const int64_t remaining = static_cast<int64_t>(after.size());
  const int64_t first = std::min(out.offset, remaining);
  const int64_t last = std::min(remaining, first + out.limit);
  out.has_more = out.offset + out.limit < remaining;
  out.page.assign(after.begin() + first, after.begin() + last);
  if (out.has_more)
    out.next_cursor = encode_cursor(key_of(keys[after[static_cast<size_t>(last - 1)]], field), field);
  return out;
}

json::value active_alerts_json(const active_page& p, const alert_list& alerts) {
  json::value page = json::value::make_array();
  for (const alert* a : alerts)
    if (a) page.push(to_json(*a, false));

  json::value pagination = json::value::make_object();
  pagination.set("total", p.total);
  pagination.set("limit", p.limit);
  pagination.set("offset", p.offset);
  pagination.set("hasMore", p.has_more);
  pagination.set("nextCursor", p.next_cursor);

  json::value out = json::value::make_object();
  out.set("alerts", std::move(page));
  out.set("total", p.total);
  out.set("pagination", std::move(pagination));
  return out;
}

std::variant<json::value, call_error> active_alerts(const alert_list& alerts,
                                                    const json::value& input) {
  std::vector<alert_key> keys;
  keys.reserve(alerts.size());
  alert_list present;
  present.reserve(alerts.size());
  for (const alert* a : alerts)
    if (a) {
      keys.push_back(key_of_alert(*a));
      present.push_back(a);
    }
  auto r = active_alerts_page(keys, input);
  if (auto* err = std::get_if<call_error>(&r)) return *err;
  auto& p = std::get<active_page>(r);
  alert_list page;
  page.reserve(p.page.size());
  for (size_t i : p.page) page.push_back(present[i]);
  return active_alerts_json(p, page);
}

namespace {

template <class List>
json::value metrics_of(const List& alerts, int staff_online, int64_t now) {
  int64_t active = 0, critical = 0, recent = 0, acknowledged = 0, sum_ms = 0;
  for (const auto* a : alerts) {
    if (!a) continue;
    if (a->status != alert_status::resolved) ++active;
    if (a->status == alert_status::active && a->urgency_level <= 2) ++critical;
    if (a->created_at < now - ms_per_hour) continue;
    ++recent;
    if (a->acknowledged_at) {
      ++acknowledged;
      sum_ms += *a->acknowledged_at - a->created_at;
    }
  }
  json::value rate(int64_t{1});
  if (recent > 0) {
    double share = static_cast<double>(acknowledged) / static_cast<double>(recent);
    rate = whole_or_double(std::round(share * 100.0) / 100.0);
  }
  const int64_t avg = mean_seconds_rounded(sum_ms, acknowledged);

  json::value out = json::value::make_object();
  out.set("activeAlerts", active);
  out.set("criticalAlerts", critical);
  out.set("staffOnline", staff_online);
  out.set("responseRate", std::move(rate));
  out.set("avgResponseTime", avg);
  out.set("avgResponseTimeSec", avg);
  out.set("timestamp", json::value::date(now));
  return out;
}

} // namespace

json::value metrics(const alert_list& alerts, int staff_online, int64_t now) {
  return metrics_of(alerts, staff_online, now);
}

json::value metrics(const figures_list& alerts, int staff_online, int64_t now) {
  return metrics_of(alerts, staff_online, now);
}

json::value escalation_status(const alert& a, const escalation_policy& policy, int64_t now) {
  json::value history = json::value::make_array();
  for (const auto& r : a.escalations) history.push(to_json(r));

  json::value out = json::value::make_object();
  out.set("alertId", a.id);
  out.set("currentTier", a.escalation_level);
  out.set("maxTier", policy.max_tier());
  out.set("currentTierConfig", tier_config(a, policy));
  out.set("timeUntilNextEscalation", time_until(a.next_escalation_at, now));
  out.set("escalationHistory", std::move(history));
  out.set("canEscalate",
          a.status == alert_status::active && a.escalation_level < policy.max_tier());
  return out;
}

json::value active_escalations(const alert_list& alerts, const escalation_policy& policy,
                               int64_t now) {
  alert_list active;
  for (const alert* a : alerts)
    if (a && a->status == alert_status::active) active.push_back(a);
  std::sort(active.begin(), active.end(), sooner_deadline);

  // Every configured tier has a key; a tier beyond the policy (policy shrunk since) gets its own.
  int top = policy.max_tier();
  for (const alert* a : active) top = std::max(top, a->escalation_level);
  json::value by_tier = json::value::make_object();
  for (int t = 1; t <= top; ++t) {
    json::value items = json::value::make_array();
    for (const alert* a : active)
      if (a->escalation_level == t) items.push(escalation_item(*a, now));
    if (t <= policy.max_tier() || items.size() > 0) by_tier.set(std::to_string(t), std::move(items));
  }

  int64_t overdue = 0;
  for (const alert* a : active)
    if (a->next_escalation_at && *a->next_escalation_at < now) ++overdue;

  json::value out = json::value::make_object();
  out.set("totalActive", static_cast<int64_t>(active.size()));
  out.set("byTier", std::move(by_tier));
  out.set("overdue", overdue);
  return out;
}

history_range read_history_range(const json::value& input) {
  history_range r;
  r.from = input_time(input, "startDate");
  r.to = input_time(input, "endDate");
  r.limit = std::max<int64_t>(1, input_int(input, "limit").value_or(50));
  r.offset = std::max<int64_t>(0, input_int(input, "offset").value_or(0));
  return r;
}

json::value history_json(const alert_list& page, int64_t total) {
  json::value alerts = json::value::make_array();
  for (const alert* a : page) alerts.push(to_json(*a, false));
  json::value out = json::value::make_object();
  out.set("alerts", std::move(alerts));
  out.set("total", total);
  return out;
}

json::value alert_history(const alert_list& alerts, const json::value& input) {
  const history_range range = read_history_range(input);
  alert_list matches;
  for (const alert* a : alerts) {
    if (!a) continue;
    if (range.from && a->created_at < *range.from) continue;
    if (range.to && a->created_at > *range.to) continue;
    matches.push_back(a);
  }
  std::sort(matches.begin(), matches.end(), [](const alert* x, const alert* y) {
    if (x->created_at != y->created_at) return x->created_at > y->created_at;
    return x->id > y->id;
  });

  const int64_t total = static_cast<int64_t>(matches.size());
  const int64_t first = std::min(range.offset, total);
  const int64_t last = std::min(total, range.offset + range.limit);
  alert_list page(matches.begin() + first, matches.begin() + last);
  return history_json(page, total);
}

namespace {

template <class List>
json::value alert_stats_of(const List& alerts, int64_t now) {
  const int64_t day_ago = now - ms_per_day;
  int64_t active = 0, acknowledged = 0, resolved = 0, escalated = 0, acked_count = 0, sum_ms = 0;
  for (const auto* a : alerts) {
    if (!a) continue;
    switch (a->status) {
      case alert_status::active:
        ++active;
        if (a->escalation_level > 1) ++escalated;
        break;
      case alert_status::acknowledged: ++acknowledged; break;
      case alert_status::resolved:
        if (a->resolved_at && *a->resolved_at >= day_ago) ++resolved;
        break;
    }
    if (a->acknowledged_at && *a->acknowledged_at >= day_ago) {
      ++acked_count;
      sum_ms += *a->acknowledged_at - a->created_at;
    }
  }

  json::value out = json::value::make_object();
  out.set("active", active);
  out.set("acknowledged", acknowledged);
  out.set("resolved24h", resolved);
  out.set("escalated", escalated);
  out.set("avgResponseTime", mean_seconds_rounded(sum_ms, acked_count));
  return out;
}

} // namespace

json::value alert_stats(const alert_list& alerts, int64_t now) {
  return alert_stats_of(alerts, now);
}

json::value alert_stats(const figures_list& alerts, int64_t now) {
  return alert_stats_of(alerts, now);
}

json::value alert_timeline(const alert& a, std::vector<json::value> events) {
  json::value timeline = json::value::make_array();
  for (auto& e : events) timeline.push(std::move(e));

  auto seconds_since_creation = [&a](const std::optional<int64_t>& t) {
    return t ? json::value(whole_seconds(*t - a.created_at)) : json::value();
  };

  json::value out = json::value::make_object();
  out.set("alert", to_json(a, true));
  out.set("timeline", std::move(timeline));
  out.set("responseTime", seconds_since_creation(a.acknowledged_at));
  out.set("resolutionTime", seconds_since_creation(a.resolved_at));
  return out;
}

} // namespace vigil

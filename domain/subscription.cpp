#include "domain/subscription.hpp"

namespace vigil {

namespace {

void strings_of(const json::value* list, std::vector<std::string>& out) {
  if (list == nullptr || !list->is_array())
    return;
  for (auto& x : list->as_array())
    if (x.is_string())
      out.push_back(x.as_string());
}

} // namespace

subscription_spec subscription_of(procedure p, const json::value& input,
                                  const std::optional<std::string>& frame_last_event_id,
                                  int64_t default_interval_ms) {
  subscription_spec s;
  switch (p) {
    case procedure::subscribe_to_alerts: s.kind = stream_kind::alerts; break;
    case procedure::subscribe_to_alert: s.kind = stream_kind::alert; break;
    case procedure::subscribe_to_metrics: s.kind = stream_kind::metrics; break;
    default: s.kind = stream_kind::presence; break;
  }
  if (auto* a = input.find("alertId"); a != nullptr && a->is_string())
    s.alert_id = a->as_string();
  if (frame_last_event_id)
    s.last_event_id = frame_last_event_id;
  else if (auto* l = input.find("lastEventId"); l != nullptr && l->is_string())
    s.last_event_id = l->as_string();
  if (auto* iv = input.find("interval"); iv != nullptr && iv->is_number())
    s.interval_ms = iv->as_int();
  else
    s.interval_ms = default_interval_ms;
  if (auto* f = input.find("filter"); f != nullptr && f->is_object()) {
    strings_of(f->find("types"), s.filter.types);
    if (auto* m = f->find("maxUrgencyLevel"); m != nullptr && m->is_number())
      s.filter.max_urgency = static_cast<int>(m->as_int());
    strings_of(f->find("alertTypes"), s.filter.alert_types);
  }
  return s;
}

} // namespace vigil

#include "domain/batch.hpp"

#include <set>

namespace vigil {

const procedure_info* batch_single_procedure(procedure batch) {
  switch (batch) {
    case procedure::batch_acknowledge_alerts: return find_procedure("healthcare.acknowledgeAlert");
    case procedure::batch_resolve_alerts: return find_procedure("healthcare.resolveAlert");
    default: return nullptr;
  }
}

std::vector<std::string> batch_alert_ids(const json::value& input) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  if (auto* list = input.find("alertIds"); list != nullptr && list->is_array())
    for (auto& x : list->as_array())
      if (x.is_string() && seen.insert(x.as_string()).second)
        ids.push_back(x.as_string());
  return ids;
}

std::optional<std::string> check_batch_alert(const std::string& alert_id, const identity& who,
                                             const alert_lookup& hospital_of,
                                             std::string* hospital) {
  auto found = hospital_of ? hospital_of(alert_id) : std::nullopt;
  if (!found)
    return std::string{"Alert not found"};
  if (!who.has_hospital(*found))
    return std::string{"Access denied to this hospital"};
  if (hospital != nullptr)
    *hospital = std::move(*found);
  return std::nullopt;
}

json::value batch_single_input(procedure batch, const json::value& batch_input,
                               const std::string& alert_id) {
  auto in = json::value::make_object();
  in.set("alertId", alert_id);
  if (batch == procedure::batch_acknowledge_alerts) {
    if (auto* n = batch_input.find("notes"))
      in.set("notes", *n);
    in.set("urgencyAssessment", "maintain");
  } else if (auto* r = batch_input.find("resolution")) {
    in.set("resolution", *r);
  }
  return in;
}

json::value batch_reply(procedure batch, json::value done, json::value errors) {
  auto v = json::value::make_object();
  v.set("success", done.size() > 0);
  v.set(batch == procedure::batch_acknowledge_alerts ? "acknowledged" : "resolved",
        std::move(done));
  v.set("errors", std::move(errors));
  return v;
}

} // namespace vigil

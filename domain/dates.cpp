#include "domain/dates.hpp"

#include <string_view>

#include "domain/time.hpp"

namespace vigil {

namespace {

bool is_timestamp_key(std::string_view k) {
  return k == "timestamp" || k == "createdAt" || k == "updatedAt" || k == "nextEscalationAt"
         || k == "acknowledgedAt" || k == "resolvedAt" || k == "escalatedAt" || k == "since";
}

} // namespace

void mark_timestamp_fields(json::value& v) {
  if (v.is_array()) {
    for (auto& x : v.as_array())
      mark_timestamp_fields(x);
  } else if (v.is_object()) {
    for (auto& [k, x] : v.as_object()) {
      if (x.is_string()) {
        if (is_timestamp_key(k) && parse_iso(x.as_string()))
          x.set_date_flag(true);
      } else {
        mark_timestamp_fields(x);
      }
    }
  }
}

} // namespace vigil

// libFuzzer harness: getActiveAlerts cursors (domain/queries.* active_alerts). The first byte
// picks sortBy and sortOrder; the rest is the cursor string, validated as a client's input would
// be and then applied to a few fixed alerts. Invariant: nothing crashes; an answer has at most
// `limit` alerts, and a cursor that is refused is refused with "Invalid cursor".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/alert.hpp"
#include "domain/procedures.hpp"
#include "domain/queries.hpp"

using namespace vigil;

namespace {
std::vector<alert> make_alerts() {
  std::vector<alert> out;
  const int64_t base = 1767600000000;
  for (int i = 0; i < 6; ++i) {
    alert a;
    a.id = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
    a.hospital_id = "h1";
    a.room_number = "A" + std::to_string(i);
    a.alert_type = "fall";
    a.urgency_level = 1 + i % 5;
    a.created_by = "u1";
    a.created_at = base + (i / 2) * 1000; // pairs share createdAt: ties break on id
    a.updated_at = a.created_at;
    if (i % 3 == 0) {
      a.status = alert_status::acknowledged;
      a.acknowledged_by = "u2";
      a.acknowledged_at = a.created_at + 500;
    }
    out.push_back(a);
  }
  return out;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<alert> alerts = make_alerts();
  static const alert_list list = [] {
    alert_list l;
    for (auto& a : alerts) l.push_back(&a);
    return l;
  }();
  if (size == 0)
    return 0;
  static const char* sort_by[] = {"createdAt", "urgencyLevel", "acknowledgedAt"};
  json::value in = json::value::make_object();
  in.set("hospitalId", "h1");
  in.set("status", (data[0] & 8) ? "acknowledged" : "active");
  in.set("sortBy", sort_by[(data[0] & 3) % 3]);
  in.set("sortOrder", (data[0] & 4) ? "asc" : "desc");
  in.set("limit", 2);
  in.set("cursor", std::string_view{reinterpret_cast<const char*>(data) + 1, size - 1});
  auto valid = validate_input(procedure::get_active_alerts, &in);
  if (std::holds_alternative<call_error>(valid))
    return 0;
  auto r = active_alerts(list, std::get<json::value>(valid));
  if (auto* e = std::get_if<call_error>(&r)) {
    if (e->message != "Invalid cursor")
      std::abort();
    return 0;
  }
  auto& page = std::get<json::value>(r);
  const json::value* got = page.find("alerts");
  if (got == nullptr || got->size() > 2)
    std::abort();
  return 0;
}

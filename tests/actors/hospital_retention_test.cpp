// Retention of resolved alerts seen from the API (retention.resolved-alert-days): once an alert
// resolved before the horizon is pruned, getAlert / getAlertTimeline / mutations answer NOT_FOUND
// `Alert not found` and getAlertHistory no longer lists it, whether the hospital held it in its
// resolved window, had evicted it, or was restarted. Open alerts are never pruned. The storage
// actor's prune loop and the hospital run under the deterministic coordinator's clock.

#include "tests/actors/hospital_harness.hpp"

namespace vigil::test {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const std::string resolution = R"(,"resolution":"resolved by the retention test"})";

void acknowledge_and_resolve(harness& h, const hospital_actor& hosp, const std::string& id) {
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}", h.nurse);
  ASSERT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
  r = h.call_now(hosp, "healthcare.resolveAlert", R"({"alertId":")" + id + "\"" + resolution,
                 h.nurse);
  ASSERT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
}

void expect_not_found(harness& h, const hospital_actor& hosp, const std::string& path,
                      const std::string& input, const identity& who) {
  auto r = h.call_now(hosp, path, input, who);
  ASSERT_NE(r, nullptr) << path;
  EXPECT_FALSE(r->ok) << path;
  EXPECT_EQ(r->error.code, trpc_code::not_found) << path << ": " << r->error.message;
  EXPECT_EQ(r->error.message, "Alert not found") << path;
}

/// getAlertHistory of h1: the ids listed and the total.
std::pair<std::vector<std::string>, int64_t> history(harness& h, const hospital_actor& hosp) {
  auto r = h.call_now(hosp, "healthcare.getAlertHistory", R"({"hospitalId":"h1"})", h.viewer);
  EXPECT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
  std::vector<std::string> ids;
  if (!r || !r->ok)
    return {ids, -1};
  for (auto& a : at(r->data, "alerts").as_array())
    ids.push_back(at(a, "id").as_string());
  return {ids, at(r->data, "total").as_int()};
}

bool stored(const harness& h, const std::string& id) {
  std::string err;
  storage::open_options opts;
  opts.read_only = true;
  auto store = storage::event_store::open(h.db_path, opts, &err);
  EXPECT_NE(store, nullptr) << err;
  return store && store->load_alert(id).has_value();
}

/// A pruned alert answers NOT_FOUND everywhere; `window` is storage.resolved-window (100: the
/// hospital held the alert in memory when it was pruned; 0: it had evicted it already).
void pruned_alert_is_not_found(size_t window) {
  harness h;
  h.rt->cfg.retention_days = 1;
  h.rt->cfg.resolved_alert_retention_days = 1;
  h.rt->cfg.resolved_window = window;
  h.start_server();
  auto hosp = h.hospital();
  const std::string old_id = h.create_alert(hosp, "ICU-1");
  acknowledge_and_resolve(h, hosp, old_id);
  const std::string open_id = h.create_alert(hosp, "ICU-2");
  ASSERT_FALSE(old_id.empty());
  ASSERT_FALSE(open_id.empty());
  // Before the horizon the resolved alert is everywhere.
  EXPECT_FALSE(h.get_alert(hosp, old_id).is_null());
  EXPECT_EQ(history(h, hosp).second, 2);

  // A day and a few minutes later (the prune loop runs every simulated minute meanwhile).
  ASSERT_TRUE(h.advance_stepwise(hours(24) + minutes(3), minutes(1)));
  EXPECT_FALSE(stored(h, old_id));
  EXPECT_TRUE(stored(h, open_id));
  const std::string recent_id = h.create_alert(hosp, "ICU-3");
  acknowledge_and_resolve(h, hosp, recent_id);

  const std::string by_id = R"({"alertId":")" + old_id + "\"}";
  expect_not_found(h, hosp, "healthcare.getAlert", by_id, h.viewer);
  expect_not_found(h, hosp, "healthcare.getAlertTimeline", by_id, h.viewer);
  expect_not_found(h, hosp, "healthcare.acknowledgeAlert", by_id, h.nurse);
  auto [ids, total] = history(h, hosp);
  EXPECT_EQ(total, 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), old_id), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), open_id), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), recent_id), 1);
  // The open alert, older than the horizon, and the recently resolved one are kept.
  EXPECT_FALSE(h.get_alert(hosp, open_id).is_null());
  EXPECT_FALSE(h.get_alert(hosp, recent_id).is_null());
  EXPECT_EQ(h.rt->alerts.hospital_of(old_id), std::nullopt);

  // After a restart the same answers, now from storage.
  h.stop_server();
  h.start_server();
  hosp = h.hospital();
  expect_not_found(h, hosp, "healthcare.getAlert", by_id, h.viewer);
  EXPECT_EQ(history(h, hosp).second, 2);
  EXPECT_FALSE(h.get_alert(hosp, open_id).is_null());
}

TEST(hospital_retention, PrunedAlertHeldInTheResolvedWindowIsNotFound) {
  pruned_alert_is_not_found(100);
}

TEST(hospital_retention, PrunedAlertOutsideTheResolvedWindowIsNotFound) {
  pruned_alert_is_not_found(0);
}

TEST(hospital_retention, ZeroKeepsResolvedAlertsForever) {
  harness h;
  h.rt->cfg.retention_days = 1;
  h.rt->cfg.resolved_alert_retention_days = 0;
  h.start_server();
  auto hosp = h.hospital();
  const std::string id = h.create_alert(hosp, "ICU-1");
  acknowledge_and_resolve(h, hosp, id);
  ASSERT_TRUE(h.advance_stepwise(hours(50), minutes(10)));
  EXPECT_TRUE(stored(h, id));
  EXPECT_FALSE(h.get_alert(hosp, id).is_null());
}

} // namespace
} // namespace vigil::test

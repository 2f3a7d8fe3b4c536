// Delivery receipts and the unattended-alert failsafe of the hospital actor (docs/api.md
// "confirmDelivery", "Escalation"), under CAF's deterministic test coordinator: tiers
// "nurse:2m,doctor:3m,head_doctor", receipt timeout 30 s, a simulated clock, real storage.

#include "tests/actors/hospital_harness.hpp"

#include "delivery/counters.hpp"

namespace vigil::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr uint64_t watch_conn = 7;   // a viewer following every event
constexpr int64_t receipt_ms = 30000;

class failsafe_test : public ::testing::Test {
protected:
  void SetUp() override {
    h.rt->cfg.failsafe.enabled = true;
    h.rt->cfg.failsafe.receipt_timeout_ms = receipt_ms;
    h.start_server();
    hosp = h.hospital("h1");
    ASSERT_TRUE(hosp);
    h.subscribe(hosp, watch_conn);
    ASSERT_TRUE(h.run());
    h.take_frames(watch_conn);
  }

  /// Subscribes connection `conn` as `who` (which makes that user, and role, online).
  void online(uint64_t conn, const identity& who) {
    h.rt->out->open(conn);
    auto req = std::make_shared<subscribe_request>();
    req->conn_id = conn;
    req->key = "1";
    req->id = json::value{1};
    req->prefix = R"({"id":1,"result":{"type":"data",)";
    req->kind = stream_kind::alerts;
    req->who = std::make_shared<identity>(who);
    req->since_ms = h.now();
    caf::anon_send(hosp, subscribe_ptr{req});
    ASSERT_TRUE(h.run());
    h.take_frames(conn);
  }

  void offline(uint64_t conn) {
    caf::anon_send(hosp, drop_atom::value, conn);
    ASSERT_TRUE(h.run());
  }

  /// The events the watcher received since the last look (create() keeps those after its own).
  std::vector<frame> new_events() {
    auto out = std::move(kept);
    kept.clear();
    for (auto& f : harness::events(h.take_frames(watch_conn)))
      out.push_back(f);
    return out;
  }

  /// confirmDelivery as `who`; the reply's data.
  json::value confirm(const identity& who, const std::vector<std::string>& ids) {
    std::string list;
    for (auto& id : ids)
      list += (list.empty() ? "\"" : ",\"") + id + "\"";
    auto r = h.call_now(hosp, "healthcare.confirmDelivery",
                        R"({"hospitalId":"h1","eventIds":[)" + list + "]}", who);
    EXPECT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
    return r && r->ok ? r->value() : json::value{};
  }

  /// Creates an alert and returns (alert id, id of its alert.created event).
  std::pair<std::string, std::string> create(int urgency = 1) {
    auto id = h.create_alert(hosp, "ICU-1", urgency);
    auto evs = new_events();
    EXPECT_FALSE(evs.empty());
    if (evs.empty())
      return {id, ""};
    EXPECT_EQ(evs[0].event_type(), "alert.created");
    kept.assign(evs.begin() + 1, evs.end());
    return {id, evs[0].event_id()};
  }

  static void expect_failsafe(const frame& f, int from, int to, const std::string& reason) {
    EXPECT_EQ(f.event_type(), "alert.escalated");
    auto& d = f.payload();
    EXPECT_EQ(at(d, "fromTier").as_int(), from) << f.text;
    EXPECT_EQ(at(d, "toTier").as_int(), to) << f.text;
    EXPECT_EQ(at(d, "escalatedBy").as_string(), "system");
    EXPECT_EQ(at(d, "reason").as_string(), reason) << f.text;
  }

  harness h;
  hospital_actor hosp;
  std::vector<frame> kept;
  identity doctor = make_identity("u-doc-1", role::doctor);
};

TEST_F(failsafe_test, NobodyOnlineEscalatesAtOnceThroughEveryTierAndCallsTheHospital) {
  auto unattended_before = counters::get().alerts_unattended.load();
  int64_t t0 = h.now();
  auto [id, created] = create();
  // No simulated time passed: every tier was found empty at once.
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 3u);
  expect_failsafe(evs[0], 1, 2, "no_recipient_online");
  expect_failsafe(evs[1], 2, 3, "no_recipient_online");
  expect_failsafe(evs[2], 3, 3, "no_recipient_online");
  EXPECT_TRUE(at(evs[2].payload(), "unattended").as_bool()) << evs[2].text;
  EXPECT_TRUE(at(evs[0].payload(), "unattended").is_null()) << evs[0].text;
  EXPECT_EQ(counters::get().alerts_unattended.load(), unattended_before + 1);
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 3);
  EXPECT_EQ(at(a, "escalations").size(), 3u);
  EXPECT_EQ(date_ms(at(a, "updatedAt")), t0);
  // Only once: the unattended call is not repeated.
  ASSERT_TRUE(h.advance(minutes(10)));
  EXPECT_TRUE(new_events().empty());
}

TEST_F(failsafe_test, NoNurseOnlineReachesTheDoctorAtOnceThenWaitsForAReceipt) {
  online(20, doctor);
  auto [id, created] = create();
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  expect_failsafe(evs[0], 1, 2, "no_recipient_online");
  EXPECT_EQ(at(evs[0].payload(), "toRole").as_string(), "doctor");
  // A doctor is online: the tier waits for a receipt, 30 s.
  ASSERT_TRUE(h.advance(milliseconds(receipt_ms - 1)));
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = new_events();
  ASSERT_EQ(evs.size(), 2u);
  expect_failsafe(evs[0], 2, 3, "no_receipt");
  // No head doctor online at tier 3: the hospital-wide call at once.
  expect_failsafe(evs[1], 3, 3, "no_recipient_online");
  EXPECT_TRUE(at(evs[1].payload(), "unattended").as_bool());
}

TEST_F(failsafe_test, OnlineButNoReceiptEscalatesAfterTheReceiptTimeout) {
  online(20, h.nurse);
  online(21, doctor);
  int64_t t0 = h.now();
  auto [id, created] = create();
  ASSERT_TRUE(h.advance(milliseconds(receipt_ms - 1)));
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  expect_failsafe(evs[0], 1, 2, "no_receipt");
  EXPECT_EQ(date_ms(at(evs[0].payload(), "escalatedAt")), t0 + receipt_ms);
  // Tier 2 gets its own receipt deadline; the doctor confirms the escalation in time.
  ASSERT_TRUE(h.advance(seconds(5)));
  auto r = confirm(doctor, {evs[0].event_id()});
  EXPECT_EQ(at(r, "confirmed").as_int(), 1);
  ASSERT_TRUE(h.advance(seconds(60)));
  auto later = new_events();
  for (auto& f : later)
    EXPECT_NE(f.event_type(), "alert.escalated") << f.text;
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 2);
  EXPECT_EQ(at(a, "attendedTier").as_int(), 2);
}

TEST_F(failsafe_test, ReceiptInTimeKeepsTheTierUntilItsTimeout) {
  online(20, h.nurse);
  int64_t t0 = h.now();
  auto [id, created] = create();
  ASSERT_TRUE(h.advance(seconds(10)));
  auto r = confirm(h.nurse, {created});
  EXPECT_EQ(at(r, "confirmed").as_int(), 1);
  EXPECT_EQ(at(r, "ignored").as_int(), 0);
  // One throttled alert.updated with the new seenBy, no escalation.
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.updated");
  EXPECT_EQ(at(at(evs[0].payload(), "seenBy"), "nurse").as_int(), 1) << evs[0].text;
  ASSERT_TRUE(h.advance(milliseconds(120000 - 10000 - 1)));
  EXPECT_TRUE(new_events().empty());
  // The tier's own timeout still escalates (the doctor is not online: then at once to tier 3).
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = new_events();
  ASSERT_GE(evs.size(), 1u);
  EXPECT_EQ(at(evs[0].payload(), "reason").as_string(), "timeout");
  EXPECT_EQ(date_ms(at(evs[0].payload(), "escalatedAt")), t0 + 120000);
  // getAlert shows the receipt with role and time.
  auto a = h.get_alert(hosp, id);
  auto& receipts = at(a, "receipts");
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(at(receipts.as_array()[0], "userId").as_string(), "u-nurse-1");
  EXPECT_EQ(at(receipts.as_array()[0], "role").as_string(), "nurse");
  EXPECT_EQ(date_ms(at(receipts.as_array()[0], "seenAt")), t0 + 10000);
  EXPECT_EQ(at(receipts.as_array()[0], "eventId").as_string(), created);
}

TEST_F(failsafe_test, ReceiptsAreIdempotentThrottledAndIgnoreForeignIds) {
  online(20, h.nurse);
  auto [id, created] = create();
  auto r = confirm(h.nurse, {created, created, h.rt->epoch + "-999999", "zzzzzzzz-1"});
  EXPECT_EQ(at(r, "confirmed").as_int(), 1);
  EXPECT_EQ(at(r, "ignored").as_int(), 2);
  ASSERT_EQ(new_events().size(), 1u); // seenBy {nurse: 1}
  // The same user again: the first time is kept, nothing is published.
  ASSERT_TRUE(h.advance(seconds(3)));
  r = confirm(h.nurse, {created});
  EXPECT_EQ(at(r, "confirmed").as_int(), 1);
  EXPECT_TRUE(new_events().empty());
  // Two more users within a second: one update carrying both, a second after the last one.
  auto nurse2 = make_identity("u-nurse-2", role::nurse);
  auto viewer2 = make_identity("u-view-2", role::viewer);
  confirm(nurse2, {created});
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u); // more than a second since the last update: at once
  confirm(viewer2, {created});
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(999)));
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  auto& seen = at(evs[0].payload(), "seenBy");
  EXPECT_EQ(at(seen, "nurse").as_int(), 2) << evs[0].text;
  EXPECT_EQ(at(seen, "viewer").as_int(), 1) << evs[0].text;
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "receipts").size(), 3u);
  EXPECT_EQ(at(at(a, "seenBy"), "nurse").as_int(), 2);
}

TEST_F(failsafe_test, ReceiptsAreBoundedPerAlert) {
  online(20, h.nurse);
  auto [id, created] = create();
  for (int i = 0; i < 60; ++i)
    confirm(make_identity("u-v-" + std::to_string(i), role::viewer), {created});
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "receipts").size(), 50u);
  // The bound does not stop the tier's role from meeting the receipt deadline.
  confirm(h.nurse, {created});
  ASSERT_TRUE(h.advance(seconds(60)));
  for (auto& f : new_events())
    EXPECT_NE(f.event_type(), "alert.escalated") << f.text;
}

TEST_F(failsafe_test, AcknowledgedAlertsDoNotFailSafe) {
  online(20, h.nurse);
  auto [id, created] = create();
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                      h.nurse);
  ASSERT_TRUE(r && r->ok);
  new_events();
  ASSERT_TRUE(h.advance(minutes(5)));
  EXPECT_TRUE(new_events().empty());
}

TEST_F(failsafe_test, UrgenciesLeftOutWaitForTheirTimeouts) {
  h.rt->cfg.failsafe.urgency_mask = 0b110; // 1 and 2 only
  auto [id, created] = create(3);
  ASSERT_TRUE(h.advance(seconds(119)));
  EXPECT_TRUE(new_events().empty());
  auto [urgent, created2] = create(2); // nobody online: at once
  EXPECT_EQ(new_events().size(), 3u);  // 1 -> 2 -> 3, then the unattended call
}

TEST_F(failsafe_test, RestartInBetweenRearmsFromStorage) {
  online(20, h.nurse);
  int64_t t0 = h.now();
  auto [id, created] = create();
  ASSERT_TRUE(h.advance(seconds(10)));
  h.stop_server();
  // The server restarts at t0 + 10 s: clients need a receipt timeout to reconnect and confirm.
  h.rt->started_ms = h.now();
  h.start_server();
  hosp = h.hospital("h1");
  h.subscribe(hosp, watch_conn);
  ASSERT_TRUE(h.run());
  h.take_frames(watch_conn);
  online(20, h.nurse);
  ASSERT_TRUE(h.advance(milliseconds(receipt_ms - 1))); // t0 + 40 s - 1 ms
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  auto evs = new_events();
  ASSERT_GE(evs.size(), 1u);
  expect_failsafe(evs[0], 1, 2, "no_receipt");
  EXPECT_EQ(date_ms(at(evs[0].payload(), "escalatedAt")), t0 + 10000 + receipt_ms);
}

TEST_F(failsafe_test, RestartKeepsAStoredReceipt) {
  online(20, h.nurse);
  auto [id, created] = create();
  ASSERT_TRUE(h.advance(seconds(5)));
  confirm(h.nurse, {created});
  h.stop_server();
  h.rt->started_ms = h.now();
  h.start_server();
  hosp = h.hospital("h1");
  h.subscribe(hosp, watch_conn);
  ASSERT_TRUE(h.run());
  h.take_frames(watch_conn);
  ASSERT_TRUE(h.advance(seconds(100))); // before the 2 min tier timeout
  EXPECT_TRUE(new_events().empty());
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "receipts").size(), 1u);
  EXPECT_EQ(at(a, "attendedTier").as_int(), 1);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 1);
}

TEST_F(failsafe_test, AReceiptAfterRestartFindsTheEventInStorage) {
  online(20, h.nurse);
  auto [id, created] = create();
  h.stop_server();
  h.start_server();
  hosp = h.hospital("h1");
  auto r = confirm(h.nurse, {created}); // the ring is empty after a restart
  EXPECT_EQ(at(r, "confirmed").as_int(), 1);
  EXPECT_EQ(at(r, "ignored").as_int(), 0);
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "receipts").size(), 1u);
}

} // namespace
} // namespace vigil::test

// Escalation timers of the hospital actor (docs/api.md "Escalation"), under CAF's deterministic
// test coordinator: tiers "nurse:2m,doctor:3m,head_doctor", a simulated clock, real storage.

#include "tests/actors/hospital_harness.hpp"

#include <algorithm>
#include <set>

namespace vigil::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::minutes;

constexpr uint64_t sub_conn = 7;

class escalation_test : public ::testing::Test {
protected:
  void SetUp() override {
    h.start_server();
    hosp = h.hospital("h1");
    ASSERT_TRUE(hosp);
    h.subscribe(hosp, sub_conn);
    ASSERT_TRUE(h.run());
    auto frames = h.take_frames(sub_conn);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].result_type(), "started");
  }

  /// The alert.escalated events the subscriber received since the last look.
  std::vector<frame> new_events() { return harness::events(h.take_frames(sub_conn)); }

  /// Asserts escalationLevel == currentEscalationTier == tier and nextEscalationAt == next.
  void expect_tier(const std::string& id, int tier, std::optional<int64_t> next) {
    auto a = h.get_alert(hosp, id);
    EXPECT_EQ(at(a, "escalationLevel").as_int(), tier);
    EXPECT_EQ(at(a, "currentEscalationTier").as_int(), tier);
    EXPECT_EQ(at(a, "status").as_string(), "active");
    if (next) {
      EXPECT_EQ(date_ms(at(a, "nextEscalationAt")), next);
    } else {
      EXPECT_TRUE(at(a, "nextEscalationAt").is_null()) << json::to_string(a);
    }
    EXPECT_EQ(at(a, "escalations").size(), static_cast<size_t>(tier - 1));
  }

  /// Asserts `f` is an alert.escalated event of `id` by the timer from `from` at `when`.
  static void expect_timer_event(const frame& f, const std::string& id, int from,
                                 const std::string& role, int64_t when) {
    EXPECT_EQ(f.event_type(), "alert.escalated");
    EXPECT_EQ(f.alert_id(), id);
    auto& d = f.payload();
    EXPECT_EQ(at(d, "fromTier").as_int(), from);
    EXPECT_EQ(at(d, "toTier").as_int(), from + 1);
    EXPECT_EQ(at(d, "toRole").as_string(), role);
    EXPECT_EQ(date_ms(at(d, "escalatedAt")), when);
    EXPECT_EQ(at(d, "escalatedBy").as_string(), "system");
    EXPECT_EQ(at(d, "reason").as_string(), "timeout");
    EXPECT_EQ(date_ms(at(*f.event(), "timestamp")), when);
    EXPECT_EQ(f.event_id(), at(*f.event(), "id").as_string());
  }

  harness h;
  hospital_actor hosp;
};

TEST_F(escalation_test, CreateSetsTierOneDeadline) {
  int64_t t0 = h.now();
  auto r = h.call_now(hosp, "healthcare.createAlert",
                      R"({"hospitalId":"h1","roomNumber":"icu-1","alertType":"fire","urgencyLevel":2})",
                      h.operator_);
  ASSERT_TRUE(r && r->ok);
  auto data = r->value();
  auto& a = at(data, "alert");
  EXPECT_EQ(at(a, "roomNumber").as_string(), "ICU-1");
  EXPECT_EQ(date_ms(at(a, "createdAt")), t0);
  EXPECT_EQ(date_ms(at(a, "nextEscalationAt")), t0 + 120000);
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.created");
  EXPECT_EQ(at(evs[0].payload(), "id"), at(a, "id"));
  expect_tier(at(a, "id").as_string(), 1, t0 + 120000);
}

TEST_F(escalation_test, TimerStepsThroughEveryTierExactlyAtItsDeadline) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(new_events().size(), 1u); // alert.created

  // Tier 1 -> 2 at createdAt + 2 min, not a millisecond earlier.
  ASSERT_TRUE(h.advance(seconds(119)));
  EXPECT_TRUE(new_events().empty());
  expect_tier(id, 1, t0 + 120000);
  ASSERT_TRUE(h.advance(milliseconds(999)));
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  expect_timer_event(evs[0], id, 1, "doctor", t0 + 120000);
  expect_tier(id, 2, t0 + 120000 + 180000);

  // Tier 2 -> 3 three minutes after the first escalation.
  ASSERT_TRUE(h.advance(milliseconds(180000 - 1)));
  EXPECT_TRUE(new_events().empty());
  expect_tier(id, 2, t0 + 300000);
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  expect_timer_event(evs[0], id, 2, "head_doctor", t0 + 300000);
  expect_tier(id, 3, std::nullopt);

  // The last tier has no timer: nothing more, ever.
  ASSERT_TRUE(h.advance(minutes(60)));
  EXPECT_TRUE(new_events().empty());
  expect_tier(id, 3, std::nullopt);

  // The stored escalation records match the events.
  auto a = h.get_alert(hosp, id);
  auto& recs = at(a, "escalations").as_array();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(at(recs[0], "toRole").as_string(), "doctor");
  EXPECT_EQ(date_ms(at(recs[0], "escalatedAt")), t0 + 120000);
  EXPECT_EQ(at(recs[1], "toRole").as_string(), "head_doctor");
  EXPECT_EQ(date_ms(at(recs[1], "escalatedAt")), t0 + 300000);
  EXPECT_EQ(date_ms(at(a, "updatedAt")), t0 + 300000);
}

TEST_F(escalation_test, TimerEscalationsAndRefusalsAreInTheAuditTrailInOrder) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(h.advance(minutes(2)));
  // A refused action (resolve before acknowledge: CONFLICT) and a successful one.
  auto refused = h.call_now(hosp, "healthcare.resolveAlert",
                            R"({"alertId":")" + id + R"(","resolution":"secret resolution"})",
                            h.nurse);
  ASSERT_TRUE(refused && !refused->ok);
  auto ack = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                        h.nurse);
  ASSERT_TRUE(ack && ack->ok);
  auto req = std::make_shared<audit_page_request>();
  req->hospital_id = "h1";
  req->before_seq = UINT64_MAX >> 1;
  req->limit = 10;
  auto page = h.ask<audit_page_ptr>(h.rt->storage, audit_page_atom::value,
                                    audit_page_request_ptr{req});
  ASSERT_TRUE(page && *page);
  auto& recs = (*page)->records;
  ASSERT_EQ(recs.size(), 4u);
  // Newest first.
  EXPECT_EQ(recs[3].action, "createAlert");
  EXPECT_EQ(recs[3].user_id, "u-op-1");
  EXPECT_EQ(recs[3].ts, t0);
  EXPECT_EQ(recs[2].action, "escalationTimeout");
  EXPECT_EQ(recs[2].user_id, "system");
  EXPECT_EQ(recs[2].ts, t0 + 120000);
  EXPECT_EQ(recs[1].action, "resolveAlert");
  EXPECT_EQ(recs[1].outcome, "CONFLICT");
  EXPECT_EQ(recs[1].user_id, "u-nurse-1");
  EXPECT_EQ(recs[0].action, "acknowledgeAlert");
  EXPECT_EQ(recs[0].outcome, "ok");
  for (size_t i = 0; i + 1 < recs.size(); ++i) {
    EXPECT_EQ(recs[i].seq, recs[i + 1].seq + 1);
    EXPECT_EQ(recs[i].prev_hash, recs[i + 1].hash);
    EXPECT_EQ(recs[i].alert_id, id);
  }
}

TEST_F(escalation_test, ARefusalAndAMutationInOneGroupCommitKeepTheirOrderInTheAuditTrail) {
  // The defect: a group commit wrote its mutations' records first and the refusals queued before
  // them after, so the chain's order was not the order things happened in.
  auto id = h.create_alert(hosp);
  ASSERT_FALSE(id.empty());
  auto refused = h.queue_call(hosp, "healthcare.resolveAlert",
                              R"({"alertId":")" + id + R"(","resolution":"resolved far too early"})", h.nurse);
  auto ack = h.queue_call(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                          h.nurse);
  h.send_queued(); // both reach the hospital, and then storage, before the next flush
  ASSERT_TRUE(h.run());
  ASSERT_TRUE(h.reply(refused) && !h.reply(refused)->ok);
  ASSERT_TRUE(h.reply(ack) && h.reply(ack)->ok);
  auto req = std::make_shared<audit_page_request>();
  req->hospital_id = "h1";
  req->before_seq = UINT64_MAX >> 1;
  req->limit = 10;
  auto page = h.ask<audit_page_ptr>(h.rt->storage, audit_page_atom::value,
                                    audit_page_request_ptr{req});
  ASSERT_TRUE(page && *page);
  auto& recs = (*page)->records;
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[2].action, "createAlert");
  EXPECT_EQ(recs[1].action, "resolveAlert"); // newest first: the refusal, then the acknowledgement
  EXPECT_EQ(recs[1].outcome, "CONFLICT");
  EXPECT_EQ(recs[0].action, "acknowledgeAlert");
  EXPECT_EQ(recs[0].outcome, "ok");
}

TEST_F(escalation_test, ManyAlertsEscalateIndependentlyInDeadlineOrder) {
  int64_t t0 = h.now();
  auto a = h.create_alert(hosp, "A1");
  ASSERT_TRUE(h.advance(seconds(10)));
  auto b = h.create_alert(hosp, "B1");
  ASSERT_TRUE(h.advance(seconds(10)));
  auto c = h.create_alert(hosp, "C1");
  ASSERT_EQ(new_events().size(), 3u);
  // Walk the clock past all three deadlines in 1 s steps: each fires at its own deadline.
  ASSERT_TRUE(h.advance_stepwise(seconds(200), seconds(1)));
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 3u);
  expect_timer_event(evs[0], a, 1, "doctor", t0 + 120000);
  expect_timer_event(evs[1], b, 1, "doctor", t0 + 130000);
  expect_timer_event(evs[2], c, 1, "doctor", t0 + 140000);
  EXPECT_LT(seq_of(evs[0].event_id()), seq_of(evs[1].event_id()));
  EXPECT_LT(seq_of(evs[1].event_id()), seq_of(evs[2].event_id()));
  expect_tier(a, 2, t0 + 300000);
  expect_tier(b, 2, t0 + 310000);
  expect_tier(c, 2, t0 + 320000);
}

TEST_F(escalation_test, AcknowledgeBeforeDeadlineCancelsTheTimer) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_TRUE(h.advance(seconds(119)));
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                      h.nurse);
  ASSERT_TRUE(r && r->ok) << (r ? r->error.message : "");
  EXPECT_EQ(at(r->value(), "responseTimeSeconds").as_int(), 119);
  EXPECT_TRUE(at(at(r->value(), "alert"), "nextEscalationAt").is_null());
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].event_type(), "alert.acknowledged");

  // The old deadline passes (and much more): no escalation.
  ASSERT_TRUE(h.advance(seconds(1)));
  ASSERT_TRUE(h.advance(minutes(30)));
  EXPECT_TRUE(new_events().empty());
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "status").as_string(), "acknowledged");
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 1);
  EXPECT_TRUE(at(a, "nextEscalationAt").is_null());
  EXPECT_EQ(at(a, "escalations").size(), 0u);
  EXPECT_EQ(date_ms(at(a, "updatedAt")), t0 + 119000);

  // A late manual escalation of an acknowledged alert is a CONFLICT without event.
  auto e = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + id + "\"}",
                      h.head);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->ok);
  EXPECT_EQ(e->error.code, trpc_code::conflict);
  EXPECT_EQ(e->error.message, "Only active alerts can be escalated");
  EXPECT_TRUE(new_events().empty());
}

TEST_F(escalation_test, AcknowledgeAtTierTwoCancelsTheSecondTimer) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_TRUE(h.advance(seconds(120)));
  ASSERT_EQ(new_events().size(), 2u); // created, escalated
  ASSERT_TRUE(h.advance(seconds(100)));
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                      h.nurse);
  ASSERT_TRUE(r && r->ok);
  ASSERT_TRUE(h.advance(minutes(10)));
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.acknowledged");
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 2);
  EXPECT_EQ(date_ms(at(a, "acknowledgedAt")), t0 + 220000);
}

TEST_F(escalation_test, ManualEscalationRestartsTheSchedule) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_TRUE(h.advance(seconds(60)));
  auto r = h.call_now(hosp, "healthcare.triggerEscalation",
                      R"({"alertId":")" + id + R"(","reason":"No response"})", h.head);
  ASSERT_TRUE(r && r->ok) << (r ? r->error.message : "");
  EXPECT_EQ(at(r->value(), "fromTier").as_int(), 1);
  EXPECT_EQ(at(r->value(), "toTier").as_int(), 2);
  EXPECT_EQ(at(r->value(), "alertId").as_string(), id);
  EXPECT_EQ(date_ms(at(at(r->value(), "alert"), "nextEscalationAt")), t0 + 60000 + 180000);
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].event_type(), "alert.escalated");
  EXPECT_EQ(at(evs[1].payload(), "escalatedBy").as_string(), "u-head-1");
  EXPECT_EQ(at(evs[1].payload(), "reason").as_string(), "No response");
  EXPECT_EQ(at(evs[1].payload(), "toRole").as_string(), "doctor");
  expect_tier(id, 2, t0 + 240000);

  // The tier-1 deadline (createdAt + 2 min) is void: nothing fires there.
  ASSERT_TRUE(h.advance(seconds(60)));
  EXPECT_TRUE(new_events().empty());
  expect_tier(id, 2, t0 + 240000);
  // The next step counts from the manual one: 3 min after it.
  ASSERT_TRUE(h.advance(milliseconds(120000 - 1)));
  EXPECT_TRUE(new_events().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  expect_timer_event(evs[0], id, 2, "head_doctor", t0 + 240000);
  expect_tier(id, 3, std::nullopt);

  // At the last tier a manual escalation is a CONFLICT without event.
  auto e = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + id + "\"}",
                      h.head);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->ok);
  EXPECT_EQ(e->error.code, trpc_code::conflict);
  EXPECT_EQ(e->error.message, "Alert already at maximum escalation tier");
  EXPECT_TRUE(new_events().empty());
  expect_tier(id, 3, std::nullopt);
}

TEST_F(escalation_test, ManualEscalationWithoutReasonHasNullReason) {
  auto id = h.create_alert(hosp);
  auto r = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + id + "\"}",
                      h.head);
  ASSERT_TRUE(r && r->ok);
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_TRUE(at(evs[1].payload(), "reason").is_null());
}

TEST_F(escalation_test, UpdateDoesNotMoveTheSchedule) {
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_TRUE(h.advance(seconds(90)));
  auto r = h.call_now(hosp, "healthcare.updateAlert",
                      R"({"alertId":")" + id + R"(","description":"Unresponsive"})", h.nurse);
  ASSERT_TRUE(r && r->ok);
  expect_tier(id, 1, t0 + 120000);
  ASSERT_TRUE(h.advance(seconds(30)));
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[1].event_type(), "alert.updated");
  expect_timer_event(evs[2], id, 1, "doctor", t0 + 120000);
}

TEST_F(escalation_test, TimerFiringWhileAnAcknowledgementCommitsDoesNothing) {
  // The acknowledgement has changed the alert in memory and its commit is still in flight when
  // the deadline passes: the timer must see "acknowledged" and do nothing.
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  ASSERT_EQ(new_events().size(), 1u);
  ASSERT_TRUE(h.advance(milliseconds(120000 - 1)));
  auto t = h.queue_call(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                        h.nurse);
  h.send_queued();
  ASSERT_TRUE(h.step(h.client())); // sends the request
  ASSERT_TRUE(h.step(hosp));       // applies the acknowledgement, asks storage to commit
  EXPECT_EQ(h.reply(t), nullptr);
  EXPECT_TRUE(new_events().empty()); // nothing published before the commit
  ASSERT_GE(h.advance_clock_only(milliseconds(1)), 1u); // the tier-1 timer message is delivered
  ASSERT_TRUE(h.run());
  auto r = h.reply(t);
  ASSERT_TRUE(r && r->ok);
  EXPECT_EQ(at(at(r->value(), "alert"), "escalationLevel").as_int(), 1);
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.acknowledged");
  ASSERT_TRUE(h.advance(minutes(10)));
  EXPECT_TRUE(new_events().empty());
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 1);
  EXPECT_EQ(date_ms(at(a, "acknowledgedAt")), t0 + 119999);
}

TEST_F(escalation_test, AcknowledgementWhileTheTimerCommitsSeesTierTwo) {
  // The timer fired first and its commit is in flight: the acknowledgement applies to the
  // escalated alert; events arrive in commit order (escalated, then acknowledged).
  auto id = h.create_alert(hosp);
  ASSERT_EQ(new_events().size(), 1u);
  ASSERT_GE(h.advance_clock_only(seconds(120)), 1u); // escalate message queued
  ASSERT_TRUE(h.step(hosp));                          // escalates, commit in flight
  auto t = h.queue_call(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                        h.nurse);
  h.send_queued();
  ASSERT_TRUE(h.run());
  auto r = h.reply(t);
  ASSERT_TRUE(r && r->ok) << (r ? r->error.message : "");
  EXPECT_EQ(at(at(r->value(), "alert"), "escalationLevel").as_int(), 2);
  EXPECT_EQ(at(at(r->value(), "alert"), "status").as_string(), "acknowledged");
  auto evs = new_events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].event_type(), "alert.escalated");
  EXPECT_EQ(evs[1].event_type(), "alert.acknowledged");
  EXPECT_LT(seq_of(evs[0].event_id()), seq_of(evs[1].event_id()));
  ASSERT_TRUE(h.advance(minutes(10)));
  EXPECT_TRUE(new_events().empty());
}

TEST(escalation_tiers, SecondsTiersAndSingleTier) {
  {
    harness h{"nurse:5s,doctor:10s,head_doctor"};
    h.start_server();
    auto hosp = h.hospital();
    h.subscribe(hosp, 1);
    ASSERT_TRUE(h.run());
    int64_t t0 = h.now();
    auto id = h.create_alert(hosp);
    ASSERT_TRUE(h.advance(seconds(5)));
    ASSERT_TRUE(h.advance(seconds(10)));
    auto evs = harness::events(h.take_frames(1));
    ASSERT_EQ(evs.size(), 3u);
    EXPECT_EQ(date_ms(at(evs[1].payload(), "escalatedAt")), t0 + 5000);
    EXPECT_EQ(date_ms(at(evs[2].payload(), "escalatedAt")), t0 + 15000);
  }
  {
    // One tier only: no deadline at all, no timer, manual escalation is a CONFLICT.
    harness h{"nurse"};
    h.start_server();
    auto hosp = h.hospital();
    auto id = h.create_alert(hosp);
    auto a = h.get_alert(hosp, id);
    EXPECT_TRUE(at(a, "nextEscalationAt").is_null());
    ASSERT_TRUE(h.advance(minutes(60)));
    a = h.get_alert(hosp, id);
    EXPECT_EQ(at(a, "escalationLevel").as_int(), 1);
    auto e = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + id + "\"}",
                        h.head);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->error.code, trpc_code::conflict);
  }
}

// ---- restart ---------------------------------------------------------------------------------

TEST(escalation_restart, OverdueDeadlinesFireAtOnceInDeadlineOrderOneTierEach) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  int64_t t0 = h.now();
  // Created in an order that differs from the deadline order.
  auto e = h.create_alert(hosp, "E1");                       // t0, manual step at t0+1s
  ASSERT_TRUE(h.advance(seconds(1)));
  auto esc = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + e + "\"}",
                        h.head);
  ASSERT_TRUE(esc && esc->ok);                               // E deadline t0+181s (tier 2)
  ASSERT_TRUE(h.advance(seconds(9)));
  auto a = h.create_alert(hosp, "A1");                       // deadline t0+130s
  ASSERT_TRUE(h.advance(seconds(10)));
  auto b = h.create_alert(hosp, "B1");                       // deadline t0+140s
  ASSERT_TRUE(h.advance(seconds(10)));
  auto c = h.create_alert(hosp, "C1");                       // deadline t0+150s
  auto d = h.create_alert(hosp, "D1");                       // acknowledged: never escalates
  auto ack = h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + d + "\"}",
                        h.nurse);
  ASSERT_TRUE(ack && ack->ok);
  auto f = h.create_alert(hosp, "F1");                       // escalated to the last tier
  for (int i = 0; i < 2; ++i) {
    auto r = h.call_now(hosp, "healthcare.triggerEscalation", R"({"alertId":")" + f + "\"}",
                        h.head);
    ASSERT_TRUE(r && r->ok);
  }
  ASSERT_EQ(h.now(), t0 + 30000);
  uint64_t seq_before = h.rt->last_seq.load();

  // Down for ten minutes: every tier-1 deadline and even the would-be tier-2 ones pass.
  h.stop_server();
  ASSERT_TRUE(h.advance(minutes(10)));
  int64_t restart = h.now();
  ASSERT_EQ(restart, t0 + 630000);
  EXPECT_EQ(h.rt->last_seq.load(), seq_before); // the dead hospital escalated nothing

  h.start_server();
  hosp = h.hospital(); // loaded from storage
  // Resume from the last event before the restart, as a reconnecting client does: whether the
  // overdue escalations were committed before or after this subscription registered, it must
  // get exactly them.
  h.subscribe(hosp, 9, h.rt->epoch + "-" + std::to_string(seq_before));
  ASSERT_TRUE(h.run());
  auto evs = harness::events(h.take_frames(9));
  ASSERT_EQ(evs.size(), 4u);
  const std::vector<std::pair<std::string, int>> expected = {{a, 1}, {b, 1}, {c, 1}, {e, 2}};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    auto role = expected[i].second == 1 ? "doctor" : "head_doctor";
    EXPECT_EQ(evs[i].event_type(), "alert.escalated");
    EXPECT_EQ(evs[i].alert_id(), expected[i].first);
    EXPECT_EQ(at(evs[i].payload(), "fromTier").as_int(), expected[i].second);
    EXPECT_EQ(at(evs[i].payload(), "toTier").as_int(), expected[i].second + 1);
    EXPECT_EQ(at(evs[i].payload(), "toRole").as_string(), role);
    EXPECT_EQ(at(evs[i].payload(), "escalatedBy").as_string(), "system");
    EXPECT_EQ(at(evs[i].payload(), "reason").as_string(), "timeout");
    EXPECT_EQ(date_ms(at(evs[i].payload(), "escalatedAt")), restart);
    EXPECT_EQ(seq_of(evs[i].event_id()), seq_before + 1 + i);
  }
  // Next deadlines count from the firing time.
  for (auto& id : {a, b, c}) {
    auto al = h.get_alert(hosp, id);
    EXPECT_EQ(at(al, "escalationLevel").as_int(), 2);
    EXPECT_EQ(date_ms(at(al, "nextEscalationAt")), restart + 180000);
  }
  auto al = h.get_alert(hosp, e);
  EXPECT_EQ(at(al, "escalationLevel").as_int(), 3);
  EXPECT_TRUE(at(al, "nextEscalationAt").is_null());
  al = h.get_alert(hosp, d);
  EXPECT_EQ(at(al, "status").as_string(), "acknowledged");
  EXPECT_EQ(at(al, "escalationLevel").as_int(), 1);
  al = h.get_alert(hosp, f);
  EXPECT_EQ(at(al, "escalationLevel").as_int(), 3);

  // Nothing else until restart + 3 min; then A, B and C reach the last tier.
  ASSERT_TRUE(h.advance(milliseconds(180000 - 1)));
  EXPECT_TRUE(harness::events(h.take_frames(9)).empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = harness::events(h.take_frames(9));
  ASSERT_EQ(evs.size(), 3u);
  std::set<std::string> ids;
  for (auto& ev : evs) {
    ids.insert(ev.alert_id());
    EXPECT_EQ(at(ev.payload(), "toTier").as_int(), 3);
    EXPECT_EQ(date_ms(at(ev.payload(), "escalatedAt")), restart + 180000);
  }
  EXPECT_EQ(ids, (std::set<std::string>{a, b, c}));
  ASSERT_TRUE(h.advance(minutes(60)));
  EXPECT_TRUE(harness::events(h.take_frames(9)).empty());
}

TEST(escalation_restart, DeadlinesNotYetDueKeepTheirTime) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  int64_t t0 = h.now();
  auto id = h.create_alert(hosp);
  h.stop_server();
  ASSERT_TRUE(h.advance(seconds(60)));
  h.start_server();
  hosp = h.hospital();
  h.subscribe(hosp, 3);
  ASSERT_TRUE(h.run());
  ASSERT_TRUE(h.advance(milliseconds(60000 - 1)));
  EXPECT_TRUE(harness::events(h.take_frames(3)).empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  auto evs = harness::events(h.take_frames(3));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].alert_id(), id);
  EXPECT_EQ(date_ms(at(evs[0].payload(), "escalatedAt")), t0 + 120000);
}

// ---- restart without any client ----------------------------------------------------------------

/// The stored events after `after_seq`, read from the database file by a second connection (as
/// `vigilctl replay --db` does): what happened without looking through any hospital actor.
std::vector<storage::stored_event> stored_events_after(const harness& h, uint64_t after_seq) {
  std::string err;
  storage::open_options opts;
  opts.read_only = true;
  auto store = storage::event_store::open(h.db_path, opts, &err);
  EXPECT_NE(store, nullptr) << err;
  return store ? store->all_events_after(after_seq, 1000) : std::vector<storage::stored_event>{};
}

/// Advances `ms` in two steps: nothing is stored after `seq_before` up to its last millisecond,
/// then the first event stored is the escalation of alert `id`, timed `ts`. Returns every event
/// stored after `seq_before` (empty when the first check failed).
std::vector<storage::stored_event> escalation_at_end_of(harness& h, int64_t ms, uint64_t seq_before,
                                                        const std::string& id, int64_t ts) {
  if (!h.advance(std::chrono::milliseconds(ms - 1))) {
    ADD_FAILURE() << "advance";
    return {};
  }
  EXPECT_TRUE(stored_events_after(h, seq_before).empty());
  if (!h.advance(std::chrono::milliseconds(1))) {
    ADD_FAILURE() << "advance";
    return {};
  }
  auto evs = stored_events_after(h, seq_before);
  if (evs.empty()) {
    ADD_FAILURE() << "nothing stored after " << ms << " ms";
    return {};
  }
  EXPECT_EQ(evs[0].type, "alert.escalated");
  EXPECT_EQ(evs[0].alert_id, id);
  EXPECT_EQ(evs[0].ts, ts);
  return evs;
}

/// createAlert in `hospital` by an operator of that hospital; returns the alert id.
std::string create_in(harness& h, const std::string& hospital, const std::string& room) {
  auto who = make_identity("u-op-" + hospital, role::operator_, hospital);
  auto r = h.call_now(h.hospital(hospital), "healthcare.createAlert",
                      R"({"hospitalId":")" + hospital + R"(","roomNumber":")" + room
                        + R"(","alertType":"cardiac_arrest","urgencyLevel":1})",
                      who);
  EXPECT_TRUE(r && r->ok) << (r ? r->error.message : "no reply");
  return r && r->ok ? at(at(r->value(), "alert"), "id").as_string() : std::string{};
}

TEST(escalation_restart, TimersRunAfterARestartBeforeAnyClientTouchesTheHospital) {
  // The defect: a hospital's timers were armed only when its actor was first used, so an alert
  // due one second after a restart escalated only once a client called for its hospital.
  harness h{"nurse:5s,doctor:5s,head_doctor"};
  h.start_server();
  int64_t t0 = h.now();
  auto overdue = create_in(h, "h-a", "A1");             // deadline t0+5s
  ASSERT_TRUE(h.advance(seconds(3)));
  auto later = create_in(h, "h-c", "C1");               // deadline t0+8s
  auto acked = create_in(h, "h-b", "B1");               // acknowledged: no timer
  auto ack = h.call_now(h.hospital("h-b"), "healthcare.acknowledgeAlert",
                        R"({"alertId":")" + acked + "\"}",
                        make_identity("u-nurse-b", role::nurse, "h-b"));
  ASSERT_TRUE(ack && ack->ok);
  auto resolved = create_in(h, "h-d", "D1");            // resolved: no timer
  ack = h.call_now(h.hospital("h-d"), "healthcare.acknowledgeAlert",
                   R"({"alertId":")" + resolved + "\"}",
                   make_identity("u-nurse-d", role::nurse, "h-d"));
  ASSERT_TRUE(ack && ack->ok);
  auto res = h.call_now(h.hospital("h-d"), "healthcare.resolveAlert",
                        R"({"alertId":")" + resolved + R"(","resolution":"handled at the bedside"})",
                        make_identity("u-nurse-d", role::nurse, "h-d"));
  ASSERT_TRUE(res && res->ok) << (res ? res->error.message : "no reply");
  uint64_t seq_before = h.rt->last_seq.load();

  h.stop_server();
  ASSERT_TRUE(h.advance(seconds(3)));                    // down 3 s: h-a's deadline passed
  int64_t restart = h.now();
  ASSERT_EQ(restart, t0 + 6000);
  h.start_server();                                      // nothing calls for any hospital

  // Soonest deadline first; only hospitals with a running timer are loaded.
  EXPECT_EQ(h.last_restore().hospitals, (std::vector<std::string>{"h-a", "h-c"}));
  EXPECT_EQ(h.last_restore().timers, 2u);
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a", "h-c"}));
  EXPECT_EQ(h.not_ready(), std::string{});

  // The overdue timer fired at the restart, without waiting for anything.
  auto evs = stored_events_after(h, seq_before);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, "alert.escalated");
  EXPECT_EQ(evs[0].alert_id, overdue);
  EXPECT_EQ(evs[0].ts, restart);

  // The other one at its own deadline, to the millisecond.
  ASSERT_TRUE(h.advance(milliseconds(2000 - 1)));
  EXPECT_EQ(stored_events_after(h, seq_before).size(), 1u);
  ASSERT_TRUE(h.advance(milliseconds(1)));
  evs = stored_events_after(h, seq_before);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].type, "alert.escalated");
  EXPECT_EQ(evs[1].alert_id, later);
  EXPECT_EQ(evs[1].ts, t0 + 8000);

  // And the next tier of the first, 5 s after it fired.
  ASSERT_TRUE(h.advance(milliseconds(3000)));
  evs = stored_events_after(h, seq_before);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[2].alert_id, overdue);
  EXPECT_EQ(evs[2].ts, restart + 5000);
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a", "h-c"}));
}

TEST(escalation_restart, ReadyAtOnceWhileTheRestoreWaitsForTheDeadline) {
  // Readiness does not wait for hospital loads: a hospital whose first deadline is far stays
  // unloaded (its timer waits in the directory) until restore_lead_ms before the deadline, and
  // its timer still fires at the deadline, to the millisecond, without any client.
  harness h{"nurse:60s,doctor:60s,head_doctor"};
  h.start_server();
  int64_t t0 = h.now();
  auto id = create_in(h, "h-a", "A1");                   // deadline t0+60s
  uint64_t seq_before = h.rt->last_seq.load();
  h.stop_server();
  ASSERT_TRUE(h.advance(seconds(5)));
  h.start_server();
  EXPECT_EQ(h.not_ready(), std::string{});
  EXPECT_TRUE(h.loaded_hospitals().empty());
  auto dormant = h.ask<std::vector<std::string>>(h.rt->directory, dormant_atom::value);
  ASSERT_TRUE(dormant.has_value());
  EXPECT_EQ(*dormant, (std::vector<std::string>{"h-a"}));

  int64_t wake = t0 + 60000 - restore_lead_ms;
  ASSERT_TRUE(h.advance(milliseconds(wake - h.now() - 1)));
  EXPECT_TRUE(h.loaded_hospitals().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a"}));
  dormant = h.ask<std::vector<std::string>>(h.rt->directory, dormant_atom::value);
  ASSERT_TRUE(dormant.has_value());
  EXPECT_TRUE(dormant->empty());

  auto evs = escalation_at_end_of(h, restore_lead_ms, seq_before, id, t0 + 60000);
  EXPECT_EQ(evs.size(), 1u);
}

TEST(escalation_restart, ARunningHospitalIsNotLoadedTwiceByItsWakeUp) {
  // A client uses the hospital before its restore is due: the wake-up later finds it running.
  harness h{"nurse:60s,doctor:60s,head_doctor"};
  h.start_server();
  int64_t t0 = h.now();
  create_in(h, "h-a", "A1");
  uint64_t seq_before = h.rt->last_seq.load();
  h.stop_server();
  h.start_server();
  auto first = h.hospital("h-a");
  ASSERT_TRUE(h.advance(milliseconds(60000)));
  auto all = h.ask<hospital_list>(h.rt->directory, hospitals_atom::value);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().second, first);
  auto evs = stored_events_after(h, seq_before);
  ASSERT_EQ(evs.size(), 1u);                               // one timer, one escalation
  EXPECT_EQ(evs[0].ts, t0 + 60000);
}

TEST(escalation_restart, TheFailsafeDeadlineLoadsAHospitalNobodyUses) {
  // An active alert's receipt deadline after a restart falls a receipt timeout after the start:
  // the hospital loads before it without any client, and the failsafe fires on time.
  harness h{"nurse:2m,doctor:3m,head_doctor"};
  h.rt->cfg.failsafe.enabled = true;
  h.rt->cfg.failsafe.receipt_timeout_ms = 30000;
  h.start_server();
  auto hosp = h.hospital("h1");
  h.rt->out->open(20);
  auto req = std::make_shared<subscribe_request>(); // a nurse online: no escalation at creation
  req->conn_id = 20;
  req->key = "1";
  req->id = json::value{1};
  req->prefix = R"({"id":1,"result":{"type":"data",)";
  req->kind = stream_kind::alerts;
  req->who = std::make_shared<identity>(h.nurse);
  req->since_ms = h.now();
  caf::anon_send(hosp, subscribe_ptr{req});
  ASSERT_TRUE(h.run());
  auto id = h.create_alert(hosp, "ICU-1", 1);
  ASSERT_TRUE(h.advance(seconds(10)));
  uint64_t seq_before = h.rt->last_seq.load();
  h.stop_server();
  h.rt->started_ms = h.now();
  int64_t restart = h.now();
  h.start_server();
  EXPECT_TRUE(h.loaded_hospitals().empty());
  ASSERT_TRUE(h.advance(milliseconds(30000 - restore_lead_ms)));
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h1"}));
  escalation_at_end_of(h, restore_lead_ms, seq_before, id, restart + 30000);
}

TEST(escalation_restart, ReadinessProbeCreatesNoHospital) {
  harness h;
  h.start_server();
  EXPECT_TRUE(h.last_restore().hospitals.empty());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(h.not_ready(), std::string{});
  EXPECT_TRUE(h.loaded_hospitals().empty());
}

TEST(hospital_crash, TimersStillFireAfterTheHospitalActorDiedAbnormally) {
  // The defect: the directory dropped a hospital actor that died abnormally (an exception, a
  // bug), and its escalation timers stopped until a client touched the hospital again.
  harness h{"nurse:5s,doctor:5s,head_doctor"};
  h.start_server();
  int64_t t0 = h.now();
  auto id = create_in(h, "h-a", "A1");                   // deadline t0+5s
  uint64_t seq_before = h.rt->last_seq.load();
  ASSERT_TRUE(h.advance(seconds(1)));

  h.crash_hospital("h-a", caf::exit_reason::unhandled_exception);
  // Reloaded from storage at once, nobody asking for it.
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a"}));

  auto evs = escalation_at_end_of(h, 4000, seq_before, id, t0 + 5000);
  EXPECT_EQ(evs.size(), 1u);

  // A stop for shutdown is not a crash: nothing is restarted.
  h.crash_hospital("h-a", caf::exit_reason::user_shutdown);
  EXPECT_TRUE(h.loaded_hospitals().empty());
}

TEST(hospital_crash, ACrashLoopIsRestartedAtMostFiveTimesAMinute) {
  harness h{"nurse:5m,doctor:5m,head_doctor"};
  h.start_server();
  create_in(h, "h-a", "A1");
  for (int i = 0; i < 5; ++i) {
    h.crash_hospital("h-a", caf::exit_reason::unhandled_exception);
    ASSERT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a"})) << "restart " << i + 1;
    ASSERT_TRUE(h.advance(seconds(1)));
  }
  // The sixth crash within the minute: no restart until the first one is a minute old.
  int64_t first_restart = h.now() - 5000;
  h.crash_hospital("h-a", caf::exit_reason::unhandled_exception);
  EXPECT_TRUE(h.loaded_hospitals().empty());
  ASSERT_TRUE(h.advance(milliseconds(first_restart + 60000 - h.now() - 1)));
  EXPECT_TRUE(h.loaded_hospitals().empty());
  ASSERT_TRUE(h.advance(milliseconds(1)));
  EXPECT_EQ(h.loaded_hospitals(), (std::vector<std::string>{"h-a"}));
}

} // namespace
} // namespace vigil::test

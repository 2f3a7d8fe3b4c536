// Delivery receipts and the failsafe's pure rules (domain/receipts.hpp; docs/api.md
// "confirmDelivery", "Escalation").

#include "domain/receipts.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

identity person(const std::string& sub, role r) {
  identity who;
  who.sub = sub;
  who.user_role = r;
  who.hospitals = {"h1"};
  who.exp = 4102444800;
  return who;
}

alert fresh(int urgency = 1) {
  alert a;
  a.id = "b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b";
  a.hospital_id = "h1";
  a.room_number = "ICU-1";
  a.alert_type = "fire";
  a.urgency_level = urgency;
  a.created_by = "u-op";
  a.created_at = 1000;
  a.updated_at = 1000;
  a.next_escalation_at = 121000;
  return a;
}

const escalation_policy tiers; // nurse 2m, doctor 3m, head_doctor

TEST(FailsafeUrgencies, MustContainOneAndTwo) {
  EXPECT_EQ(std::get<unsigned>(parse_failsafe_urgencies("1,2")), 0b110u);
  EXPECT_EQ(std::get<unsigned>(parse_failsafe_urgencies("1, 2 ,5")), 0b100110u);
  EXPECT_EQ(failsafe_urgencies_text(0b111110), "1,2,3,4,5");
  EXPECT_NE(std::get<std::string>(parse_failsafe_urgencies("1,3")).find("1 and 2"),
            std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_failsafe_urgencies("1,2,6")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_failsafe_urgencies("")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_failsafe_urgencies("1,,2")));
  failsafe_policy fs;
  fs.urgency_mask = 0b110;
  EXPECT_TRUE(fs.covers(2));
  EXPECT_FALSE(fs.covers(3));
}

TEST(Receipts, OnePerUserFirstKeptBoundedAndCountedPerRole) {
  auto a = fresh();
  auto nurse = person("u-n1", role::nurse);
  auto c = apply_receipt(a, nurse, "e-1", 2000, tiers);
  EXPECT_TRUE(c.added);
  EXPECT_TRUE(c.attended);
  EXPECT_EQ(a.attended_tier, 1);
  c = apply_receipt(a, nurse, "e-2", 3000, tiers);
  EXPECT_FALSE(c.any());
  ASSERT_EQ(a.receipts.size(), 1u);
  EXPECT_EQ(a.receipts[0].seen_at, 2000);
  EXPECT_EQ(a.receipts[0].event_id, "e-1");
  for (int i = 0; i < 60; ++i)
    apply_receipt(a, person("u-v" + std::to_string(i), role::viewer), "e-1", 4000, tiers);
  EXPECT_EQ(a.receipts.size(), max_receipts_per_alert);
  EXPECT_EQ(json::to_string(seen_by_json(a)), R"({"nurse":1,"viewer":49})");
}

TEST(Receipts, OnlyTheCurrentTiersRoleAttendsWhileActive) {
  auto a = fresh();
  EXPECT_FALSE(apply_receipt(a, person("u-d", role::doctor), "e", 2000, tiers).attended);
  EXPECT_EQ(a.attended_tier, 0);
  a.escalation_level = 2;
  EXPECT_FALSE(apply_receipt(a, person("u-d", role::doctor), "e", 2000, tiers).added);
  EXPECT_EQ(a.attended_tier, 2); // the same user again: no receipt, but the tier is attended
  auto b = fresh();
  b.status = alert_status::acknowledged;
  EXPECT_FALSE(apply_receipt(b, person("u-n", role::nurse), "e", 2000, tiers).attended);
}

TEST(Failsafe, WatchesActiveCoveredUnattendedTiers) {
  failsafe_policy fs;
  auto a = fresh();
  EXPECT_TRUE(failsafe_watches(a, fs, tiers));
  EXPECT_EQ(receipt_deadline(a, fs, 0), 1000 + 30000);
  EXPECT_EQ(receipt_deadline(a, fs, 50000), 50000 + 30000); // restart: from the start
  a.attended_tier = 1;
  EXPECT_FALSE(failsafe_watches(a, fs, tiers));
  fs.enabled = false;
  EXPECT_FALSE(failsafe_watches(fresh(), fs, tiers));
  fs.enabled = true;
  fs.urgency_mask = 0b110;
  EXPECT_FALSE(failsafe_watches(fresh(4), fs, tiers));
}

TEST(Failsafe, StepsUpThenCallsTheHospitalOnceAtTheLastTier) {
  failsafe_policy fs;
  auto a = fresh();
  auto r = failsafe_escalate(a, tiers, reason_no_recipient_online, 1500);
  auto& t = std::get<transition>(r);
  EXPECT_EQ(t.next.escalation_level, 2);
  EXPECT_EQ(tier_entered_at(t.next), 1500);
  EXPECT_EQ(json::to_string(t.event.data),
            R"({"fromTier":1,"toTier":2,"toRole":"doctor","escalatedAt":"1970-01-01T00:00:01.500Z","escalatedBy":"system","reason":"no_recipient_online"})");
  auto r2 = failsafe_escalate(t.next, tiers, reason_no_receipt, 2000);
  auto last = std::get<transition>(r2).next;
  EXPECT_EQ(last.escalation_level, 3);
  auto r3 = failsafe_escalate(last, tiers, reason_no_receipt, 3000);
  auto& call = std::get<transition>(r3);
  EXPECT_EQ(call.next.escalation_level, 3);
  EXPECT_EQ(call.event.type, "alert.escalated");
  EXPECT_TRUE(call.event.data.find("unattended")->as_bool());
  EXPECT_EQ(tier_entered_at(call.next), 2000); // the call is not a tier entry
  EXPECT_FALSE(failsafe_watches(call.next, fs, tiers));
  EXPECT_TRUE(std::holds_alternative<call_error>(failsafe_escalate(call.next, tiers, "x", 4000)));
}

TEST(Receipts, SurviveTheStoredForm) {
  auto a = fresh();
  apply_receipt(a, person("u-n1", role::nurse), "abcdefgh-3", 2000, tiers);
  a.escalations.push_back({3, 3, "head_doctor", 5000, "system", std::string("no_receipt"), true});
  auto back = alert_from_json(to_json(a, true));
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->receipts.size(), 1u);
  EXPECT_EQ(back->receipts[0].user_id, "u-n1");
  EXPECT_EQ(back->receipts[0].role, "nurse");
  EXPECT_EQ(back->receipts[0].seen_at, 2000);
  EXPECT_EQ(back->attended_tier, 1);
  ASSERT_EQ(back->escalations.size(), 1u);
  EXPECT_TRUE(back->escalations[0].unattended);
  // A row stored before receipts existed still loads.
  auto old = to_json(fresh(), true);
  auto plain = to_json(fresh(), false);
  auto loaded = alert_from_json(plain);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->receipts.empty());
  EXPECT_EQ(loaded->attended_tier, 0);
  (void)old;
}

TEST(Receipts, SeenByUpdateIsAnAlertUpdatedBySystem) {
  auto a = fresh();
  apply_receipt(a, person("u-n1", role::nurse), "e", 2000, tiers);
  auto t = seen_by_update(a, 2500);
  EXPECT_EQ(t.event.type, "alert.updated");
  EXPECT_EQ(t.next.updated_at, 2500);
  EXPECT_EQ(json::to_string(t.event.data),
            R"({"seenBy":{"nurse":1},"updatedBy":"system","updatedAt":"1970-01-01T00:00:02.500Z"})");
}

} // namespace
} // namespace vigil

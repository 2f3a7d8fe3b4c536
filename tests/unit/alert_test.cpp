// The alert model, its JSON shapes and the state machine (docs/api.md "Data types",
// "Alert state machine", "Escalation").

#include "domain/alert.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "domain/procedures.hpp"
#include "domain/time.hpp"

namespace vigil {
namespace {

const char* const hospital = "6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f";
const char* const alert_id = "b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b";

int64_t at(const char* iso) {
  auto ms = parse_iso(iso);
  EXPECT_TRUE(ms.has_value()) << iso;
  return ms.value_or(0);
}

const int64_t t0 = at("2026-01-05T10:00:00.000Z");

identity person(const char* sub, role r) {
  identity who;
  who.sub = sub;
  who.user_role = r;
  who.hospitals = {hospital};
  who.exp = 4102444800;
  return who;
}

const identity op = person("u-op-3", role::operator_);
const identity nurse = person("u-nurse-7", role::nurse);
const identity other_nurse = person("u-nurse-8", role::nurse);
const identity doctor = person("u-doctor-2", role::doctor);
const identity head = person("u-head-1", role::head_doctor);
const identity admin = person("u-admin", role::admin);

json::value parse_json(std::string_view text) {
  std::string error;
  auto v = json::parse(text, &error);
  EXPECT_TRUE(v.has_value()) << error << " in " << text;
  return v ? *v : json::value();
}

/// The validated input of `p` (so the transitions see what the server hands them).
json::value input(procedure p, std::string_view text) {
  json::value raw = parse_json(text);
  auto r = validate_input(p, &raw);
  if (auto* err = std::get_if<call_error>(&r)) {
    ADD_FAILURE() << err->message;
    return json::value::make_object();
  }
  return std::get<json::value>(r);
}

std::string alert_input(const std::string& rest = "") {
  return std::string("{\"alertId\":\"") + alert_id + "\"" + (rest.empty() ? "" : "," + rest) + "}";
}

json::value create_input() {
  return input(procedure::create_alert,
               std::string("{\"hospitalId\":\"") + hospital +
                   "\",\"roomNumber\":\"icu-1\",\"alertType\":\"cardiac_arrest\","
                   "\"urgencyLevel\":1,\"description\":\"Patient collapsed\","
                   "\"targetDepartment\":\"icu\",\"idempotencyKey\":\"k-1\"}");
}

alert created(const escalation_policy& policy = {}) {
  return create_alert(create_input(), op, t0, policy, alert_id).next;
}

alert acknowledged_by(const identity& who, int64_t when = t0 + 60000) {
  auto r = acknowledge_alert(created(), input(procedure::acknowledge_alert, alert_input()), who,
                             when);
  EXPECT_TRUE(std::holds_alternative<transition>(r));
  return std::get<transition>(r).next;
}

alert resolved() {
  auto r = resolve_alert(acknowledged_by(nurse),
                         input(procedure::resolve_alert,
                               alert_input("\"resolution\":\"Stabilised, moved to CCU\"")),
                         nurse, t0 + 120000);
  EXPECT_TRUE(std::holds_alternative<transition>(r));
  return std::get<transition>(r).next;
}

/// The successful transition (by value: the result is usually a temporary).
transition ok(const transition_result& r) {
  if (auto* err = std::get_if<call_error>(&r)) {
    ADD_FAILURE() << "unexpected: " << err->message;
    return transition{};
  }
  return std::get<transition>(r);
}

void expect_error(const transition_result& r, trpc_code code, const std::string& message) {
  ASSERT_TRUE(std::holds_alternative<call_error>(r)) << "expected: " << message;
  EXPECT_EQ(std::get<call_error>(r).code, code);
  EXPECT_EQ(std::get<call_error>(r).message, message);
}

void expect_conflict(const transition_result& r, const std::string& message) {
  expect_error(r, trpc_code::conflict, message);
}

std::string text(const json::value& v) { return json::to_string(v); }

// ---- status names and policy --------------------------------------------------------------------

TEST(AlertStatus, NamesRoundTrip) {
  for (auto s : {alert_status::active, alert_status::acknowledged, alert_status::resolved})
    EXPECT_EQ(parse_status(status_name(s)), s);
  EXPECT_STREQ(status_name(alert_status::acknowledged), "acknowledged");
  EXPECT_FALSE(parse_status("Active").has_value());
  EXPECT_FALSE(parse_status("all").has_value());
  EXPECT_FALSE(parse_status("").has_value());
}

TEST(EscalationPolicy, DefaultTiersAndTimeouts) {
  escalation_policy p;
  EXPECT_EQ(p.max_tier(), 3);
  EXPECT_EQ(p.timeout_of(1), 120000);
  EXPECT_EQ(p.timeout_of(2), 180000);
  EXPECT_EQ(p.timeout_of(3), std::nullopt);
  EXPECT_EQ(p.timeout_of(4), std::nullopt);
  EXPECT_EQ(p.timeout_of(0), std::nullopt);
  EXPECT_EQ(p.timeout_of(-1), std::nullopt);
}

TEST(EscalationPolicy, LastTierHasNoTimeoutEvenIfConfigured) {
  escalation_policy p;
  p.tiers = {{"nurse", 5000}, {"doctor", 7000}};
  EXPECT_EQ(p.timeout_of(1), 5000);
  EXPECT_EQ(p.timeout_of(2), std::nullopt);
  p.tiers = {{"nurse", 5000}};
  EXPECT_EQ(p.timeout_of(1), std::nullopt);
}

// ---- createAlert --------------------------------------------------------------------------------

TEST(CreateAlert, NewAlertIsActiveAtTierOneWithItsDeadline) {
  transition t = create_alert(create_input(), op, t0, escalation_policy{}, alert_id);
  const alert& a = t.next;
  EXPECT_EQ(a.id, alert_id);
  EXPECT_EQ(a.hospital_id, hospital);
  EXPECT_EQ(a.room_number, "ICU-1");
  EXPECT_EQ(a.alert_type, "cardiac_arrest");
  EXPECT_EQ(a.urgency_level, 1);
  EXPECT_EQ(a.description, "Patient collapsed");
  EXPECT_EQ(a.status, alert_status::active);
  EXPECT_EQ(a.escalation_level, 1);
  EXPECT_EQ(a.next_escalation_at, t0 + 120000);
  EXPECT_EQ(a.target_department, "icu");
  EXPECT_EQ(a.patient_id, std::nullopt);
  EXPECT_EQ(a.created_by, "u-op-3");
  EXPECT_EQ(a.created_at, t0);
  EXPECT_EQ(a.updated_at, t0);
  EXPECT_FALSE(a.acknowledged_by || a.acknowledged_at || a.acknowledgement_notes);
  EXPECT_FALSE(a.resolved_by || a.resolved_at || a.resolution);
  EXPECT_TRUE(a.escalations.empty());
}

TEST(CreateAlert, JsonShapeMatchesTheApiExample) {
  EXPECT_EQ(text(to_json(created())),
            "{\"id\":\"b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b\",\"hospitalId\":"
            "\"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f\",\"roomNumber\":\"ICU-1\",\"alertType\":"
            "\"cardiac_arrest\",\"urgencyLevel\":1,\"description\":\"Patient collapsed\","
            "\"status\":\"active\",\"escalationLevel\":1,\"currentEscalationTier\":1,"
            "\"nextEscalationAt\":\"2026-01-05T10:02:00.000Z\",\"targetDepartment\":\"icu\","
            "\"patientId\":null,\"createdBy\":\"u-op-3\",\"createdAt\":"
            "\"2026-01-05T10:00:00.000Z\",\"updatedAt\":\"2026-01-05T10:00:00.000Z\","
            "\"acknowledgedBy\":null,\"acknowledgedAt\":null,\"acknowledgementNotes\":null,"
            "\"resolvedBy\":null,\"resolvedAt\":null,\"resolution\":null}");
}

TEST(CreateAlert, TimestampsAreDateValues) {
  json::value v = to_json(created());
  EXPECT_TRUE(v.find("createdAt")->is_date());
  EXPECT_TRUE(v.find("updatedAt")->is_date());
  EXPECT_TRUE(v.find("nextEscalationAt")->is_date());
  EXPECT_TRUE(v.find("acknowledgedAt")->is_null());
  EXPECT_FALSE(v.find("createdBy")->is_date());
  EXPECT_EQ(v.find("escalations"), nullptr);
}

TEST(CreateAlert, EventCarriesTheAlertAsReturned) {
  transition t = create_alert(create_input(), op, t0, escalation_policy{}, alert_id);
  const alert_event& e = t.event;
  EXPECT_EQ(e.seq, 0u);
  EXPECT_EQ(e.id, "");
  EXPECT_EQ(e.type, "alert.created");
  EXPECT_EQ(e.alert_id, alert_id);
  EXPECT_EQ(e.hospital_id, hospital);
  EXPECT_EQ(e.timestamp, t0);
  EXPECT_EQ(e.urgency_level, 1);
  EXPECT_EQ(e.alert_type, "cardiac_arrest");
  EXPECT_EQ(text(e.data), text(to_json(t.next)));
  EXPECT_EQ(e.data.find("escalations"), nullptr);
  EXPECT_TRUE(e.data.find("createdAt")->is_date());
}

TEST(CreateAlert, MinimalInputLeavesOptionalFieldsNull) {
  json::value in = input(procedure::create_alert,
                         "{\"hospitalId\":\"h-2\",\"roomNumber\":\"302\",\"alertType\":\"fire\","
                         "\"urgencyLevel\":4}");
  alert a = create_alert(in, nurse, t0, escalation_policy{}, "id-1").next;
  EXPECT_EQ(a.description, std::nullopt);
  EXPECT_EQ(a.target_department, std::nullopt);
  EXPECT_EQ(a.patient_id, std::nullopt);
  EXPECT_EQ(a.urgency_level, 4);
  EXPECT_EQ(a.created_by, "u-nurse-7");
  json::value v = to_json(a);
  EXPECT_TRUE(v.find("description")->is_null());
  EXPECT_TRUE(v.find("targetDepartment")->is_null());
  EXPECT_TRUE(v.find("patientId")->is_null());
}

TEST(CreateAlert, DeadlineFollowsThePolicy) {
  escalation_policy fast;
  fast.tiers = {{"nurse", 2000}, {"doctor", 3000}, {"head_doctor", std::nullopt}};
  EXPECT_EQ(created(fast).next_escalation_at, t0 + 2000);
  escalation_policy single;
  single.tiers = {{"head_doctor", std::nullopt}};
  EXPECT_EQ(created(single).next_escalation_at, std::nullopt);
  EXPECT_TRUE(to_json(created(single)).find("nextEscalationAt")->is_null());
}

// ---- acknowledgeAlert ---------------------------------------------------------------------------

TEST(AcknowledgeAlert, MinimalInputAcknowledgesAndCancelsTheTimer) {
  int64_t now = t0 + 190000;
  const transition& t =
      ok(acknowledge_alert(created(), input(procedure::acknowledge_alert, alert_input()), nurse,
                           now));
  const alert& a = t.next;
  EXPECT_EQ(a.status, alert_status::acknowledged);
  EXPECT_EQ(a.acknowledged_by, "u-nurse-7");
  EXPECT_EQ(a.acknowledged_at, now);
  EXPECT_EQ(a.acknowledgement_notes, std::nullopt);
  EXPECT_EQ(a.next_escalation_at, std::nullopt);
  EXPECT_EQ(a.updated_at, now);
  EXPECT_EQ(a.urgency_level, 1);
  EXPECT_EQ(a.created_at, t0);
  EXPECT_EQ(a.escalation_level, 1);

  EXPECT_EQ(t.event.type, "alert.acknowledged");
  EXPECT_EQ(t.event.timestamp, now);
  EXPECT_EQ(t.event.alert_id, alert_id);
  EXPECT_EQ(text(t.event.data),
            "{\"acknowledgedBy\":\"u-nurse-7\",\"acknowledgedAt\":\"2026-01-05T10:03:10.000Z\","
            "\"notes\":null,\"urgencyAssessment\":\"maintain\",\"responseAction\":null,"
            "\"estimatedResponseTime\":null,\"delegateTo\":null,\"urgencyLevel\":1}");
  EXPECT_TRUE(t.event.data.find("acknowledgedAt")->is_date());
}

TEST(AcknowledgeAlert, FullInputIsEchoedInTheEvent) {
  json::value in = input(procedure::acknowledge_alert,
                         alert_input("\"notes\":\"On my way\",\"urgencyAssessment\":\"decrease\","
                                     "\"responseAction\":\"delegating\",\"estimatedResponseTime\":"
                                     "2.5,\"delegateTo\":\"u-doctor-2\""));
  const transition& t = ok(acknowledge_alert(created(), in, nurse, t0 + 1000));
  EXPECT_EQ(t.next.acknowledgement_notes, "On my way");
  EXPECT_EQ(t.next.urgency_level, 2);
  EXPECT_EQ(t.event.urgency_level, 2);
  EXPECT_EQ(text(t.event.data),
            "{\"acknowledgedBy\":\"u-nurse-7\",\"acknowledgedAt\":\"2026-01-05T10:00:01.000Z\","
            "\"notes\":\"On my way\",\"urgencyAssessment\":\"decrease\",\"responseAction\":"
            "\"delegating\",\"estimatedResponseTime\":2.5,\"delegateTo\":\"u-doctor-2\","
            "\"urgencyLevel\":2}");
}

TEST(AcknowledgeAlert, MissingAssessmentMeansMaintain) {
  // The batch procedures hand over a minimal input without the default applied.
  json::value in = json::value::make_object();
  in.set("notes", "Covering ward 3");
  const transition& t = ok(acknowledge_alert(created(), in, doctor, t0 + 5));
  EXPECT_EQ(t.next.urgency_level, 1);
  EXPECT_EQ(t.next.acknowledgement_notes, "Covering ward 3");
  EXPECT_EQ(t.event.data.find("urgencyAssessment")->as_string(), "maintain");
  EXPECT_TRUE(t.event.data.find("responseAction")->is_null());
}

alert with_urgency(int level) {
  alert a = created();
  a.urgency_level = level;
  return a;
}

int assessed(int level, const char* assessment) {
  json::value in = input(procedure::acknowledge_alert,
                         alert_input(std::string("\"urgencyAssessment\":\"") + assessment + "\""));
  const transition& t = ok(acknowledge_alert(with_urgency(level), in, nurse, t0 + 1));
  EXPECT_EQ(t.event.urgency_level, t.next.urgency_level);
  EXPECT_EQ(t.event.data.find("urgencyLevel")->as_int(), t.next.urgency_level);
  return t.next.urgency_level;
}

TEST(AcknowledgeAlert, UrgencyAssessmentMovesOneStepWithinBounds) {
  EXPECT_EQ(assessed(3, "increase"), 2);
  EXPECT_EQ(assessed(2, "increase"), 1);
  EXPECT_EQ(assessed(1, "increase"), 1);
  EXPECT_EQ(assessed(3, "decrease"), 4);
  EXPECT_EQ(assessed(4, "decrease"), 5);
  EXPECT_EQ(assessed(5, "decrease"), 5);
  for (int level = 1; level <= 5; ++level) EXPECT_EQ(assessed(level, "maintain"), level);
}

TEST(AcknowledgeAlert, OnlyActiveAlertsCanBeAcknowledged) {
  json::value in = input(procedure::acknowledge_alert, alert_input());
  expect_conflict(acknowledge_alert(acknowledged_by(nurse), in, doctor, t0 + 100000),
                  "Alert is not active");
  expect_conflict(acknowledge_alert(resolved(), in, doctor, t0 + 200000), "Alert is not active");
}

TEST(AcknowledgeAlert, WorksAtAHigherTier) {
  alert a = ok(escalate_alert(created(), escalation_policy{}, "system", "timeout",
                              t0 + 120000)).next;
  const transition& t =
      ok(acknowledge_alert(a, input(procedure::acknowledge_alert, alert_input()), doctor,
                           t0 + 130000));
  EXPECT_EQ(t.next.escalation_level, 2);
  EXPECT_EQ(t.next.next_escalation_at, std::nullopt);
  EXPECT_EQ(t.next.escalations.size(), 1u);
}

// ---- resolveAlert -------------------------------------------------------------------------------

TEST(ResolveAlert, ResolvesAnAcknowledgedAlertAndKeepsTheDescription) {
  alert before = acknowledged_by(nurse);
  int64_t now = t0 + 300000;
  const transition& t = ok(resolve_alert(
      before, input(procedure::resolve_alert, alert_input("\"resolution\":\"Stabilised, moved to CCU\"")),
      doctor, now));
  const alert& a = t.next;
  EXPECT_EQ(a.status, alert_status::resolved);
  EXPECT_EQ(a.resolved_by, "u-doctor-2");
  EXPECT_EQ(a.resolved_at, now);
  EXPECT_EQ(a.resolution, "Stabilised, moved to CCU");
  EXPECT_EQ(a.description, "Patient collapsed");
  EXPECT_EQ(a.acknowledged_by, "u-nurse-7");
  EXPECT_EQ(a.acknowledged_at, before.acknowledged_at);
  EXPECT_EQ(a.next_escalation_at, std::nullopt);
  EXPECT_EQ(a.updated_at, now);

  EXPECT_EQ(t.event.type, "alert.resolved");
  EXPECT_EQ(t.event.timestamp, now);
  EXPECT_EQ(text(t.event.data),
            "{\"resolvedBy\":\"u-doctor-2\",\"resolution\":\"Stabilised, moved to CCU\","
            "\"resolvedAt\":\"2026-01-05T10:05:00.000Z\"}");
  EXPECT_TRUE(t.event.data.find("resolvedAt")->is_date());
}

TEST(ResolveAlert, OnlyAcknowledgedAlertsCanBeResolved) {
  json::value in = input(procedure::resolve_alert, alert_input("\"resolution\":\"False alarm!\""));
  expect_conflict(resolve_alert(created(), in, nurse, t0 + 1), "Alert not found or not acknowledged");
  expect_conflict(resolve_alert(resolved(), in, nurse, t0 + 500000),
                  "Alert not found or not acknowledged");
}

// ---- escalation ---------------------------------------------------------------------------------

TEST(EscalateAlert, TimerStepRestartsTheDeadlineForTheNewTier) {
  int64_t now = t0 + 125000; // fired a little late: the next deadline counts from now
  const transition& t = ok(escalate_alert(created(), escalation_policy{}, "system", "timeout", now));
  const alert& a = t.next;
  EXPECT_EQ(a.status, alert_status::active);
  EXPECT_EQ(a.escalation_level, 2);
  EXPECT_EQ(a.next_escalation_at, now + 180000);
  EXPECT_EQ(a.updated_at, now);
  ASSERT_EQ(a.escalations.size(), 1u);
  const escalation_record& r = a.escalations[0];
  EXPECT_EQ(r.from_tier, 1);
  EXPECT_EQ(r.to_tier, 2);
  EXPECT_EQ(r.to_role, "doctor");
  EXPECT_EQ(r.escalated_at, now);
  EXPECT_EQ(r.escalated_by, "system");
  EXPECT_EQ(r.reason, "timeout");

  EXPECT_EQ(t.event.type, "alert.escalated");
  EXPECT_EQ(t.event.timestamp, now);
  EXPECT_EQ(text(t.event.data),
            "{\"fromTier\":1,\"toTier\":2,\"toRole\":\"doctor\",\"escalatedAt\":"
            "\"2026-01-05T10:02:05.000Z\",\"escalatedBy\":\"system\",\"reason\":\"timeout\"}");
  EXPECT_TRUE(t.event.data.find("escalatedAt")->is_date());
  json::value v = to_json(a);
  EXPECT_EQ(v.find("escalationLevel")->as_int(), 2);
  EXPECT_EQ(v.find("currentEscalationTier")->as_int(), 2);
}

TEST(EscalateAlert, ThroughEveryTierToTheLast) {
  escalation_policy policy;
  alert a = created(policy);
  const transition& first = ok(escalate_alert(a, policy, "u-head-1", "No response", t0 + 10));
  EXPECT_EQ(first.next.escalation_level, 2);
  EXPECT_EQ(first.next.next_escalation_at, t0 + 10 + 180000);
  alert second_tier = first.next;
  const transition& second = ok(escalate_alert(second_tier, policy, "u-admin", std::nullopt, t0 + 20));
  const alert& top = second.next;
  EXPECT_EQ(top.escalation_level, 3);
  EXPECT_EQ(top.next_escalation_at, std::nullopt);
  EXPECT_TRUE(to_json(top).find("nextEscalationAt")->is_null());
  ASSERT_EQ(top.escalations.size(), 2u);
  EXPECT_EQ(top.escalations[0].to_role, "doctor");
  EXPECT_EQ(top.escalations[0].escalated_by, "u-head-1");
  EXPECT_EQ(top.escalations[0].reason, "No response");
  EXPECT_EQ(top.escalations[1].from_tier, 2);
  EXPECT_EQ(top.escalations[1].to_tier, 3);
  EXPECT_EQ(top.escalations[1].to_role, "head_doctor");
  EXPECT_EQ(top.escalations[1].reason, std::nullopt);
  EXPECT_EQ(text(second.event.data),
            "{\"fromTier\":2,\"toTier\":3,\"toRole\":\"head_doctor\",\"escalatedAt\":"
            "\"2026-01-05T10:00:00.020Z\",\"escalatedBy\":\"u-admin\",\"reason\":null}");

  expect_conflict(escalate_alert(top, policy, "system", "timeout", t0 + 30),
                  "Alert already at maximum escalation tier");
}

TEST(EscalateAlert, ShortPoliciesStopEarlier) {
  escalation_policy two;
  two.tiers = {{"nurse", 1000}, {"doctor", std::nullopt}};
  alert a = created(two);
  EXPECT_EQ(a.next_escalation_at, t0 + 1000);
  const transition& t = ok(escalate_alert(a, two, "system", "timeout", t0 + 1000));
  EXPECT_EQ(t.next.escalation_level, 2);
  EXPECT_EQ(t.next.next_escalation_at, std::nullopt);
  expect_conflict(escalate_alert(t.next, two, "system", "timeout", t0 + 2000),
                  "Alert already at maximum escalation tier");

  escalation_policy one;
  one.tiers = {{"head_doctor", std::nullopt}};
  expect_conflict(escalate_alert(created(one), one, "u-head-1", std::nullopt, t0 + 1),
                  "Alert already at maximum escalation tier");
}

TEST(EscalateAlert, TierBeyondAShrunkPolicyIsAtTheMaximum) {
  alert a = created();
  a.escalation_level = 3;
  escalation_policy two;
  two.tiers = {{"nurse", 1000}, {"doctor", std::nullopt}};
  expect_conflict(escalate_alert(a, two, "system", "timeout", t0 + 1),
                  "Alert already at maximum escalation tier");
}

TEST(EscalateAlert, OnlyActiveAlertsEscalate) {
  expect_conflict(escalate_alert(acknowledged_by(nurse), escalation_policy{}, "system", "timeout",
                                 t0 + 200000),
                  "Only active alerts can be escalated");
  expect_conflict(escalate_alert(resolved(), escalation_policy{}, "u-head-1", std::nullopt,
                                 t0 + 200000),
                  "Only active alerts can be escalated");
  // State before tier: an acknowledged alert at the last tier reports the state.
  alert a = acknowledged_by(nurse);
  a.escalation_level = 3;
  expect_conflict(escalate_alert(a, escalation_policy{}, "system", "timeout", t0 + 1),
                  "Only active alerts can be escalated");
}

// ---- updateAlert --------------------------------------------------------------------------------

TEST(UpdateAlert, DescriptionOnlyLeavesTheScheduleAlone) {
  alert before = created();
  int64_t now = t0 + 30000;
  const transition& t = ok(update_alert(
      before, input(procedure::update_alert, alert_input("\"description\":\"Unresponsive\"")), doctor,
      now));
  EXPECT_EQ(t.next.description, "Unresponsive");
  EXPECT_EQ(t.next.urgency_level, 1);
  EXPECT_EQ(t.next.status, alert_status::active);
  EXPECT_EQ(t.next.next_escalation_at, before.next_escalation_at);
  EXPECT_EQ(t.next.escalation_level, 1);
  EXPECT_EQ(t.next.updated_at, now);
  EXPECT_EQ(t.event.type, "alert.updated");
  EXPECT_EQ(t.event.timestamp, now);
  EXPECT_EQ(text(t.event.data),
            "{\"description\":\"Unresponsive\",\"updatedBy\":\"u-doctor-2\",\"updatedAt\":"
            "\"2026-01-05T10:00:30.000Z\"}");
  EXPECT_TRUE(t.event.data.find("updatedAt")->is_date());
}

TEST(UpdateAlert, UrgencyOnlyAndBoth) {
  const transition& t = ok(update_alert(
      created(), input(procedure::update_alert, alert_input("\"urgencyLevel\":4")), op, t0 + 1));
  EXPECT_EQ(t.next.urgency_level, 4);
  EXPECT_EQ(t.next.description, "Patient collapsed");
  EXPECT_EQ(t.event.urgency_level, 4);
  EXPECT_EQ(text(t.event.data),
            "{\"urgencyLevel\":4,\"updatedBy\":\"u-op-3\",\"updatedAt\":"
            "\"2026-01-05T10:00:00.001Z\"}");

  const transition& both = ok(update_alert(
      created(),
      input(procedure::update_alert, alert_input("\"urgencyLevel\":2,\"description\":\"\"")), op,
      t0 + 2));
  EXPECT_EQ(both.next.urgency_level, 2);
  EXPECT_EQ(both.next.description, "");
  EXPECT_EQ(text(both.event.data),
            "{\"description\":\"\",\"urgencyLevel\":2,\"updatedBy\":\"u-op-3\",\"updatedAt\":"
            "\"2026-01-05T10:00:00.002Z\"}");
}

TEST(UpdateAlert, AllowedWhileAcknowledgedNotWhenResolved) {
  alert ack = acknowledged_by(nurse);
  const transition& t = ok(update_alert(
      ack, input(procedure::update_alert, alert_input("\"urgencyLevel\":3")), nurse, t0 + 90000));
  EXPECT_EQ(t.next.status, alert_status::acknowledged);
  EXPECT_EQ(t.next.urgency_level, 3);
  EXPECT_EQ(t.next.acknowledged_by, "u-nurse-7");
  EXPECT_EQ(t.next.next_escalation_at, std::nullopt);
  expect_conflict(update_alert(resolved(),
                               input(procedure::update_alert, alert_input("\"urgencyLevel\":3")),
                               nurse, t0 + 900000),
                  "Resolved alerts cannot be updated");
}

// ---- transferAlert ------------------------------------------------------------------------------

json::value transfer_input() {
  return input(procedure::transfer_alert,
               alert_input("\"toUserId\":\"u-doctor-2\",\"reason\":\"Shift handover\""));
}

TEST(TransferAlert, TheAcknowledgerHandsOver) {
  alert before = acknowledged_by(nurse);
  int64_t now = t0 + 600000;
  const transition& t = ok(transfer_alert(before, transfer_input(), nurse, now));
  EXPECT_EQ(t.next.status, alert_status::acknowledged);
  EXPECT_EQ(t.next.acknowledged_by, "u-doctor-2");
  EXPECT_EQ(t.next.acknowledged_at, before.acknowledged_at);
  EXPECT_EQ(t.next.updated_at, now);
  EXPECT_EQ(t.event.type, "alert.updated");
  EXPECT_EQ(t.event.timestamp, now);
  EXPECT_EQ(text(t.event.data),
            "{\"acknowledgedBy\":\"u-doctor-2\",\"transferredFrom\":\"u-nurse-7\",\"reason\":"
            "\"Shift handover\",\"updatedBy\":\"u-nurse-7\",\"updatedAt\":"
            "\"2026-01-05T10:10:00.000Z\"}");
}

TEST(TransferAlert, HeadDoctorAndAdminMayTransferAnyAlert) {
  for (const identity* who : {&head, &admin}) {
    const transition& t = ok(transfer_alert(acknowledged_by(nurse), transfer_input(), *who, t0 + 1));
    EXPECT_EQ(t.next.acknowledged_by, "u-doctor-2");
    EXPECT_EQ(t.event.data.find("transferredFrom")->as_string(), "u-nurse-7");
    EXPECT_EQ(t.event.data.find("updatedBy")->as_string(), who->sub);
  }
}

TEST(TransferAlert, OthersAreForbidden) {
  for (const identity* who : {&other_nurse, &doctor})
    expect_error(transfer_alert(acknowledged_by(nurse), transfer_input(), *who, t0 + 1),
                 trpc_code::forbidden, "You can only transfer alerts you have acknowledged");
  // The new acknowledger owns it after a transfer; the old one no longer does.
  alert moved = ok(transfer_alert(acknowledged_by(nurse), transfer_input(), nurse, t0 + 1)).next;
  ok(transfer_alert(moved, transfer_input(), doctor, t0 + 2));
  expect_error(transfer_alert(moved, transfer_input(), nurse, t0 + 2), trpc_code::forbidden,
               "You can only transfer alerts you have acknowledged");
}

TEST(TransferAlert, OnlyAcknowledgedAlertsCanBeTransferred) {
  // The state is checked before ownership: nobody owns an unacknowledged alert.
  for (const identity* who : {&nurse, &other_nurse, &admin}) {
    expect_conflict(transfer_alert(created(), transfer_input(), *who, t0 + 1),
                    "Only acknowledged alerts can be transferred");
    expect_conflict(transfer_alert(resolved(), transfer_input(), *who, t0 + 900000),
                    "Only acknowledged alerts can be transferred");
  }
}

// ---- full lifecycle -----------------------------------------------------------------------------

TEST(Lifecycle, EveryTransitionStampsUpdatedAtAndTheEvent) {
  escalation_policy policy;
  transition c = create_alert(create_input(), op, t0, policy, alert_id);
  alert a = c.next;
  int64_t now = t0;
  auto step = [&](const transition_result& r, const char* type) {
    const transition& t = ok(r);
    EXPECT_EQ(t.next.updated_at, now) << type;
    EXPECT_EQ(t.event.timestamp, now) << type;
    EXPECT_EQ(t.event.type, type);
    EXPECT_EQ(t.event.alert_id, alert_id);
    EXPECT_EQ(t.event.hospital_id, hospital);
    EXPECT_EQ(t.event.alert_type, "cardiac_arrest");
    EXPECT_EQ(t.event.urgency_level, t.next.urgency_level);
    a = t.next;
  };
  now += 1000;
  step(escalate_alert(a, policy, "system", "timeout", now), "alert.escalated");
  now += 1000;
  step(update_alert(a, input(procedure::update_alert, alert_input("\"urgencyLevel\":3")), op, now),
       "alert.updated");
  now += 1000;
  step(acknowledge_alert(a, input(procedure::acknowledge_alert,
                                  alert_input("\"urgencyAssessment\":\"increase\"")),
                         nurse, now),
       "alert.acknowledged");
  EXPECT_EQ(a.urgency_level, 2);
  now += 1000;
  step(transfer_alert(a, transfer_input(), nurse, now), "alert.updated");
  now += 1000;
  step(resolve_alert(a, input(procedure::resolve_alert, alert_input("\"resolution\":\"All good now\"")),
                     doctor, now),
       "alert.resolved");
  EXPECT_EQ(a.status, alert_status::resolved);
  EXPECT_EQ(a.created_at, t0);
  EXPECT_EQ(a.escalations.size(), 1u);
}

// ---- JSON round trip ----------------------------------------------------------------------------

alert full_alert() {
  alert a;
  a.id = alert_id;
  a.hospital_id = hospital;
  a.room_number = "ICU-1";
  a.alert_type = "code_blue";
  a.urgency_level = 2;
  a.description = "Patient \"collapsed\" \u00e9\n";
  a.status = alert_status::resolved;
  a.escalation_level = 3;
  a.next_escalation_at = std::nullopt;
  a.target_department = "icu";
  a.patient_id = "p-17";
  a.created_by = "u-op-3";
  a.created_at = t0;
  a.updated_at = t0 + 900123;
  a.acknowledged_by = "u-doctor-2";
  a.acknowledged_at = t0 + 400000;
  a.acknowledgement_notes = "On my way";
  a.resolved_by = "u-doctor-2";
  a.resolved_at = t0 + 900123;
  a.resolution = "Stabilised, moved to CCU";
  a.escalations = {{1, 2, "doctor", t0 + 120000, "system", std::string("timeout")},
                   {2, 3, "head_doctor", t0 + 150500, "u-head-1", std::nullopt}};
  return a;
}

void expect_same(const alert& x, const alert& y) {
  EXPECT_EQ(text(to_json(x, true)), text(to_json(y, true)));
  EXPECT_EQ(x.id, y.id);
  EXPECT_EQ(x.status, y.status);
  EXPECT_EQ(x.next_escalation_at, y.next_escalation_at);
  EXPECT_EQ(x.acknowledged_at, y.acknowledged_at);
  EXPECT_EQ(x.resolved_at, y.resolved_at);
  ASSERT_EQ(x.escalations.size(), y.escalations.size());
  for (size_t i = 0; i < x.escalations.size(); ++i) {
    EXPECT_EQ(x.escalations[i].from_tier, y.escalations[i].from_tier);
    EXPECT_EQ(x.escalations[i].to_tier, y.escalations[i].to_tier);
    EXPECT_EQ(x.escalations[i].to_role, y.escalations[i].to_role);
    EXPECT_EQ(x.escalations[i].escalated_at, y.escalations[i].escalated_at);
    EXPECT_EQ(x.escalations[i].escalated_by, y.escalations[i].escalated_by);
    EXPECT_EQ(x.escalations[i].reason, y.escalations[i].reason);
  }
}

TEST(AlertJson, WithEscalationsPutsThemLast) {
  EXPECT_EQ(text(to_json(full_alert(), true)),
            "{\"id\":\"b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b\",\"hospitalId\":"
            "\"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f\",\"roomNumber\":\"ICU-1\",\"alertType\":"
            "\"code_blue\",\"urgencyLevel\":2,\"description\":\"Patient \\\"collapsed\\\" \u00e9\\n\","
            "\"status\":\"resolved\",\"escalationLevel\":3,\"currentEscalationTier\":3,"
            "\"nextEscalationAt\":null,\"targetDepartment\":\"icu\",\"patientId\":\"p-17\","
            "\"createdBy\":\"u-op-3\",\"createdAt\":\"2026-01-05T10:00:00.000Z\",\"updatedAt\":"
            "\"2026-01-05T10:15:00.123Z\",\"acknowledgedBy\":\"u-doctor-2\",\"acknowledgedAt\":"
            "\"2026-01-05T10:06:40.000Z\",\"acknowledgementNotes\":\"On my way\",\"resolvedBy\":"
            "\"u-doctor-2\",\"resolvedAt\":\"2026-01-05T10:15:00.123Z\",\"resolution\":"
            "\"Stabilised, moved to CCU\",\"escalations\":[{\"fromTier\":1,\"toTier\":2,\"toRole\":"
            "\"doctor\",\"escalatedAt\":\"2026-01-05T10:02:00.000Z\",\"escalatedBy\":\"system\","
            "\"reason\":\"timeout\"},{\"fromTier\":2,\"toTier\":3,\"toRole\":\"head_doctor\","
            "\"escalatedAt\":\"2026-01-05T10:02:30.500Z\",\"escalatedBy\":\"u-head-1\",\"reason\":"
            "null}],\"receipts\":[],\"seenBy\":{},\"attendedTier\":0}");
  json::value v = to_json(full_alert(), true);
  EXPECT_TRUE(v.find("escalations")->as_array()[0].find("escalatedAt")->is_date());
  EXPECT_TRUE(v.find("resolvedAt")->is_date());
  EXPECT_TRUE(v.find("acknowledgedAt")->is_date());
}

TEST(AlertJson, RoundTripsInMemory) {
  alert a = full_alert();
  auto back = alert_from_json(to_json(a, true));
  ASSERT_TRUE(back.has_value());
  expect_same(a, *back);
}

TEST(AlertJson, RoundTripsThroughText) {
  // Storage writes plain JSON text: dates come back as unflagged ISO strings.
  alert a = full_alert();
  auto back = alert_from_json(parse_json(text(to_json(a, true))));
  ASSERT_TRUE(back.has_value());
  expect_same(a, *back);
  EXPECT_TRUE(to_json(*back, true).find("createdAt")->is_date());
}

TEST(AlertJson, RoundTripsAFreshAlertWithNulls) {
  alert a = created();
  auto back = alert_from_json(parse_json(text(to_json(a, true))));
  ASSERT_TRUE(back.has_value());
  expect_same(a, *back);
  EXPECT_EQ(back->patient_id, std::nullopt);
  EXPECT_EQ(back->next_escalation_at, t0 + 120000);
}

TEST(AlertJson, EscalationsKeyIsOptional) {
  auto back = alert_from_json(to_json(created()));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->escalations.empty());
  json::value v = to_json(created(), true);
  v.set("escalations", nullptr);
  EXPECT_TRUE(alert_from_json(v).has_value());
}

TEST(AlertJson, MissingOrMistypedRequiredKeysAreRejected) {
  for (const char* key : {"id", "hospitalId", "roomNumber", "alertType", "urgencyLevel", "status",
                          "escalationLevel", "createdBy", "createdAt", "updatedAt"}) {
    json::value v = to_json(full_alert(), true);
    ASSERT_TRUE(v.erase(key)) << key;
    EXPECT_FALSE(alert_from_json(v).has_value()) << "without " << key;
    v = to_json(full_alert(), true);
    v.set(key, json::value::make_array());
    EXPECT_FALSE(alert_from_json(v).has_value()) << "array " << key;
  }
  json::value v = to_json(full_alert(), true);
  v.set("status", "open");
  EXPECT_FALSE(alert_from_json(v).has_value());
  v = to_json(full_alert(), true);
  v.set("createdAt", "not a time");
  EXPECT_FALSE(alert_from_json(v).has_value());
  v = to_json(full_alert(), true);
  v.set("urgencyLevel", 1.5);
  EXPECT_FALSE(alert_from_json(v).has_value());
  v = to_json(full_alert(), true);
  v.set("description", 5);
  EXPECT_FALSE(alert_from_json(v).has_value());
  v = to_json(full_alert(), true);
  v.set("escalations", "none");
  EXPECT_FALSE(alert_from_json(v).has_value());
  v = to_json(full_alert(), true);
  v.find("escalations")->as_array()[1].erase("toRole");
  EXPECT_FALSE(alert_from_json(v).has_value());
  EXPECT_FALSE(alert_from_json(json::value("x")).has_value());
  EXPECT_FALSE(alert_from_json(json::value()).has_value());
}

TEST(AlertJson, OptionalKeysMayBeMissing) {
  json::value v = to_json(created(), true);
  for (const char* key : {"description", "nextEscalationAt", "targetDepartment", "patientId",
                          "acknowledgedBy", "acknowledgedAt", "acknowledgementNotes", "resolvedBy",
                          "resolvedAt", "resolution", "currentEscalationTier"})
    v.erase(key);
  auto back = alert_from_json(v);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->description, std::nullopt);
  EXPECT_EQ(back->next_escalation_at, std::nullopt);
}

// ---- events -------------------------------------------------------------------------------------

TEST(AlertEventJson, FlatEnvelope) {
  alert_event e;
  e.seq = 1043;
  e.id = "k3x9q2ab-1043";
  e.type = "alert.resolved";
  e.alert_id = alert_id;
  e.hospital_id = hospital;
  e.timestamp = t0;
  e.data = parse_json("{\"resolvedBy\":\"u\",\"resolution\":\"done and dusted\"}");
  e.urgency_level = 2;
  e.alert_type = "fire";
  json::value v = to_json(e);
  EXPECT_EQ(text(v),
            "{\"id\":\"k3x9q2ab-1043\",\"type\":\"alert.resolved\",\"alertId\":"
            "\"b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b\",\"hospitalId\":"
            "\"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f\",\"timestamp\":\"2026-01-05T10:00:00.000Z\","
            "\"data\":{\"resolvedBy\":\"u\",\"resolution\":\"done and dusted\"}}");
  EXPECT_TRUE(v.find("timestamp")->is_date());
}

TEST(AlertEventJson, NestedDatesStayFlagged) {
  transition t = create_alert(create_input(), op, t0, escalation_policy{}, alert_id);
  json::value v = to_json(t.event);
  EXPECT_TRUE(v.find("data")->find("createdAt")->is_date());
  EXPECT_EQ(v.find("type")->as_string(), "alert.created");
}

// ---- ids ----------------------------------------------------------------------------------------

TEST(MakeUuidV4, LowercaseVersion4Variant10AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string id = make_uuid_v4();
    ASSERT_TRUE(valid_uuid(id)) << id;
    for (char c : id) EXPECT_FALSE(c >= 'A' && c <= 'Z') << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

} // namespace
} // namespace vigil

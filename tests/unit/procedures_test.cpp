// Procedure table and input validation (docs/api.md "Authorization and tenancy",
// "Input validation", "Mutations", "Queries", "Subscriptions").

#include "domain/procedures.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "domain/time.hpp"

namespace vigil {
namespace {

const char* const hospital = "6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f";
const char* const alert_id = "b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b";

json::value parse_json(std::string_view text) {
  std::string error;
  auto v = json::parse(text, &error);
  EXPECT_TRUE(v.has_value()) << "bad test JSON: " << error << " in " << text;
  return v ? *v : json::value();
}

/// The normalised input; fails the test when validation fails.
json::value valid(procedure p, std::string_view text) {
  json::value in = parse_json(text);
  auto r = validate_input(p, &in);
  if (auto* err = std::get_if<call_error>(&r)) {
    ADD_FAILURE() << "unexpected error: " << err->message << " for " << text;
    return json::value();
  }
  return std::get<json::value>(r);
}

/// Plain JSON text of the normalised input (checks key order and dropped keys exactly).
std::string valid_text(procedure p, std::string_view text) {
  return json::to_string(valid(p, text));
}

/// The BAD_REQUEST message; fails the test when validation succeeds.
std::string invalid(procedure p, std::string_view text) {
  json::value in = parse_json(text);
  auto r = validate_input(p, &in);
  if (!std::holds_alternative<call_error>(r)) {
    ADD_FAILURE() << "expected an error for " << text << ", got "
                  << json::to_string(std::get<json::value>(r));
    return "";
  }
  const auto& err = std::get<call_error>(r);
  EXPECT_EQ(err.code, trpc_code::bad_request);
  return err.message;
}

std::string repeat(std::string_view unit, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

std::string quoted(const std::string& s) {
  std::string out;
  json::write_string(out, s);
  return out;
}

/// `{"hospitalId":"…",<rest>}` for hospital-scoped procedures.
std::string with_hospital(const std::string& rest = "") {
  return std::string("{\"hospitalId\":\"") + hospital + "\"" + (rest.empty() ? "" : "," + rest) +
         "}";
}

/// `{"alertId":"…",<rest>}` for alert-scoped procedures.
std::string with_alert(const std::string& rest = "") {
  return std::string("{\"alertId\":\"") + alert_id + "\"" + (rest.empty() ? "" : "," + rest) + "}";
}

std::string create_input(const std::string& extra = "") {
  return with_hospital(
      "\"roomNumber\":\"ICU-1\",\"alertType\":\"cardiac_arrest\",\"urgencyLevel\":1" +
      (extra.empty() ? "" : "," + extra));
}

const std::string alert_type_choices =
    "'cardiac_arrest' | 'code_blue' | 'fire' | 'security' | 'medical_emergency'";

// ---- procedure table ----------------------------------------------------------------------------

struct table_row {
  procedure id;
  const char* path;
  proc_kind kind;
  permission perm;
  proc_scope scope;
};

const table_row expected_table[] = {
  {procedure::create_alert, "healthcare.createAlert", proc_kind::mutation, permission::create,
   proc_scope::hospital},
  {procedure::acknowledge_alert, "healthcare.acknowledgeAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::resolve_alert, "healthcare.resolveAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::trigger_escalation, "healthcare.triggerEscalation", proc_kind::mutation,
   permission::escalate, proc_scope::alert},
  {procedure::update_alert, "healthcare.updateAlert", proc_kind::mutation, permission::update,
   proc_scope::alert},
  {procedure::transfer_alert, "healthcare.transferAlert", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert},
  {procedure::batch_acknowledge_alerts, "healthcare.batchAcknowledgeAlerts", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert_list},
  {procedure::batch_resolve_alerts, "healthcare.batchResolveAlerts", proc_kind::mutation,
   permission::acknowledge, proc_scope::alert_list},
  {procedure::confirm_delivery, "healthcare.confirmDelivery", proc_kind::mutation,
   permission::view, proc_scope::hospital},
  {procedure::get_active_alerts, "healthcare.getActiveAlerts", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::get_alert, "healthcare.getAlert", proc_kind::query, permission::view,
   proc_scope::alert},
  {procedure::get_metrics, "healthcare.getMetrics", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::get_escalation_status, "healthcare.getEscalationStatus", proc_kind::query,
   permission::view, proc_scope::alert},
  {procedure::get_active_escalations, "healthcare.getActiveEscalations", proc_kind::query,
   permission::view, proc_scope::hospital},
  {procedure::get_alert_timeline, "healthcare.getAlertTimeline", proc_kind::query,
   permission::view, proc_scope::alert},
  {procedure::get_alert_history, "healthcare.getAlertHistory", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::get_alert_stats, "healthcare.getAlertStats", proc_kind::query, permission::view,
   proc_scope::hospital},
  {procedure::subscribe_to_alerts, "healthcare.subscribeToAlerts", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::subscribe_to_alert, "healthcare.subscribeToAlert", proc_kind::subscription,
   permission::view, proc_scope::alert},
  {procedure::subscribe_to_metrics, "healthcare.subscribeToMetrics", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::subscribe_to_presence, "healthcare.subscribeToPresence", proc_kind::subscription,
   permission::view, proc_scope::hospital},
  {procedure::get_audit_log, "healthcare.getAuditLog", proc_kind::query, permission::view_audit,
   proc_scope::hospital},
};

TEST(ProcedureTable, EveryProcedureHasItsPathKindPermissionAndScope) {
  std::set<procedure> seen;
  for (const auto& row : expected_table) {
    const procedure_info* info = find_procedure(row.path);
    ASSERT_NE(info, nullptr) << row.path;
    EXPECT_EQ(info->id, row.id) << row.path;
    EXPECT_STREQ(info->path, row.path);
    EXPECT_EQ(info->kind, row.kind) << row.path;
    EXPECT_EQ(info->perm, row.perm) << row.path;
    EXPECT_EQ(info->scope, row.scope) << row.path;
    seen.insert(row.id);
  }
  EXPECT_EQ(seen.size(), 22u);
}

TEST(ValidateInput, ConfirmDeliveryTakes1To100EventIds) {
  auto v = valid(procedure::confirm_delivery,
                 R"({"hospitalId":"icu-west","eventIds":["0rf49d19-1","0rf49d19-22"],"x":1})");
  EXPECT_EQ(json::to_string(v), R"({"hospitalId":"icu-west","eventIds":["0rf49d19-1","0rf49d19-22"]})");
  EXPECT_EQ(invalid(procedure::confirm_delivery, R"({"hospitalId":"icu-west","eventIds":[]})"),
            "Invalid input: eventIds: Array must contain at least 1 element(s)");
  EXPECT_EQ(invalid(procedure::confirm_delivery,
                    R"({"hospitalId":"icu-west","eventIds":["0rf49d19-1","abc","ABCDEFGH-1",5]})"),
            "Invalid input: eventIds.1: Invalid event id; eventIds.2: Invalid event id; "
            "eventIds.3: Expected string, received number");
  std::string many = R"({"hospitalId":"icu-west","eventIds":[)";
  for (int i = 0; i < 101; ++i)
    many += (i ? ",\"" : "\"") + std::string("0rf49d19-") + std::to_string(i + 1) + "\"";
  many += "]}";
  EXPECT_EQ(invalid(procedure::confirm_delivery, many),
            "Invalid input: eventIds: Array must contain at most 100 element(s)");
  EXPECT_EQ(invalid(procedure::confirm_delivery, R"({"eventIds":["0rf49d19-1"]})"),
            "Invalid input: hospitalId: Required");
}

TEST(ProcedureTable, UnknownPathsAreNotFound) {
  EXPECT_EQ(find_procedure(""), nullptr);
  EXPECT_EQ(find_procedure("getAlert"), nullptr);
  EXPECT_EQ(find_procedure("healthcare.getalert"), nullptr);
  EXPECT_EQ(find_procedure("healthcare.getAlert "), nullptr);
  EXPECT_EQ(find_procedure("healthcare.getAlertById"), nullptr);
  EXPECT_EQ(find_procedure("healthcare.bulkAcknowledgeAlerts"), nullptr);
  EXPECT_EQ(find_procedure("healthcare."), nullptr);
  EXPECT_EQ(find_procedure("other.getAlert"), nullptr);
}

// ---- scalar validators --------------------------------------------------------------------------

TEST(ValidHospitalId, AcceptsTheDocumentedAlphabetUpTo64) {
  EXPECT_TRUE(valid_hospital_id(hospital));
  EXPECT_TRUE(valid_hospital_id("h"));
  EXPECT_TRUE(valid_hospital_id("Hosp_1.north:ward-3"));
  EXPECT_TRUE(valid_hospital_id(std::string(64, 'a')));
  EXPECT_FALSE(valid_hospital_id(""));
  EXPECT_FALSE(valid_hospital_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_hospital_id("has space"));
  EXPECT_FALSE(valid_hospital_id("slash/x"));
  EXPECT_FALSE(valid_hospital_id("ümlaut"));
  EXPECT_FALSE(valid_hospital_id(std::string_view("a\0b", 3)));
}

TEST(ValidUuid, Accepts8_4_4_4_12HexOfAnyCase) {
  EXPECT_TRUE(valid_uuid(alert_id));
  EXPECT_TRUE(valid_uuid("B5E05C3C-8F1A-4D2E-9C3B-7A6F5E4D3C2B"));
  EXPECT_TRUE(valid_uuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_FALSE(valid_uuid(""));
  EXPECT_FALSE(valid_uuid("b5e05c3c8f1a4d2e9c3b7a6f5e4d3c2b"));
  EXPECT_FALSE(valid_uuid("b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2"));
  EXPECT_FALSE(valid_uuid("b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2bb"));
  EXPECT_FALSE(valid_uuid("g5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b"));
  EXPECT_FALSE(valid_uuid("b5e05c3c-8f1a-4d2e-9c3b_7a6f5e4d3c2b"));
  EXPECT_FALSE(valid_uuid("b5e05c3-c8f1a-4d2e-9c3b-7a6f5e4d3c2b"));
}

// ---- the input as a whole -----------------------------------------------------------------------

TEST(ValidateInput, NoInputIsRequired) {
  for (const auto& row : expected_table) {
    auto r = validate_input(row.id, nullptr);
    ASSERT_TRUE(std::holds_alternative<call_error>(r)) << row.path;
    EXPECT_EQ(std::get<call_error>(r).code, trpc_code::bad_request);
    EXPECT_EQ(std::get<call_error>(r).message, "Invalid input: input: Required") << row.path;
  }
}

TEST(ValidateInput, NullInputCountsAsNoInput) {
  EXPECT_EQ(invalid(procedure::get_alert, "null"), "Invalid input: input: Required");
}

TEST(ValidateInput, NonObjectInputNamesItsType) {
  EXPECT_EQ(invalid(procedure::get_alert, "[]"),
            "Invalid input: input: Expected object, received array");
  EXPECT_EQ(invalid(procedure::get_metrics, "\"h1\""),
            "Invalid input: input: Expected object, received string");
  EXPECT_EQ(invalid(procedure::create_alert, "3"),
            "Invalid input: input: Expected object, received number");
  EXPECT_EQ(invalid(procedure::create_alert, "true"),
            "Invalid input: input: Expected object, received boolean");
}

TEST(ValidateInput, EmptyObjectNamesEveryRequiredField) {
  EXPECT_EQ(invalid(procedure::create_alert, "{}"),
            "Invalid input: hospitalId: Required; roomNumber: Required; alertType: Required; "
            "urgencyLevel: Required");
  EXPECT_EQ(invalid(procedure::get_alert, "{}"), "Invalid input: alertId: Required");
  EXPECT_EQ(invalid(procedure::get_metrics, "{}"), "Invalid input: hospitalId: Required");
}

// Every single-scope query and subscription: minimal input accepted, the scope key checked.
TEST(ValidateInput, AlertScopedQueriesNeedAUuid) {
  for (procedure p : {procedure::get_alert, procedure::get_escalation_status,
                      procedure::get_alert_timeline}) {
    EXPECT_EQ(valid_text(p, with_alert("\"extra\":1")),
              std::string("{\"alertId\":\"") + alert_id + "\"}");
    EXPECT_EQ(invalid(p, "{\"alertId\":\"nope\"}"), "Invalid input: alertId: Invalid uuid");
    EXPECT_EQ(invalid(p, "{\"alertId\":7}"),
              "Invalid input: alertId: Expected string, received number");
    EXPECT_EQ(invalid(p, "{\"alertId\":null}"),
              "Invalid input: alertId: Expected string, received null");
  }
}

TEST(ValidateInput, HospitalScopedQueriesNeedAHospitalId) {
  for (procedure p : {procedure::get_metrics, procedure::get_active_escalations,
                      procedure::get_alert_stats, procedure::subscribe_to_presence}) {
    EXPECT_EQ(valid_text(p, with_hospital("\"extra\":1")),
              std::string("{\"hospitalId\":\"") + hospital + "\"}");
    EXPECT_EQ(invalid(p, "{\"hospitalId\":\"bad id\"}"),
              "Invalid input: hospitalId: Invalid hospital id");
    EXPECT_EQ(invalid(p, "{\"hospitalId\":\"\"}"), "Invalid input: hospitalId: Invalid hospital id");
    EXPECT_EQ(invalid(p, "{\"hospitalId\":" + quoted(std::string(65, 'h')) + "}"),
              "Invalid input: hospitalId: Invalid hospital id");
    EXPECT_EQ(invalid(p, "{\"hospitalId\":[\"h\"]}"),
              "Invalid input: hospitalId: Expected string, received array");
  }
}

TEST(ValidateInput, GetMetricsIgnoresTimeRangeAndDepartment) {
  EXPECT_EQ(valid_text(procedure::get_metrics,
                       with_hospital("\"timeRange\":\"24h\",\"department\":\"icu\"")),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
}

// ---- createAlert --------------------------------------------------------------------------------

TEST(CreateAlertInput, MinimalInputPassesUnchanged) {
  EXPECT_EQ(valid_text(procedure::create_alert, create_input()),
            std::string("{\"hospitalId\":\"") + hospital +
                "\",\"roomNumber\":\"ICU-1\",\"alertType\":\"cardiac_arrest\",\"urgencyLevel\":1}");
}

TEST(CreateAlertInput, FullInputKeepsEveryKnownFieldInTableOrder) {
  std::string in = std::string("{\"idempotencyKey\":\"monitor-7\",\"patientId\":\"p-1\",") +
                   "\"targetDepartment\":\"icu\",\"description\":\"Patient collapsed\"," +
                   "\"urgencyLevel\":2,\"alertType\":\"fire\",\"roomNumber\":\"302\"," +
                   "\"hospitalId\":\"h-1\",\"bogus\":{\"x\":1}}";
  EXPECT_EQ(valid_text(procedure::create_alert, in),
            "{\"hospitalId\":\"h-1\",\"roomNumber\":\"302\",\"alertType\":\"fire\","
            "\"urgencyLevel\":2,\"description\":\"Patient collapsed\",\"targetDepartment\":\"icu\","
            "\"patientId\":\"p-1\",\"idempotencyKey\":\"monitor-7\"}");
}

TEST(CreateAlertInput, EveryAlertTypeIsAccepted) {
  for (const char* t : {"cardiac_arrest", "code_blue", "fire", "security", "medical_emergency"}) {
    json::value out = valid(procedure::create_alert,
                            with_hospital(std::string("\"roomNumber\":\"1\",\"alertType\":\"") + t +
                                          "\",\"urgencyLevel\":3"));
    EXPECT_EQ(out.find("alertType")->as_string(), t);
  }
}

TEST(CreateAlertInput, RoomNumberIsUpperCased) {
  json::value out = valid(procedure::create_alert,
                          with_hospital("\"roomNumber\":\"icu-1b\",\"alertType\":\"fire\","
                                        "\"urgencyLevel\":3"));
  EXPECT_EQ(out.find("roomNumber")->as_string(), "ICU-1B");
  out = valid(procedure::create_alert,
              with_hospital("\"roomNumber\":\"IcU\",\"alertType\":\"fire\",\"urgencyLevel\":3"));
  EXPECT_EQ(out.find("roomNumber")->as_string(), "ICU");
}

TEST(CreateAlertInput, RoomNumberFormats) {
  auto room = [](const std::string& r) {
    return with_hospital("\"roomNumber\":" + r + ",\"alertType\":\"fire\",\"urgencyLevel\":3");
  };
  for (const char* ok : {"\"1\"", "\"ABCD\"", "\"A-1\"", "\"ABCD-123\"", "\"9999-ZZZ\"", "\"a-b\""})
    valid(procedure::create_alert, room(ok));
  const std::string format = "Invalid input: roomNumber: Invalid room number format";
  for (const char* bad : {"\"ABCDE\"", "\"ABCD-1234\"", "\"A-\"", "\"-1\"", "\"A B\"",
                          "\"A--1\"", "\"A-1-2\"", "\"ICU_1\"", "\"Ä1\"", "\"ABCD-EFGHI\""})
    EXPECT_EQ(invalid(procedure::create_alert, room(bad)), format) << bad;
  EXPECT_EQ(invalid(procedure::create_alert, room("\"\"")),
            "Invalid input: roomNumber: String must contain at least 1 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, room("\"ABCDEFGHIJK\"")),
            "Invalid input: roomNumber: String must contain at most 10 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, room("302")),
            "Invalid input: roomNumber: Expected string, received number");
}

TEST(CreateAlertInput, AlertTypeMustBeKnown) {
  EXPECT_EQ(invalid(procedure::create_alert,
                    with_hospital("\"roomNumber\":\"1\",\"alertType\":\"flood\",\"urgencyLevel\":3")),
            "Invalid input: alertType: Invalid enum value. Expected " + alert_type_choices +
                ", received 'flood'");
  EXPECT_EQ(invalid(procedure::create_alert,
                    with_hospital("\"roomNumber\":\"1\",\"alertType\":2,\"urgencyLevel\":3")),
            "Invalid input: alertType: Expected " + alert_type_choices + ", received number");
  EXPECT_EQ(invalid(procedure::create_alert,
                    with_hospital("\"roomNumber\":\"1\",\"alertType\":\"FIRE\",\"urgencyLevel\":3")),
            "Invalid input: alertType: Invalid enum value. Expected " + alert_type_choices +
                ", received 'FIRE'");
}

TEST(CreateAlertInput, UrgencyLevelIsAnInteger1To5) {
  auto urgency = [](const std::string& u) {
    return with_hospital("\"roomNumber\":\"1\",\"alertType\":\"fire\",\"urgencyLevel\":" + u);
  };
  for (int u = 1; u <= 5; ++u)
    EXPECT_EQ(valid(procedure::create_alert, urgency(std::to_string(u))).find("urgencyLevel")->as_int(),
              u);
  EXPECT_EQ(invalid(procedure::create_alert, urgency("0")),
            "Invalid input: urgencyLevel: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("-3")),
            "Invalid input: urgencyLevel: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("6")),
            "Invalid input: urgencyLevel: Number must be less than or equal to 5");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("1e300")),
            "Invalid input: urgencyLevel: Number must be less than or equal to 5");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("1.5")),
            "Invalid input: urgencyLevel: Expected integer, received float");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("0.5")),
            "Invalid input: urgencyLevel: Expected integer, received float");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("\"1\"")),
            "Invalid input: urgencyLevel: Expected number, received string");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("true")),
            "Invalid input: urgencyLevel: Expected number, received boolean");
  EXPECT_EQ(invalid(procedure::create_alert, urgency("null")),
            "Invalid input: urgencyLevel: Expected number, received null");
}

TEST(CreateAlertInput, WholeFloatsCountAsIntegers) {
  for (const char* u : {"2.0", "2e0", "0.2e1"}) {
    json::value out = valid(procedure::create_alert,
                            with_hospital(std::string("\"roomNumber\":\"1\",\"alertType\":\"fire\","
                                                      "\"urgencyLevel\":") + u));
    const json::value* level = out.find("urgencyLevel");
    ASSERT_NE(level, nullptr);
    EXPECT_TRUE(level->is_int()) << u;
    EXPECT_EQ(level->as_int(), 2) << u;
  }
}

TEST(CreateAlertInput, OptionalStringLengths) {
  EXPECT_EQ(valid(procedure::create_alert, create_input("\"description\":\"\""))
                .find("description")->as_string(),
            "");
  valid(procedure::create_alert, create_input("\"description\":" + quoted(std::string(500, 'd'))));
  EXPECT_EQ(invalid(procedure::create_alert,
                    create_input("\"description\":" + quoted(std::string(501, 'd')))),
            "Invalid input: description: String must contain at most 500 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, create_input("\"targetDepartment\":\"\"")),
            "Invalid input: targetDepartment: String must contain at least 1 character(s)");
  valid(procedure::create_alert,
        create_input("\"targetDepartment\":" + quoted(std::string(64, 't'))));
  EXPECT_EQ(invalid(procedure::create_alert,
                    create_input("\"targetDepartment\":" + quoted(std::string(65, 't')))),
            "Invalid input: targetDepartment: String must contain at most 64 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, create_input("\"patientId\":\"\"")),
            "Invalid input: patientId: String must contain at least 1 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert,
                    create_input("\"patientId\":" + quoted(std::string(65, 'p')))),
            "Invalid input: patientId: String must contain at most 64 character(s)");
  valid(procedure::create_alert, create_input("\"idempotencyKey\":" + quoted(std::string(100, 'k'))));
  EXPECT_EQ(invalid(procedure::create_alert,
                    create_input("\"idempotencyKey\":" + quoted(std::string(101, 'k')))),
            "Invalid input: idempotencyKey: String must contain at most 100 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, create_input("\"idempotencyKey\":\"\"")),
            "Invalid input: idempotencyKey: String must contain at least 1 character(s)");
  EXPECT_EQ(invalid(procedure::create_alert, create_input("\"description\":42")),
            "Invalid input: description: Expected string, received number");
  EXPECT_EQ(invalid(procedure::create_alert, create_input("\"patientId\":{}")),
            "Invalid input: patientId: Expected string, received object");
}

TEST(CreateAlertInput, LengthsCountCodePointsNotBytes) {
  // "é" is 2 bytes, "€" 3 bytes, "🚑" 4 bytes in UTF-8: each one character.
  for (const char* unit : {"é", "€", "🚑"}) {
    valid(procedure::create_alert, create_input("\"description\":" + quoted(repeat(unit, 500))));
    EXPECT_EQ(invalid(procedure::create_alert,
                      create_input("\"description\":" + quoted(repeat(unit, 501)))),
              "Invalid input: description: String must contain at most 500 character(s)")
        << unit;
    valid(procedure::create_alert, create_input("\"targetDepartment\":" + quoted(repeat(unit, 64))));
  }
  // Escaped in the JSON text: \u00e9 decodes to one code point.
  valid(procedure::create_alert,
        create_input("\"targetDepartment\":\"" + repeat("\\u00e9", 64) + "\""));
  EXPECT_EQ(invalid(procedure::create_alert,
                    create_input("\"targetDepartment\":\"" + repeat("\\u00e9", 65) + "\"")),
            "Invalid input: targetDepartment: String must contain at most 64 character(s)");
}

TEST(CreateAlertInput, NullOptionalFieldsAreAbsent) {
  EXPECT_EQ(valid_text(procedure::create_alert,
                       create_input("\"description\":null,\"targetDepartment\":null,"
                                    "\"patientId\":null,\"idempotencyKey\":null")),
            valid_text(procedure::create_alert, create_input()));
}

TEST(CreateAlertInput, NullRequiredFieldsNameNull) {
  EXPECT_EQ(invalid(procedure::create_alert,
                    "{\"hospitalId\":null,\"roomNumber\":null,\"alertType\":null,"
                    "\"urgencyLevel\":null}"),
            "Invalid input: hospitalId: Expected string, received null; roomNumber: Expected "
            "string, received null; alertType: Expected " +
                alert_type_choices + ", received null; urgencyLevel: Expected number, received null");
}

TEST(CreateAlertInput, EveryBadFieldIsNamedInTableOrder) {
  // Keys deliberately in another order than the table: issues follow the table.
  std::string in = "{\"idempotencyKey\":\"\",\"description\":7,\"urgencyLevel\":9,"
                   "\"alertType\":\"flood\",\"roomNumber\":\"x y\",\"hospitalId\":5}";
  EXPECT_EQ(invalid(procedure::create_alert, in),
            "Invalid input: hospitalId: Expected string, received number; roomNumber: Invalid "
            "room number format; alertType: Invalid enum value. Expected " +
                alert_type_choices +
                ", received 'flood'; urgencyLevel: Number must be less than or equal to 5; "
                "description: Expected string, received number; idempotencyKey: String must "
                "contain at least 1 character(s)");
}

TEST(CreateAlertInput, DateFlagIsDroppedFromFreeText) {
  json::value in = parse_json(create_input("\"description\":\"2026-01-05T10:00:00.000Z\""));
  in.find("description")->set_date_flag(true);
  auto r = validate_input(procedure::create_alert, &in);
  ASSERT_TRUE(std::holds_alternative<json::value>(r));
  const json::value* d = std::get<json::value>(r).find("description");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->is_string());
  EXPECT_FALSE(d->is_date());
}

// ---- acknowledgeAlert ---------------------------------------------------------------------------

TEST(AcknowledgeAlertInput, MinimalInputGetsTheMaintainDefault) {
  EXPECT_EQ(valid_text(procedure::acknowledge_alert, with_alert()),
            std::string("{\"alertId\":\"") + alert_id + "\",\"urgencyAssessment\":\"maintain\"}");
}

TEST(AcknowledgeAlertInput, UuidIsLowerCased) {
  EXPECT_EQ(valid(procedure::acknowledge_alert,
                  "{\"alertId\":\"B5E05C3C-8F1A-4D2E-9C3B-7A6F5E4D3C2B\"}")
                .find("alertId")->as_string(),
            alert_id);
}

TEST(AcknowledgeAlertInput, FullInput) {
  EXPECT_EQ(valid_text(procedure::acknowledge_alert,
                       with_alert("\"delegateTo\":\"u-doc-2\",\"estimatedResponseTime\":5,"
                                  "\"responseAction\":\"delegating\",\"urgencyAssessment\":"
                                  "\"increase\",\"notes\":\"On my way\",\"x\":null")),
            std::string("{\"alertId\":\"") + alert_id +
                "\",\"notes\":\"On my way\",\"urgencyAssessment\":\"increase\",\"responseAction\":"
                "\"delegating\",\"estimatedResponseTime\":5,\"delegateTo\":\"u-doc-2\"}");
}

TEST(AcknowledgeAlertInput, EnumsAreChecked) {
  for (const char* a : {"maintain", "increase", "decrease"})
    valid(procedure::acknowledge_alert, with_alert(std::string("\"urgencyAssessment\":\"") + a + "\""));
  for (const char* a : {"responding", "delayed", "monitoring"})
    valid(procedure::acknowledge_alert, with_alert(std::string("\"responseAction\":\"") + a + "\""));
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"urgencyAssessment\":\"raise\"")),
            "Invalid input: urgencyAssessment: Invalid enum value. Expected 'maintain' | "
            "'increase' | 'decrease', received 'raise'");
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"responseAction\":\"running\"")),
            "Invalid input: responseAction: Invalid enum value. Expected 'responding' | 'delayed' "
            "| 'delegating' | 'monitoring', received 'running'");
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"responseAction\":1")),
            "Invalid input: responseAction: Expected 'responding' | 'delayed' | 'delegating' | "
            "'monitoring', received number");
}

TEST(AcknowledgeAlertInput, NullUrgencyAssessmentGetsTheDefault) {
  EXPECT_EQ(valid(procedure::acknowledge_alert, with_alert("\"urgencyAssessment\":null"))
                .find("urgencyAssessment")->as_string(),
            "maintain");
}

TEST(AcknowledgeAlertInput, EstimatedResponseTimeIsANumber1To999) {
  json::value out = valid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":2.5"));
  EXPECT_FALSE(out.find("estimatedResponseTime")->is_int());
  EXPECT_DOUBLE_EQ(out.find("estimatedResponseTime")->as_double(), 2.5);
  valid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":1"));
  valid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":999"));
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":0.5")),
            "Invalid input: estimatedResponseTime: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":999.5")),
            "Invalid input: estimatedResponseTime: Number must be less than or equal to 999");
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"estimatedResponseTime\":\"5\"")),
            "Invalid input: estimatedResponseTime: Expected number, received string");
}

TEST(AcknowledgeAlertInput, NotesAndDelegateToLengths) {
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"notes\":\"\"")),
            "Invalid input: notes: String must contain at least 1 character(s)");
  valid(procedure::acknowledge_alert, with_alert("\"notes\":" + quoted(std::string(500, 'n'))));
  EXPECT_EQ(invalid(procedure::acknowledge_alert,
                    with_alert("\"notes\":" + quoted(std::string(501, 'n')))),
            "Invalid input: notes: String must contain at most 500 character(s)");
  valid(procedure::acknowledge_alert, with_alert("\"delegateTo\":" + quoted(std::string(100, 'u'))));
  EXPECT_EQ(invalid(procedure::acknowledge_alert,
                    with_alert("\"delegateTo\":" + quoted(std::string(101, 'u')))),
            "Invalid input: delegateTo: String must contain at most 100 character(s)");
}

TEST(AcknowledgeAlertInput, DelegatingNeedsDelegateTo) {
  const std::string msg =
      "Invalid input: delegateTo: delegateTo is required when responseAction is delegating";
  EXPECT_EQ(invalid(procedure::acknowledge_alert, with_alert("\"responseAction\":\"delegating\"")),
            msg);
  EXPECT_EQ(invalid(procedure::acknowledge_alert,
                    with_alert("\"responseAction\":\"delegating\",\"delegateTo\":null")),
            msg);
  // A bad delegateTo is reported once, by its own rule.
  EXPECT_EQ(invalid(procedure::acknowledge_alert,
                    with_alert("\"responseAction\":\"delegating\",\"delegateTo\":\"\"")),
            "Invalid input: delegateTo: String must contain at least 1 character(s)");
  // delegateTo without delegating is fine.
  valid(procedure::acknowledge_alert, with_alert("\"delegateTo\":\"u-2\""));
}

TEST(AcknowledgeAlertInput, SeveralBadFieldsAndTheCrossFieldRule) {
  EXPECT_EQ(invalid(procedure::acknowledge_alert,
                    "{\"alertId\":\"x\",\"notes\":\"\",\"estimatedResponseTime\":0,"
                    "\"responseAction\":\"delegating\"}"),
            "Invalid input: alertId: Invalid uuid; notes: String must contain at least 1 "
            "character(s); estimatedResponseTime: Number must be greater than or equal to 1; "
            "delegateTo: delegateTo is required when responseAction is delegating");
}

// ---- resolveAlert / triggerEscalation / updateAlert / transferAlert ------------------------------

TEST(ResolveAlertInput, ResolutionIs10To1000) {
  EXPECT_EQ(valid_text(procedure::resolve_alert, with_alert("\"resolution\":\"Stabilised ok\"")),
            std::string("{\"alertId\":\"") + alert_id + "\",\"resolution\":\"Stabilised ok\"}");
  valid(procedure::resolve_alert, with_alert("\"resolution\":" + quoted(std::string(10, 'r'))));
  valid(procedure::resolve_alert, with_alert("\"resolution\":" + quoted(std::string(1000, 'r'))));
  EXPECT_EQ(invalid(procedure::resolve_alert,
                    with_alert("\"resolution\":" + quoted(std::string(9, 'r')))),
            "Invalid input: resolution: String must contain at least 10 character(s)");
  EXPECT_EQ(invalid(procedure::resolve_alert,
                    with_alert("\"resolution\":" + quoted(std::string(1001, 'r')))),
            "Invalid input: resolution: String must contain at most 1000 character(s)");
  // Ten code points, twenty bytes.
  valid(procedure::resolve_alert, with_alert("\"resolution\":" + quoted(repeat("é", 10))));
  EXPECT_EQ(invalid(procedure::resolve_alert,
                    with_alert("\"resolution\":" + quoted(repeat("é", 9)))),
            "Invalid input: resolution: String must contain at least 10 character(s)");
  EXPECT_EQ(invalid(procedure::resolve_alert, with_alert()),
            "Invalid input: resolution: Required");
  EXPECT_EQ(invalid(procedure::resolve_alert, with_alert("\"resolution\":null")),
            "Invalid input: resolution: Expected string, received null");
  EXPECT_EQ(invalid(procedure::resolve_alert, "{}"),
            "Invalid input: alertId: Required; resolution: Required");
}

TEST(TriggerEscalationInput, ReasonIsOptionalUpTo500) {
  EXPECT_EQ(valid_text(procedure::trigger_escalation, with_alert()),
            std::string("{\"alertId\":\"") + alert_id + "\"}");
  EXPECT_EQ(valid_text(procedure::trigger_escalation, with_alert("\"reason\":null")),
            std::string("{\"alertId\":\"") + alert_id + "\"}");
  EXPECT_EQ(valid_text(procedure::trigger_escalation, with_alert("\"reason\":\"No response\"")),
            std::string("{\"alertId\":\"") + alert_id + "\",\"reason\":\"No response\"}");
  valid(procedure::trigger_escalation, with_alert("\"reason\":\"\""));
  valid(procedure::trigger_escalation, with_alert("\"reason\":" + quoted(std::string(500, 'r'))));
  EXPECT_EQ(invalid(procedure::trigger_escalation,
                    with_alert("\"reason\":" + quoted(std::string(501, 'r')))),
            "Invalid input: reason: String must contain at most 500 character(s)");
  EXPECT_EQ(invalid(procedure::trigger_escalation, "{\"alertId\":\"1\",\"reason\":false}"),
            "Invalid input: alertId: Invalid uuid; reason: Expected string, received boolean");
}

TEST(GetAuditLogInput, LimitDefaultsTo50AndIsBoundedCursorIsASeq) {
  EXPECT_EQ(valid_text(procedure::get_audit_log, "{\"hospitalId\":\"h1\"}"),
            "{\"hospitalId\":\"h1\",\"limit\":50}");
  EXPECT_EQ(valid_text(procedure::get_audit_log, "{\"hospitalId\":\"h1\",\"cursor\":7,\"limit\":500}"),
            "{\"hospitalId\":\"h1\",\"cursor\":7,\"limit\":500}");
  EXPECT_EQ(invalid(procedure::get_audit_log, "{\"hospitalId\":\"h1\",\"limit\":501}"),
            "Invalid input: limit: Number must be less than or equal to 500");
  EXPECT_EQ(invalid(procedure::get_audit_log, "{\"hospitalId\":\"h1\",\"cursor\":0}"),
            "Invalid input: cursor: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::get_audit_log, "{}"), "Invalid input: hospitalId: Required");
}

TEST(UpdateAlertInput, NeedsDescriptionOrUrgency) {
  const std::string msg =
      "Invalid input: input: At least one of description, urgencyLevel is required";
  EXPECT_EQ(invalid(procedure::update_alert, with_alert()), msg);
  EXPECT_EQ(invalid(procedure::update_alert,
                    with_alert("\"description\":null,\"urgencyLevel\":null,\"other\":1")),
            msg);
  EXPECT_EQ(valid_text(procedure::update_alert, with_alert("\"description\":\"Unresponsive\"")),
            std::string("{\"alertId\":\"") + alert_id + "\",\"description\":\"Unresponsive\"}");
  EXPECT_EQ(valid_text(procedure::update_alert, with_alert("\"urgencyLevel\":2")),
            std::string("{\"alertId\":\"") + alert_id + "\",\"urgencyLevel\":2}");
  EXPECT_EQ(valid_text(procedure::update_alert,
                       with_alert("\"urgencyLevel\":2,\"description\":\"\"")),
            std::string("{\"alertId\":\"") + alert_id +
                "\",\"description\":\"\",\"urgencyLevel\":2}");
}

TEST(UpdateAlertInput, BadFieldsAreNamedAndTheCrossRuleComesLast) {
  EXPECT_EQ(invalid(procedure::update_alert,
                    with_alert("\"description\":" + quoted(std::string(501, 'd')))),
            "Invalid input: description: String must contain at most 500 character(s)");
  EXPECT_EQ(invalid(procedure::update_alert, with_alert("\"urgencyLevel\":0")),
            "Invalid input: urgencyLevel: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::update_alert, with_alert("\"urgencyLevel\":4.2")),
            "Invalid input: urgencyLevel: Expected integer, received float");
  EXPECT_EQ(invalid(procedure::update_alert, "{\"alertId\":\"nope\"}"),
            "Invalid input: alertId: Invalid uuid; input: At least one of description, "
            "urgencyLevel is required");
}

TEST(TransferAlertInput, ToUserIdAndReasonAreRequired) {
  EXPECT_EQ(valid_text(procedure::transfer_alert,
                       with_alert("\"reason\":\"Shift handover\",\"toUserId\":\"u-doctor-2\"")),
            std::string("{\"alertId\":\"") + alert_id +
                "\",\"toUserId\":\"u-doctor-2\",\"reason\":\"Shift handover\"}");
  EXPECT_EQ(invalid(procedure::transfer_alert, with_alert()),
            "Invalid input: toUserId: Required; reason: Required");
  EXPECT_EQ(invalid(procedure::transfer_alert, with_alert("\"toUserId\":\"\",\"reason\":\"\"")),
            "Invalid input: toUserId: String must contain at least 1 character(s); reason: "
            "String must contain at least 1 character(s)");
  EXPECT_EQ(invalid(procedure::transfer_alert,
                    with_alert("\"toUserId\":" + quoted(std::string(101, 'u')) +
                               ",\"reason\":" + quoted(std::string(501, 'r')))),
            "Invalid input: toUserId: String must contain at most 100 character(s); reason: "
            "String must contain at most 500 character(s)");
  valid(procedure::transfer_alert, with_alert("\"toUserId\":" + quoted(std::string(100, 'u')) +
                                              ",\"reason\":" + quoted(std::string(500, 'r'))));
}

// ---- batch procedures ---------------------------------------------------------------------------

std::string uuid_list(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-000000000000", static_cast<unsigned>(i));
    if (i) out += ',';
    out += quoted(buf);
  }
  return out + "]";
}

TEST(BatchInput, AlertIdsAreOneTo50Uuids) {
  EXPECT_EQ(valid_text(procedure::batch_acknowledge_alerts,
                       std::string("{\"notes\":\"Covering\",\"alertIds\":[\"") + alert_id + "\"]}"),
            std::string("{\"alertIds\":[\"") + alert_id + "\"],\"notes\":\"Covering\"}");
  EXPECT_EQ(valid(procedure::batch_acknowledge_alerts, "{\"alertIds\":" + uuid_list(50) + "}")
                .find("alertIds")->size(),
            50u);
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":[]}"),
            "Invalid input: alertIds: Array must contain at least 1 element(s)");
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":" + uuid_list(51) + "}"),
            "Invalid input: alertIds: Array must contain at most 50 element(s)");
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":\"x\"}"),
            "Invalid input: alertIds: Expected array, received string");
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{}"),
            "Invalid input: alertIds: Required");
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":null}"),
            "Invalid input: alertIds: Expected array, received null");
}

TEST(BatchInput, EveryBadElementIsNamedByIndex) {
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts,
                    std::string("{\"alertIds\":[\"x\",\"") + alert_id + "\",3,null,\"" + alert_id +
                        "\",\"\"]}"),
            "Invalid input: alertIds.0: Invalid uuid; alertIds.2: Expected string, received "
            "number; alertIds.3: Expected string, received null; alertIds.5: Invalid uuid");
}

TEST(BatchInput, TooManyAndBadElementsAreBothReported) {
  std::string ids = uuid_list(50);
  ids.insert(ids.size() - 1, ",\"bad\"");
  EXPECT_EQ(invalid(procedure::batch_resolve_alerts,
                    "{\"alertIds\":" + ids + ",\"resolution\":\"short\"}"),
            "Invalid input: alertIds: Array must contain at most 50 element(s); alertIds.50: "
            "Invalid uuid; resolution: String must contain at least 10 character(s)");
}

TEST(BatchInput, IdsAreLowerCasedAndDuplicatesKept) {
  std::string upper = "B5E05C3C-8F1A-4D2E-9C3B-7A6F5E4D3C2B";
  json::value out = valid(procedure::batch_resolve_alerts,
                          "{\"alertIds\":[\"" + upper + "\",\"" + alert_id +
                              "\"],\"resolution\":\"False alarm, sensor detached\"}");
  ASSERT_EQ(out.find("alertIds")->size(), 2u);
  EXPECT_EQ(out.find("alertIds")->as_array()[0].as_string(), alert_id);
  EXPECT_EQ(out.find("alertIds")->as_array()[1].as_string(), alert_id);
  EXPECT_EQ(out.find("resolution")->as_string(), "False alarm, sensor detached");
}

TEST(BatchInput, NotesAndResolutionRules) {
  std::string ids = std::string("\"alertIds\":[\"") + alert_id + "\"]";
  EXPECT_EQ(valid_text(procedure::batch_acknowledge_alerts, "{" + ids + ",\"notes\":null}"),
            std::string("{\"alertIds\":[\"") + alert_id + "\"]}");
  EXPECT_EQ(invalid(procedure::batch_acknowledge_alerts, "{" + ids + ",\"notes\":\"\"}"),
            "Invalid input: notes: String must contain at least 1 character(s)");
  EXPECT_EQ(invalid(procedure::batch_resolve_alerts, "{" + ids + "}"),
            "Invalid input: resolution: Required");
  EXPECT_EQ(invalid(procedure::batch_resolve_alerts,
                    "{" + ids + ",\"resolution\":" + quoted(std::string(1001, 'r')) + "}"),
            "Invalid input: resolution: String must contain at most 1000 character(s)");
}

// ---- getActiveAlerts ----------------------------------------------------------------------------

TEST(GetActiveAlertsInput, DefaultsAreApplied) {
  json::value out = valid(procedure::get_active_alerts, with_hospital());
  EXPECT_EQ(json::to_string(out),
            std::string("{\"hospitalId\":\"") + hospital +
                "\",\"status\":\"active\",\"sortBy\":\"createdAt\",\"sortOrder\":\"desc\","
                "\"limit\":20,\"offset\":0}");
  EXPECT_TRUE(out.find("limit")->is_int());
  EXPECT_TRUE(out.find("offset")->is_int());
}

TEST(GetActiveAlertsInput, NullFieldsGetDefaultsToo) {
  EXPECT_EQ(valid_text(procedure::get_active_alerts,
                       with_hospital("\"status\":null,\"sortBy\":null,\"sortOrder\":null,"
                                     "\"limit\":null,\"offset\":null,\"cursor\":null,"
                                     "\"urgencyLevel\":null,\"alertType\":null")),
            valid_text(procedure::get_active_alerts, with_hospital()));
}

TEST(GetActiveAlertsInput, FullInput) {
  EXPECT_EQ(valid_text(procedure::get_active_alerts,
                       with_hospital("\"direction\":\"forward\",\"cursor\":\"opaque!\","
                                     "\"offset\":3,\"limit\":100,\"sortOrder\":\"asc\",\"sortBy\":"
                                     "\"urgencyLevel\",\"alertType\":\"security\",\"urgencyLevel\":"
                                     "2,\"status\":\"all\"")),
            std::string("{\"hospitalId\":\"") + hospital +
                "\",\"status\":\"all\",\"urgencyLevel\":2,\"alertType\":\"security\",\"sortBy\":"
                "\"urgencyLevel\",\"sortOrder\":\"asc\",\"limit\":100,\"offset\":3,\"cursor\":"
                "\"opaque!\"}");
}

TEST(GetActiveAlertsInput, EnumsAndNumbersAreChecked) {
  for (const char* s : {"active", "acknowledged", "resolved", "all"})
    valid(procedure::get_active_alerts, with_hospital(std::string("\"status\":\"") + s + "\""));
  for (const char* s : {"createdAt", "urgencyLevel", "acknowledgedAt"})
    valid(procedure::get_active_alerts, with_hospital(std::string("\"sortBy\":\"") + s + "\""));
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"status\":\"open\"")),
            "Invalid input: status: Invalid enum value. Expected 'active' | 'acknowledged' | "
            "'resolved' | 'all', received 'open'");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"sortBy\":\"id\"")),
            "Invalid input: sortBy: Invalid enum value. Expected 'createdAt' | 'urgencyLevel' | "
            "'acknowledgedAt', received 'id'");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"sortOrder\":\"up\"")),
            "Invalid input: sortOrder: Invalid enum value. Expected 'asc' | 'desc', received 'up'");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"limit\":0")),
            "Invalid input: limit: Number must be greater than or equal to 1");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"limit\":101")),
            "Invalid input: limit: Number must be less than or equal to 100");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"limit\":10.5")),
            "Invalid input: limit: Expected integer, received float");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"offset\":-1")),
            "Invalid input: offset: Number must be greater than or equal to 0");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"offset\":1e300")),
            "Invalid input: offset: Number must be less than or equal to 9007199254740991");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"urgencyLevel\":6")),
            "Invalid input: urgencyLevel: Number must be less than or equal to 5");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"alertType\":\"x\"")),
            "Invalid input: alertType: Invalid enum value. Expected " + alert_type_choices +
                ", received 'x'");
  EXPECT_EQ(invalid(procedure::get_active_alerts, with_hospital("\"cursor\":5")),
            "Invalid input: cursor: Expected string, received number");
  valid(procedure::get_active_alerts, with_hospital("\"cursor\":\"\""));
}

TEST(GetActiveAlertsInput, SeveralBadFields) {
  EXPECT_EQ(invalid(procedure::get_active_alerts,
                    "{\"offset\":\"0\",\"limit\":0,\"status\":1}"),
            "Invalid input: hospitalId: Required; status: Expected 'active' | 'acknowledged' | "
            "'resolved' | 'all', received number; limit: Number must be greater than or equal to "
            "1; offset: Expected number, received string");
}

// ---- getAlertHistory ----------------------------------------------------------------------------

TEST(GetAlertHistoryInput, DefaultsAreApplied) {
  EXPECT_EQ(valid_text(procedure::get_alert_history, with_hospital()),
            std::string("{\"hospitalId\":\"") + hospital + "\",\"limit\":50,\"offset\":0}");
}

TEST(GetAlertHistoryInput, DatesAreParsedIntoDateValues) {
  json::value out = valid(procedure::get_alert_history,
                          with_hospital("\"startDate\":\"2026-01-01T00:00:00.000Z\","
                                        "\"endDate\":\"2026-01-05T12:00:00+02:00\",\"limit\":2"));
  const json::value* start = out.find("startDate");
  const json::value* end = out.find("endDate");
  ASSERT_NE(start, nullptr);
  ASSERT_NE(end, nullptr);
  EXPECT_TRUE(start->is_date());
  EXPECT_TRUE(end->is_date());
  EXPECT_EQ(*parse_iso(start->as_string()), *parse_iso("2026-01-01T00:00:00.000Z"));
  EXPECT_EQ(start->as_string(), "2026-01-01T00:00:00.000Z");
  // The offset form is normalised to UTC with milliseconds.
  EXPECT_EQ(end->as_string(), "2026-01-05T10:00:00.000Z");
  EXPECT_EQ(out.find("limit")->as_int(), 2);
  EXPECT_EQ(out.find("offset")->as_int(), 0);
}

TEST(GetAlertHistoryInput, DateFlaggedStringsAreAccepted) {
  json::value in = parse_json(with_hospital("\"startDate\":\"2025-01-02T03:04:05.678Z\""));
  in.find("startDate")->set_date_flag(true);
  auto r = validate_input(procedure::get_alert_history, &in);
  ASSERT_TRUE(std::holds_alternative<json::value>(r));
  const json::value* start = std::get<json::value>(r).find("startDate");
  ASSERT_NE(start, nullptr);
  EXPECT_TRUE(start->is_date());
  EXPECT_EQ(start->as_string(), "2025-01-02T03:04:05.678Z");
}

TEST(GetAlertHistoryInput, BadDatesAndBoundsAreNamed) {
  EXPECT_EQ(invalid(procedure::get_alert_history,
                    with_hospital("\"startDate\":\"yesterday\",\"endDate\":1700000000000,"
                                  "\"limit\":101,\"offset\":-1")),
            "Invalid input: startDate: Invalid datetime; endDate: Expected date, received number; "
            "limit: Number must be less than or equal to 100; offset: Number must be greater than "
            "or equal to 0");
  EXPECT_EQ(invalid(procedure::get_alert_history, with_hospital("\"endDate\":\"2026-13-01T00:00Z\"")),
            "Invalid input: endDate: Invalid datetime");
  EXPECT_EQ(invalid(procedure::get_alert_history, with_hospital("\"endDate\":\"\"")),
            "Invalid input: endDate: Invalid datetime");
  EXPECT_EQ(valid_text(procedure::get_alert_history,
                       with_hospital("\"startDate\":null,\"endDate\":null")),
            valid_text(procedure::get_alert_history, with_hospital()));
}

// ---- subscriptions ------------------------------------------------------------------------------

TEST(SubscribeToAlertsInput, MinimalAndFull) {
  EXPECT_EQ(valid_text(procedure::subscribe_to_alerts, with_hospital()),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
  EXPECT_EQ(valid_text(procedure::subscribe_to_alerts,
                       with_hospital("\"filter\":{\"alertTypes\":[\"fire\",\"code_blue\"],"
                                     "\"junk\":1,\"maxUrgencyLevel\":2,\"types\":["
                                     "\"alert.created\",\"alert.resolved\"]},\"lastEventId\":"
                                     "\"k3x9q2ab-1043\"")),
            std::string("{\"hospitalId\":\"") + hospital +
                "\",\"lastEventId\":\"k3x9q2ab-1043\",\"filter\":{\"types\":[\"alert.created\","
                "\"alert.resolved\"],\"maxUrgencyLevel\":2,\"alertTypes\":[\"fire\","
                "\"code_blue\"]}}");
}

TEST(SubscribeToAlertsInput, EmptyAndNullFilters) {
  EXPECT_EQ(valid_text(procedure::subscribe_to_alerts, with_hospital("\"filter\":{}")),
            std::string("{\"hospitalId\":\"") + hospital + "\",\"filter\":{}}");
  EXPECT_EQ(valid_text(procedure::subscribe_to_alerts,
                       with_hospital("\"filter\":null,\"lastEventId\":null")),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
  EXPECT_EQ(valid_text(procedure::subscribe_to_alerts,
                       with_hospital("\"filter\":{\"types\":null,\"maxUrgencyLevel\":null}")),
            std::string("{\"hospitalId\":\"") + hospital + "\",\"filter\":{}}");
}

TEST(SubscribeToAlertsInput, EveryEventTypeIsAccepted) {
  valid(procedure::subscribe_to_alerts,
        with_hospital("\"filter\":{\"types\":[\"alert.created\",\"alert.escalated\","
                      "\"alert.updated\",\"alert.acknowledged\",\"alert.resolved\"]}"));
}

TEST(SubscribeToAlertsInput, FilterPartsAreCheckedWithNestedPaths) {
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts, with_hospital("\"filter\":\"x\"")),
            "Invalid input: filter: Expected object, received string");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts, with_hospital("\"filter\":{\"types\":[]}")),
            "Invalid input: filter.types: Array must contain at least 1 element(s)");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    with_hospital("\"filter\":{\"alertTypes\":[]}")),
            "Invalid input: filter.alertTypes: Array must contain at least 1 element(s)");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    with_hospital("\"filter\":{\"types\":\"alert.created\"}")),
            "Invalid input: filter.types: Expected array, received string");
  EXPECT_EQ(
      invalid(procedure::subscribe_to_alerts,
              with_hospital("\"filter\":{\"types\":[\"alert.created\",\"alert.deleted\",4],"
                            "\"maxUrgencyLevel\":0,\"alertTypes\":[\"flood\"]}")),
      "Invalid input: filter.types.1: Invalid enum value. Expected 'alert.created' | "
      "'alert.escalated' | 'alert.updated' | 'alert.acknowledged' | 'alert.resolved', received "
      "'alert.deleted'; filter.types.2: Expected 'alert.created' | 'alert.escalated' | "
      "'alert.updated' | 'alert.acknowledged' | 'alert.resolved', received number; "
      "filter.maxUrgencyLevel: Number must be greater than or equal to 1; filter.alertTypes.0: "
      "Invalid enum value. Expected " +
          alert_type_choices + ", received 'flood'");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    with_hospital("\"filter\":{\"maxUrgencyLevel\":2.5}")),
            "Invalid input: filter.maxUrgencyLevel: Expected integer, received float");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    with_hospital("\"filter\":{\"maxUrgencyLevel\":6}")),
            "Invalid input: filter.maxUrgencyLevel: Number must be less than or equal to 5");
}

TEST(SubscribeToAlertsInput, LastEventIdIsAStringUpTo200) {
  valid(procedure::subscribe_to_alerts,
        with_hospital("\"lastEventId\":" + quoted(std::string(200, 'e'))));
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    with_hospital("\"lastEventId\":" + quoted(std::string(201, 'e')))),
            "Invalid input: lastEventId: String must contain at most 200 character(s)");
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts, with_hospital("\"lastEventId\":1043")),
            "Invalid input: lastEventId: Expected string, received number");
}

TEST(SubscribeToAlertsInput, SeveralBadFields) {
  EXPECT_EQ(invalid(procedure::subscribe_to_alerts,
                    "{\"hospitalId\":\"a b\",\"lastEventId\":[],\"filter\":{\"types\":[]}}"),
            "Invalid input: hospitalId: Invalid hospital id; lastEventId: Expected string, "
            "received array; filter.types: Array must contain at least 1 element(s)");
}

TEST(SubscribeToAlertInput, AlertIdAndLastEventId) {
  EXPECT_EQ(valid_text(procedure::subscribe_to_alert,
                       with_alert("\"lastEventId\":\"k3x9q2ab-1040\",\"hospitalId\":\"h\"")),
            std::string("{\"alertId\":\"") + alert_id + "\",\"lastEventId\":\"k3x9q2ab-1040\"}");
  EXPECT_EQ(invalid(procedure::subscribe_to_alert, "{\"lastEventId\":" +
                                                       quoted(std::string(201, 'e')) + "}"),
            "Invalid input: alertId: Required; lastEventId: String must contain at most 200 "
            "character(s)");
}

TEST(SubscribeToMetricsInput, IntervalDefaultsAndBounds) {
  // Absent or null: no interval, so the connection applies the server's metrics.interval.
  EXPECT_EQ(valid_text(procedure::subscribe_to_metrics, with_hospital()),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
  EXPECT_EQ(valid_text(procedure::subscribe_to_metrics, with_hospital("\"interval\":null")),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
  EXPECT_EQ(valid(procedure::subscribe_to_metrics, with_hospital("\"interval\":1000"))
                .find("interval")->as_int(),
            1000);
  EXPECT_EQ(valid(procedure::subscribe_to_metrics, with_hospital("\"interval\":60000.0"))
                .find("interval")->as_int(),
            60000);
  EXPECT_EQ(invalid(procedure::subscribe_to_metrics, with_hospital("\"interval\":999")),
            "Invalid input: interval: Number must be greater than or equal to 1000");
  EXPECT_EQ(invalid(procedure::subscribe_to_metrics, with_hospital("\"interval\":60001")),
            "Invalid input: interval: Number must be less than or equal to 60000");
  EXPECT_EQ(invalid(procedure::subscribe_to_metrics, with_hospital("\"interval\":1500.5")),
            "Invalid input: interval: Expected integer, received float");
}

TEST(SubscribeToPresenceInput, OnlyHospitalId) {
  EXPECT_EQ(valid_text(procedure::subscribe_to_presence, with_hospital("\"interval\":5")),
            std::string("{\"hospitalId\":\"") + hospital + "\"}");
}

// Every procedure accepts its minimal input and rejects an input missing its scope key.
TEST(ValidateInput, EveryProcedureHasAMinimalValidInput) {
  std::string ids = std::string("{\"alertIds\":[\"") + alert_id + "\"]";
  struct minimal {
    procedure p;
    std::string text;
  } cases[] = {
    {procedure::create_alert, create_input()},
    {procedure::acknowledge_alert, with_alert()},
    {procedure::resolve_alert, with_alert("\"resolution\":\"0123456789\"")},
    {procedure::trigger_escalation, with_alert()},
    {procedure::update_alert, with_alert("\"urgencyLevel\":1")},
    {procedure::transfer_alert, with_alert("\"toUserId\":\"u\",\"reason\":\"r\"")},
    {procedure::batch_acknowledge_alerts, ids + "}"},
    {procedure::batch_resolve_alerts, ids + ",\"resolution\":\"0123456789\"}"},
    {procedure::get_active_alerts, with_hospital()},
    {procedure::get_alert, with_alert()},
    {procedure::get_metrics, with_hospital()},
    {procedure::get_escalation_status, with_alert()},
    {procedure::get_active_escalations, with_hospital()},
    {procedure::get_alert_timeline, with_alert()},
    {procedure::get_alert_history, with_hospital()},
    {procedure::get_alert_stats, with_hospital()},
    {procedure::subscribe_to_alerts, with_hospital()},
    {procedure::subscribe_to_alert, with_alert()},
    {procedure::subscribe_to_metrics, with_hospital()},
    {procedure::subscribe_to_presence, with_hospital()},
    {procedure::get_audit_log, with_hospital()},
  };
  std::set<procedure> covered;
  for (const auto& c : cases) {
    valid(c.p, c.text);
    covered.insert(c.p);
  }
  EXPECT_EQ(covered.size(), 21u);
}


TEST(BatchInput, AMessageNamesAtMost20IssuesThenCountsTheRest) {
  // 100000 bad ids: the message must stay small (it named every one, 25x the request's size).
  std::string ids = "[";
  for (int i = 0; i < 100000; ++i)
    ids += i ? ",\"x\"" : "\"x\"";
  ids += "]";
  auto msg = invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":" + ids + "}");
  std::string expected = "Invalid input: alertIds: Array must contain at most 50 element(s)";
  for (int i = 0; i < 19; ++i)
    expected += "; alertIds." + std::to_string(i) + ": Invalid uuid";
  expected += "; and 99981 more issues";
  EXPECT_EQ(msg, expected);
  // Exactly at the cap nothing is counted.
  std::string twenty = "[";
  for (int i = 0; i < 20; ++i)
    twenty += i ? ",\"x\"" : "\"x\"";
  twenty += "]";
  auto at_cap = invalid(procedure::batch_acknowledge_alerts, "{\"alertIds\":" + twenty + "}");
  EXPECT_EQ(at_cap.find("more issue"), std::string::npos);
  EXPECT_NE(at_cap.find("alertIds.19: Invalid uuid"), std::string::npos);
}

} // namespace
} // namespace vigil

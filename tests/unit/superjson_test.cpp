// superjson: meta writer (Date annotations) and input decoding (undefined/Date annotations).
// Vectors: tests/data/trpc-frames/capture-superjson-encodings.txt and docs/api.md
// "Encoding: plain JSON and superjson".

#include "domain/json.hpp"
#include "domain/trpc.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>

namespace json = vigil::json;
namespace trpc = vigil::trpc;
using json::value;
using vigil::call_error;
using vigil::trpc_code;

namespace {

constexpr int64_t capture_ms = 1735787045678; // 2025-01-02T03:04:05.678Z

/// label -> JSON text of capture-superjson-encodings.txt (lines `<label padded to 35> <json>`).
std::map<std::string, std::string> captured_encodings() {
  std::ifstream in(std::string(VIGIL_TESTDATA_DIR) + "/trpc-frames/capture-superjson-encodings.txt");
  EXPECT_TRUE(in.good());
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t brace = line.find("{\"json\"");
    if (brace == std::string::npos) continue;
    std::string label = line.substr(0, brace);
    label.erase(label.find_last_not_of(' ') + 1);
    out[label] = line.substr(brace);
  }
  return out;
}

value parse_json(std::string_view text) {
  std::string error;
  std::optional<value> v = json::parse(text, &error);
  EXPECT_TRUE(v.has_value()) << text << ": " << error;
  return v ? *v : value();
}

trpc::decoded_input decode_ok(std::string_view envelope) {
  auto result = trpc::decode_superjson(parse_json(envelope));
  if (auto* e = std::get_if<call_error>(&result)) {
    ADD_FAILURE() << envelope << " -> " << e->message;
    return {};
  }
  return std::get<trpc::decoded_input>(std::move(result));
}

call_error decode_error(std::string_view envelope) {
  auto result = trpc::decode_superjson(parse_json(envelope));
  if (!std::holds_alternative<call_error>(result)) {
    ADD_FAILURE() << "accepted: " << envelope;
    return {};
  }
  call_error e = std::get<call_error>(result);
  EXPECT_EQ(e.code, trpc_code::bad_request) << envelope;
  return e;
}

std::string superjson(const value& v) {
  std::string out;
  json::write_superjson(out, v);
  return out;
}

std::string meta(const value& v) {
  std::string out;
  EXPECT_TRUE(json::write_meta(out, v));
  return out;
}

} // namespace

// ---- writer: captured encodings ------------------------------------------------------------------

TEST(SuperjsonWrite, CapturedNullAndRootDate) {
  const auto cap = captured_encodings();
  EXPECT_EQ(superjson(value()), cap.at("null"));
  EXPECT_EQ(superjson(value::date(capture_ms)), cap.at("Date top-level"));
}

TEST(SuperjsonWrite, CapturedKeyWithDot) {
  value v;
  v.set("a.b", value::date(capture_ms));
  EXPECT_EQ(superjson(v), captured_encodings().at("key with dot"));
}

TEST(SuperjsonWrite, CapturedByTierNumericKeys) {
  value tier;
  tier.set("nextEscalationAt", value::date(capture_ms));
  value by_tier;
  by_tier.set("1", value::make_array().push(tier));
  value v;
  v.set("byTier", by_tier);
  EXPECT_EQ(superjson(v), captured_encodings().at("byTier numeric keys"));
}

TEST(SuperjsonWrite, CapturedEventWithoutReferentialEqualities) {
  value data;
  data.set("acknowledgedBy", "u").set("acknowledgedAt", value::date(capture_ms));
  value event;
  event.set("id", "event-1")
      .set("type", "alert.acknowledged")
      .set("alertId", "x")
      .set("hospitalId", "h")
      .set("timestamp", value::date(capture_ms))
      .set("data", data);
  std::string expected = captured_encodings().at("event (subscribeToAlerts)");
  const std::string refs = R"("referentialEqualities":{"timestamp":["data.acknowledgedAt"]},)";
  ASSERT_NE(expected.find(refs), std::string::npos);
  expected.erase(expected.find(refs), refs.size()); // Vigil never sends referentialEqualities
  EXPECT_EQ(superjson(event), expected);
}

TEST(SuperjsonWrite, CapturedAlertListWithNullNotAnnotated) {
  value alert;
  alert.set("id", "a1")
      .set("createdAt", value::date(capture_ms))
      .set("acknowledgedAt", value::date_or_null(std::nullopt))
      .set("resolvedAt", value());
  value v;
  v.set("alerts", value::make_array().push(alert));
  v.set("pagination", value::make_object().set("total", 1).set("nextCursor", value()));
  // Same as the capture, except that a missing value is null (docs/api.md: every key present)
  // rather than an `undefined` annotation.
  EXPECT_EQ(superjson(v),
            R"({"json":{"alerts":[{"id":"a1","createdAt":"2025-01-02T03:04:05.678Z","acknowledgedAt":null,"resolvedAt":null}],"pagination":{"total":1,"nextCursor":null}},"meta":{"values":{"alerts.0.createdAt":["Date"]},"v":1}})");
}

TEST(SuperjsonWrite, ApiExampleGetAlert) {
  value escalation;
  escalation.set("fromTier", 1)
      .set("toTier", 2)
      .set("toRole", "doctor")
      .set("escalatedAt", value::date(1767607320000))
      .set("escalatedBy", "system")
      .set("reason", "timeout");
  value v;
  v.set("id", "b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b")
      .set("nextEscalationAt", value::date(1767607500000))
      .set("createdAt", value::date(1767607200000))
      .set("updatedAt", value::date(1767607320000))
      .set("acknowledgedAt", value::date_or_null(std::nullopt))
      .set("escalations", value::make_array().push(escalation));
  EXPECT_EQ(meta(v),
            R"({"values":{"nextEscalationAt":["Date"],"createdAt":["Date"],"updatedAt":["Date"],"escalations.0.escalatedAt":["Date"]},"v":1})");
}

// ---- writer: meta details ------------------------------------------------------------------------

TEST(SuperjsonMeta, NothingToAnnotate) {
  for (const value& v : {value(), value(1), value("2025-01-02T03:04:05.678Z"),
                         parse_json(R"({"a":[1,{"b":null}],"c":"x"})"), value::make_array()}) {
    std::string out = "unchanged";
    EXPECT_FALSE(json::write_meta(out, v));
    EXPECT_EQ(out, "unchanged");
    EXPECT_EQ(superjson(v), "{\"json\":" + json::to_string(v) + "}");
  }
}

TEST(SuperjsonMeta, RootDate) {
  EXPECT_EQ(meta(value::date(0)), R"({"values":["Date"],"v":1})");
}

TEST(SuperjsonMeta, DocumentOrderAtAnyDepth) {
  value v;
  v.set("z", value::date(0));
  v.set("timeline", value::make_array()
                        .push(value::make_object().set("at", value::date(1)))
                        .push(value::make_object())
                        .push(value::make_object().set(
                            "data", value::make_object().set("acknowledgedAt", value::date(2)))));
  v.set("a", value::make_array().push(value::make_array().push(value()).push(value::date(3))));
  EXPECT_EQ(meta(v),
            R"({"values":{"z":["Date"],"timeline.0.at":["Date"],"timeline.2.data.acknowledgedAt":["Date"],"a.0.1":["Date"]},"v":1})");
}

TEST(SuperjsonMeta, RootArray) {
  const value v = value::make_array().push(1).push(value::date(0));
  EXPECT_EQ(meta(v), R"({"values":{"1":["Date"]},"v":1})");
}

TEST(SuperjsonMeta, KeysAreEscaped) {
  value v;
  v.set("a.b", value::date(0));
  v.set("back\\slash", value::date(0));
  v.set("both.\\", value::make_object().set("x.y", value::date(0)));
  v.set("quote\"", value::date(0));
  v.set("", value::make_object().set("", value::date(0)));
  // Path escaping (`\.`, `\\`) and then JSON string escaping.
  EXPECT_EQ(meta(v),
            R"({"values":{"a\\.b":["Date"],"back\\\\slash":["Date"],"both\\.\\\\.x\\.y":["Date"],"quote\"":["Date"],".":["Date"]},"v":1})");
}

TEST(SuperjsonMeta, WriteMetaAppends) {
  std::string out = "meta=";
  EXPECT_TRUE(json::write_meta(out, value::date(0)));
  EXPECT_EQ(out, R"(meta={"values":["Date"],"v":1})");
}

TEST(SuperjsonWrap, WithAndWithoutMeta) {
  std::string out;
  json::wrap_superjson(out, R"({"a":1})", "");
  EXPECT_EQ(out, R"({"json":{"a":1}})");
  out.clear();
  json::wrap_superjson(out, R"({"at":"2025-01-02T03:04:05.678Z"})", R"({"values":{"at":["Date"]},"v":1})");
  EXPECT_EQ(out, R"({"json":{"at":"2025-01-02T03:04:05.678Z"},"meta":{"values":{"at":["Date"]},"v":1}})");
  // Same result as write_superjson for a value encoded once and shared.
  value v;
  v.set("at", value::date(capture_ms));
  std::string plain = json::to_string(v);
  std::string m;
  json::write_meta(m, v);
  std::string wrapped;
  json::wrap_superjson(wrapped, plain, m);
  EXPECT_EQ(wrapped, superjson(v));
}

// ---- decoder: captured encodings -----------------------------------------------------------------

TEST(SuperjsonDecode, CapturedUndefinedRoot) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("undefined"));
  EXPECT_FALSE(d.present);
  EXPECT_TRUE(d.value.is_null());
  // superjson 2.2.2 (pinned) writes no "v".
  EXPECT_FALSE(decode_ok(R"({"json":null,"meta":{"values":["undefined"]}})").present);
}

TEST(SuperjsonDecode, CapturedNull) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("null"));
  EXPECT_TRUE(d.present);
  EXPECT_TRUE(d.value.is_null());
}

TEST(SuperjsonDecode, CapturedRootDate) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("Date top-level"));
  EXPECT_TRUE(d.present);
  EXPECT_TRUE(d.value.is_date());
  EXPECT_EQ(d.value.as_string(), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ(superjson(d.value), captured_encodings().at("Date top-level"));
}

TEST(SuperjsonDecode, CapturedObjectWithUndefinedField) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("obj w/ undefined field"));
  EXPECT_TRUE(d.present);
  EXPECT_EQ(json::to_string(d.value), R"({"a":1})");
}

TEST(SuperjsonDecode, CapturedAlertList) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("alert-like list"));
  const value& alert = d.value.find("alerts")->as_array()[0];
  EXPECT_TRUE(alert.find("createdAt")->is_date());
  EXPECT_FALSE(alert.find("acknowledgedAt")->is_date());
  EXPECT_EQ(alert.find("resolvedAt"), nullptr); // "alerts.0.resolvedAt":["undefined"]
  EXPECT_NE(alert.find("acknowledgedAt"), nullptr);
  EXPECT_EQ(superjson(d.value),
            R"({"json":{"alerts":[{"id":"a1","createdAt":"2025-01-02T03:04:05.678Z","acknowledgedAt":null}],"pagination":{"total":1,"nextCursor":null}},"meta":{"values":{"alerts.0.createdAt":["Date"]},"v":1}})");
}

TEST(SuperjsonDecode, CapturedEventIgnoresReferentialEqualities) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("event (subscribeToAlerts)"));
  EXPECT_TRUE(d.value.find("timestamp")->is_date());
  EXPECT_TRUE(d.value.find("data")->find("acknowledgedAt")->is_date());
  EXPECT_FALSE(d.value.find("data")->find("acknowledgedBy")->is_date());
}

TEST(SuperjsonDecode, CapturedKeyWithDotAndNumericKeys) {
  const auto cap = captured_encodings();
  const trpc::decoded_input dot = decode_ok(cap.at("key with dot"));
  ASSERT_NE(dot.value.find("a.b"), nullptr);
  EXPECT_TRUE(dot.value.find("a.b")->is_date());
  EXPECT_EQ(superjson(dot.value), cap.at("key with dot"));

  const trpc::decoded_input tier = decode_ok(cap.at("byTier numeric keys"));
  const value& entry = tier.value.find("byTier")->find("1")->as_array()[0];
  EXPECT_TRUE(entry.find("nextEscalationAt")->is_date());
  EXPECT_EQ(superjson(tier.value), cap.at("byTier numeric keys"));
}

TEST(SuperjsonDecode, CapturedDateInput) {
  const trpc::decoded_input d = decode_ok(captured_encodings().at("input w/ Date (analytics)"));
  EXPECT_TRUE(d.value.find("startDate")->is_date());
  EXPECT_TRUE(d.value.find("endDate")->is_date());
  EXPECT_FALSE(d.value.find("hospitalId")->is_date());
}

TEST(SuperjsonDecode, CapturedNumberAnnotationIsRejected) {
  const call_error e = decode_error(captured_encodings().at("NaN / Infinity"));
  EXPECT_EQ(e.message, R"(Invalid input: x: Unsupported superjson type "number")");
}

TEST(SuperjsonDecode, AcknowledgeModalInput) {
  // capture-client11.1.4-server11.3.1-appshaped.txt, C6 (no "v" in meta).
  const trpc::decoded_input d = decode_ok(
      R"({"json":{"alertId":"0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11","urgencyAssessment":"increase","responseAction":"monitoring","estimatedResponseTime":null,"delegateTo":null,"notes":null},"meta":{"values":{"estimatedResponseTime":["undefined"],"delegateTo":["undefined"],"notes":["undefined"]}}})");
  EXPECT_TRUE(d.present);
  EXPECT_EQ(json::to_string(d.value),
            R"({"alertId":"0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11","urgencyAssessment":"increase","responseAction":"monitoring"})");
}

// ---- decoder: paths ------------------------------------------------------------------------------

TEST(SuperjsonDecode, NestedUndefined) {
  const trpc::decoded_input d = decode_ok(
      R"({"json":{"a":{"b":null,"c":1},"list":[null,2]},"meta":{"values":{"a.b":["undefined"],"list.0":["undefined"]}}})");
  // An array slot cannot disappear: it stays null (JavaScript: [undefined, 2] -> [null, 2]).
  EXPECT_EQ(json::to_string(d.value), R"({"a":{"c":1},"list":[null,2]})");
}

TEST(SuperjsonDecode, DatePaths) {
  const trpc::decoded_input d = decode_ok(
      R"({"json":{"alerts":[{"createdAt":"2025-01-02T03:04:05.678Z"}],"byTier":{"1":[{"nextEscalationAt":"2026-01-05T10:05:00.000Z"}]}},"meta":{"values":{"alerts.0.createdAt":["Date"],"byTier.1.0.nextEscalationAt":["Date"]},"v":1}})");
  EXPECT_TRUE(d.value.find("alerts")->as_array()[0].find("createdAt")->is_date());
  EXPECT_TRUE(d.value.find("byTier")->find("1")->as_array()[0].find("nextEscalationAt")->is_date());
}

TEST(SuperjsonDecode, EscapedPathSegments) {
  const trpc::decoded_input d = decode_ok(
      R"({"json":{"a.b":{"c\\d":null,"e":"2025-01-02T03:04:05.678Z"},"x\\":"2025-01-02T03:04:05.678Z"},"meta":{"values":{"a\\.b.c\\\\d":["undefined"],"a\\.b.e":["Date"],"x\\\\":["Date"]}}})");
  const value* ab = d.value.find("a.b");
  ASSERT_NE(ab, nullptr);
  EXPECT_EQ(ab->find("c\\d"), nullptr);
  EXPECT_TRUE(ab->find("e")->is_date());
  EXPECT_TRUE(d.value.find("x\\")->is_date());
}

TEST(SuperjsonDecode, LoneBackslashIsLiteral) {
  const trpc::decoded_input d = decode_ok(
      R"({"json":{"a\\b":null},"meta":{"values":{"a\\b":["undefined"]}}})");
  EXPECT_EQ(json::to_string(d.value), "{}");
}

TEST(SuperjsonDecode, EmptyKeyPath) {
  const trpc::decoded_input d =
      decode_ok(R"({"json":{"":{"":null},"k":1},"meta":{"values":{".":["undefined"]}}})");
  EXPECT_EQ(json::to_string(d.value), R"({"":{},"k":1})");
}

TEST(SuperjsonDecode, WriteThenDecodeRoundTrip) {
  value v;
  v.set("a.b", value::make_array().push(value::date(-1)).push("plain"));
  v.set("c\\", value::make_object().set("d", value::date(capture_ms)));
  const std::string text = superjson(v);
  const trpc::decoded_input d = decode_ok(text);
  EXPECT_TRUE(d.value.find("a.b")->as_array()[0].is_date());
  EXPECT_FALSE(d.value.find("a.b")->as_array()[1].is_date());
  EXPECT_TRUE(d.value.find("c\\")->find("d")->is_date());
  EXPECT_EQ(superjson(d.value), text);
}

TEST(SuperjsonDecode, MetaOptionalParts) {
  EXPECT_EQ(json::to_string(decode_ok(R"({"json":{"a":1}})").value), R"({"a":1})");
  EXPECT_EQ(json::to_string(decode_ok(R"({"json":{"a":1},"meta":null})").value), R"({"a":1})");
  EXPECT_EQ(json::to_string(decode_ok(R"({"json":{"a":1},"meta":{}})").value), R"({"a":1})");
  EXPECT_EQ(json::to_string(decode_ok(R"({"json":{"a":1},"meta":{"v":1}})").value), R"({"a":1})");
  EXPECT_EQ(json::to_string(decode_ok(R"({"json":{"a":1},"meta":{"values":{}}})").value),
            R"({"a":1})");
  EXPECT_EQ(json::to_string(decode_ok(R"({"meta":{"v":1},"json":[1]})").value), "[1]");
  EXPECT_EQ(json::to_string(
                decode_ok(R"({"json":{"a":1},"meta":{"referentialEqualities":{"a":["b"]}}})").value),
            R"({"a":1})");
}

// ---- decoder: errors -----------------------------------------------------------------------------

TEST(SuperjsonDecode, UnsupportedTypesNameThePath) {
  struct row {
    const char* envelope;
    const char* message;
  };
  const row rows[] = {
      {R"({"json":{"n":"123"},"meta":{"values":{"n":["bigint"]}}})",
       R"(Invalid input: n: Unsupported superjson type "bigint")"},
      {R"({"json":{"s":[1]},"meta":{"values":{"s":["set"]}}})",
       R"(Invalid input: s: Unsupported superjson type "set")"},
      {R"({"json":{"m":[[1,2]]},"meta":{"values":{"m":["map",{"0.0":["Date"]}]}}})",
       R"(Invalid input: m: Unsupported superjson type "map")"},
      {R"({"json":{"r":"/a/g"},"meta":{"values":{"r":["regexp"]}}})",
       R"(Invalid input: r: Unsupported superjson type "regexp")"},
      {R"({"json":{"o":{"x":1}},"meta":{"values":{"o":[["class","Point"]]}}})",
       R"(Invalid input: o: Unsupported superjson type "class")"},
      {R"({"json":{"o":"v"},"meta":{"values":{"o":[["custom","decimal"]]}}})",
       R"(Invalid input: o: Unsupported superjson type "custom")"},
      {R"({"json":{"a":{"b":"-0"}},"meta":{"values":{"a.b":["number"]}}})",
       R"(Invalid input: a.b: Unsupported superjson type "number")"},
      {R"({"json":"Infinity","meta":{"values":["number"]}})",
       R"(Invalid input: input: Unsupported superjson type "number")"},
      {R"({"json":"x","meta":{"values":["Date"]}})", "Invalid input: input: Invalid date"},
  };
  for (const row& r : rows) EXPECT_EQ(decode_error(r.envelope).message, r.message) << r.envelope;
}

TEST(SuperjsonDecode, InvalidDates) {
  EXPECT_EQ(decode_error(R"({"json":{"d":"yesterday"},"meta":{"values":{"d":["Date"]}}})").message,
            "Invalid input: d: Invalid date");
  EXPECT_EQ(decode_error(R"({"json":{"d":"2025-02-30T00:00:00.000Z"},"meta":{"values":{"d":["Date"]}}})")
                .message,
            "Invalid input: d: Invalid date");
  EXPECT_EQ(decode_error(R"({"json":{"d":1735787045678},"meta":{"values":{"d":["Date"]}}})").message,
            "Invalid input: d: Invalid date");
  EXPECT_EQ(decode_error(R"({"json":{"d":null},"meta":{"values":{"d":["Date"]}}})").message,
            "Invalid input: d: Invalid date");
}

TEST(SuperjsonDecode, UnresolvablePaths) {
  for (const char* envelope : {
           R"({"json":{"a":1},"meta":{"values":{"b":["undefined"]}}})",
           R"({"json":{"a":{"b":1}},"meta":{"values":{"a.c":["Date"]}}})",
           R"({"json":{"list":[1]},"meta":{"values":{"list.1":["undefined"]}}})",
           R"({"json":{"list":[1]},"meta":{"values":{"list.-1":["undefined"]}}})",
           R"({"json":{"list":[1,2]},"meta":{"values":{"list.01":["undefined"]}}})",
           R"({"json":{"list":[1]},"meta":{"values":{"list.x":["undefined"]}}})",
           R"({"json":{"a":"s"},"meta":{"values":{"a.b":["undefined"]}}})",
           R"({"json":"s","meta":{"values":{"a":["Date"]}}})",
           R"({"json":null,"meta":{"values":{"a":["undefined"]}}})",
           R"({"json":{"a":{"b":null}},"meta":{"values":{"a":["undefined"],"a.b":["undefined"]}}})",
       }) {
    const call_error e = decode_error(envelope);
    EXPECT_NE(e.message.find("Invalid superjson path"), std::string::npos) << envelope;
    EXPECT_EQ(e.message.rfind("Invalid input: ", 0), 0u) << e.message;
  }
  EXPECT_EQ(decode_error(R"({"json":{"a":1},"meta":{"values":{"b":["undefined"]}}})").message,
            "Invalid input: b: Invalid superjson path");
}

TEST(SuperjsonDecode, MalformedMeta) {
  for (const char* envelope : {
           R"({"json":1,"meta":"x"})",
           R"({"json":1,"meta":[]})",
           R"({"json":1,"meta":{"values":"Date"}})",
           R"({"json":1,"meta":{"values":7}})",
       }) {
    EXPECT_EQ(decode_error(envelope).message, "Invalid input: input: Invalid superjson meta")
        << envelope;
  }
  for (const char* envelope : {
           R"({"json":{"a":1},"meta":{"values":{"a":"Date"}}})",
           R"({"json":{"a":1},"meta":{"values":{"a":[]}}})",
           R"({"json":{"a":1},"meta":{"values":{"a":[1]}}})",
           R"({"json":{"a":1},"meta":{"values":{"a":[[]]}}})",
           R"({"json":{"a":1},"meta":{"values":{"a":null}}})",
       }) {
    EXPECT_EQ(decode_error(envelope).message, "Invalid input: a: Invalid superjson annotation")
        << envelope;
  }
  EXPECT_EQ(decode_error(R"({"json":1,"meta":{"values":[]}})").message,
            "Invalid input: input: Invalid superjson annotation");
}

TEST(SuperjsonDecode, NotAnEnvelope) {
  for (const char* text : {R"({"a":1})", R"({"json":1,"x":2})", "[1]", "null", R"("json")"}) {
    EXPECT_EQ(decode_error(text).message, "Invalid input: input: Invalid superjson envelope")
        << text;
  }
}

TEST(SuperjsonEnvelope, Detection) {
  EXPECT_TRUE(trpc::is_superjson_envelope(parse_json(R"({"json":null})")));
  EXPECT_TRUE(trpc::is_superjson_envelope(parse_json(R"({"json":{},"meta":{}})")));
  EXPECT_TRUE(trpc::is_superjson_envelope(parse_json(R"({"meta":{},"json":1})")));
  EXPECT_FALSE(trpc::is_superjson_envelope(parse_json(R"({"meta":{}})")));
  EXPECT_FALSE(trpc::is_superjson_envelope(parse_json(R"({"json":1,"meta":{},"cursor":2})")));
  EXPECT_FALSE(trpc::is_superjson_envelope(parse_json(R"({})")));
  EXPECT_FALSE(trpc::is_superjson_envelope(parse_json(R"([{"json":1}])")));
  EXPECT_FALSE(trpc::is_superjson_envelope(value("json")));
  EXPECT_FALSE(trpc::is_superjson_envelope(value()));
}

TEST(SuperjsonDecode, EveryCapturedClientInputDecodes) {
  // All superjson inputs the real clients sent (both versions).
  size_t decoded = 0;
  for (const char* file :
       {"capture-v11.25.2-superjson.txt", "capture-client11.1.4-server11.3.1-superjson.txt",
        "capture-v11.25.2-appshaped.txt", "capture-client11.1.4-server11.3.1-appshaped.txt",
        "capture-hybrid-flat-tracked.txt"}) {
    std::ifstream in(std::string(VIGIL_TESTDATA_DIR) + "/trpc-frames/" + file);
    std::string line;
    while (std::getline(in, line)) {
      const size_t at = line.find("] C->S ");
      if (at == std::string::npos) continue;
      auto frame = trpc::parse_ws_frame(line.substr(at + 7));
      if (!std::holds_alternative<trpc::ws_frame>(frame)) continue; // probes and connectionParams
      for (const trpc::ws_request& r : std::get<trpc::ws_frame>(frame).requests) {
        if (!r.has_input) continue;
        ASSERT_TRUE(trpc::is_superjson_envelope(r.input)) << line;
        auto result = trpc::decode_superjson(r.input);
        ASSERT_TRUE(std::holds_alternative<trpc::decoded_input>(result)) << line;
        const auto& d = std::get<trpc::decoded_input>(result);
        const value* meta_values = r.input.find("meta") ? r.input.find("meta")->find("values") : nullptr;
        const bool root_undefined = meta_values && meta_values->is_array();
        EXPECT_EQ(d.present, !root_undefined) << line;
        ++decoded;
      }
    }
  }
  EXPECT_GT(decoded, 50u);
}

namespace {

/// An envelope whose `json` is an object of `n` string members (`k0`…), each annotated.
std::string many_annotations(size_t n, const char* annotation) {
  std::string members;
  std::string values;
  for (size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (i > 0) {
      members += ',';
      values += ',';
    }
    members += "\"" + key + "\":\"2025-01-02T03:04:05.678Z\"";
    values += "\"" + key + "\":[\"" + annotation + "\"]";
  }
  return R"({"json":{)" + members + R"(},"meta":{"values":{)" + values + "}}}";
}

} // namespace

/// CPU time consumed by the calling thread, in milliseconds.
static double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

TEST(SuperjsonDecode, ManyAnnotationsDecodeInLinearTime) {
  // 50,000 members of one object: a lookup by scanning the members and an erase that shifts
  // them were quadratic (seconds of a worker); a linear decode takes a few milliseconds.
  constexpr size_t n = 50000;
  for (const char* annotation : {"undefined", "Date"}) {
    const value envelope = parse_json(many_annotations(n, annotation));
    // This thread's CPU time, not the wall clock: other processes on a loaded machine do not count.
    const auto start = thread_cpu_ms();
    auto result = trpc::decode_superjson(envelope, n);
    const auto ms = thread_cpu_ms() - start;
    ASSERT_TRUE(std::holds_alternative<trpc::decoded_input>(result)) << annotation;
    const value& decoded = std::get<trpc::decoded_input>(result).value;
    if (std::string_view(annotation) == "undefined") {
      EXPECT_TRUE(decoded.is_object());
      EXPECT_EQ(decoded.size(), 0u);
    } else {
      ASSERT_EQ(decoded.size(), n);
      EXPECT_TRUE(decoded.find("k0")->is_date());
      EXPECT_TRUE(decoded.find("k49999")->is_date());
    }
    EXPECT_LT(ms, 1000) << annotation; // ~20-50 ms; quadratic: ~7 s
  }
}

TEST(SuperjsonDecode, UndefinedKeepsTheOrderOfTheOtherMembers) {
  const auto d = decode_ok(
      R"({"json":{"a":1,"b":2,"c":3,"d":{"x":1,"y":2}},"meta":{"values":{"b":["undefined"],"d.x":["undefined"],"d":["undefined"]}}})");
  EXPECT_EQ(json::to_string(d.value), R"({"a":1,"c":3})");
  const auto e = decode_ok(
      R"({"json":{"a":1,"b":2,"c":3},"meta":{"values":{"a":["undefined"],"c":["undefined"]}}})");
  EXPECT_EQ(json::to_string(e.value), R"({"b":2})");
  const auto list = decode_ok(
      R"({"json":{"l":[{"a":1},{"b":"2025-01-02T03:04:05.678Z"}]},"meta":{"values":{"l.0":["undefined"],"l.1.b":["Date"]}}})");
  EXPECT_EQ(json::to_string(list.value), R"({"l":[null,{"b":"2025-01-02T03:04:05.678Z"}]})");
  EXPECT_TRUE(list.value.find("l")->as_array()[1].find("b")->is_date());
  // A removal inside a subtree that is removed afterwards, as a member or as an array slot.
  const auto nested = decode_ok(
      R"({"json":{"a":{"b":1,"c":2},"l":[{"x":1,"y":2}],"k":{"m":{"n":1,"o":2}}},"meta":{"values":{"a.b":["undefined"],"a":["undefined"],"l.0.x":["undefined"],"l.0":["undefined"],"k.m.n":["undefined"]}}})");
  EXPECT_EQ(json::to_string(nested.value), R"({"l":[null],"k":{"m":{"o":2}}})");
}

TEST(SuperjsonDecode, AnnotationCountIsBounded) {
  // The default bound admits any legitimate input and rejects more, before any work on them.
  EXPECT_TRUE(std::holds_alternative<trpc::decoded_input>(trpc::decode_superjson(
      parse_json(many_annotations(trpc::max_superjson_annotations, "Date")))));
  auto result = trpc::decode_superjson(
      parse_json(many_annotations(trpc::max_superjson_annotations + 1, "Date")));
  ASSERT_TRUE(std::holds_alternative<call_error>(result));
  const call_error& e = std::get<call_error>(result);
  EXPECT_EQ(e.code, trpc_code::bad_request);
  EXPECT_EQ(e.message, "Invalid input: input: Too many superjson annotations (more than " +
                           std::to_string(trpc::max_superjson_annotations) + ")");
}

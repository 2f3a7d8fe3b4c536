// The request pipeline as one decision (domain/pipeline.hpp): every branch of
// docs/api.md "Order of checks", token selection and reply encoding.

#include "domain/pipeline.hpp"

#include <gtest/gtest.h>

#include <map>

namespace vigil {
namespace {

constexpr int64_t now_ms = 1767607200000; // 2026-01-05T10:00:00Z
const std::string alert_h1 = "01a23453-9430-456e-9b24-cc1524c8b691";
const std::string alert_h2 = "11a23453-9430-456e-9b24-cc1524c8b692";

json::value parse(const std::string& text) {
  std::string err;
  auto v = json::parse(text, &err);
  EXPECT_TRUE(v.has_value()) << err;
  return v ? *v : json::value{};
}

identity person(role r, int64_t exp_sec = 4102444800) {
  identity who;
  who.sub = "u-1";
  who.user_role = r;
  who.hospitals = {"h1"};
  who.exp = exp_sec;
  return who;
}

auth_state signed_in(role r, int64_t exp_sec = 4102444800) {
  auth_state a;
  a.who = std::make_shared<const identity>(person(r, exp_sec));
  a.reason = auth_reason::none;
  return a;
}

call_context context(call_transport t = call_transport::websocket) {
  call_context ctx;
  ctx.transport = t;
  ctx.now_ms = now_ms;
  ctx.hospital_of = [](const std::string& id) -> std::optional<std::string> {
    if (id == alert_h1)
      return std::string{"h1"};
    if (id == alert_h2)
      return std::string{"h2"};
    return std::nullopt;
  };
  return ctx;
}

struct fixture {
  json::value input;
  json::value id{1};
  call_request req(trpc::rpc_method m, std::string_view path, bool with_input = true) {
    return call_request{m, path, with_input ? &input : nullptr, &id};
  }
};

const refusal& refused(const decision& d) {
  static const refusal none;
  auto* r = d.refused();
  EXPECT_NE(r, nullptr) << "the call was routed";
  return r != nullptr ? *r : none;
}

routed_call routed(decision d) {
  auto* r = d.routed();
  if (r == nullptr) {
    ADD_FAILURE() << "refused: " << d.refused()->error.message;
    return {};
  }
  return std::move(*r);
}

// ---- authentication -------------------------------------------------------------------------

TEST(authenticate, MissingValidInvalidExpired) {
  jwt_config cfg;
  auto none = authenticate(std::nullopt, cfg, now_ms);
  EXPECT_EQ(none.who, nullptr);
  EXPECT_EQ(none.failure, auth_failure::missing);
  EXPECT_EQ(authenticate(std::string{}, cfg, now_ms).failure, auth_failure::missing);

  auto ok = authenticate(mint_hs256(cfg.hs256_secret, person(role::nurse), now_ms / 1000 - 5), cfg,
                         now_ms);
  ASSERT_NE(ok.who, nullptr);
  EXPECT_EQ(ok.who->user_role, role::nurse);

  auto bad = authenticate(std::string{"a.b.c"}, cfg, now_ms);
  EXPECT_EQ(bad.who, nullptr);
  EXPECT_EQ(bad.failure, auth_failure::invalid);

  auto old = authenticate(
    mint_hs256(cfg.hs256_secret, person(role::nurse, now_ms / 1000 - 1), now_ms / 1000 - 60), cfg,
    now_ms);
  EXPECT_EQ(old.failure, auth_failure::expired);
  EXPECT_EQ(old.reason, auth_reason::expired);
}

TEST(ws_token, ParamsTokenThenParamsAuthorizationThenHeader) {
  trpc::connection_params p;
  p.token = "t-param";
  p.authorization = "Bearer t-auth";
  EXPECT_EQ(ws_token(&p, "Bearer t-header"), std::optional<std::string>{"t-param"});
  p.token.reset();
  EXPECT_EQ(ws_token(&p, "Bearer t-header"), std::optional<std::string>{"t-auth"});
  p.authorization.reset();
  EXPECT_EQ(ws_token(&p, "Bearer t-header"), std::optional<std::string>{"t-header"});
  EXPECT_EQ(ws_token(nullptr, "Bearer t-header"), std::optional<std::string>{"t-header"});
  EXPECT_EQ(ws_token(nullptr, ""), std::nullopt);
}

TEST(ws_token, NonBearerValueIsATokenThatNeverVerifies) {
  trpc::connection_params p;
  p.authorization = "Basic abc";
  auto t = ws_token(&p, "");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(authenticate(t, jwt_config{}, now_ms).failure, auth_failure::invalid);
  auto h = ws_token(nullptr, "Token xyz");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(authenticate(h, jwt_config{}, now_ms).failure, auth_failure::invalid);
}

TEST(http_token, TrimsAndTreatsBlankAsMissing) {
  EXPECT_EQ(http_token(""), std::nullopt);
  EXPECT_EQ(http_token("  \t "), std::nullopt);
  EXPECT_EQ(http_token("  Bearer abc  "), std::optional<std::string>{"abc"});
  auto junk = http_token("Bearer");
  ASSERT_TRUE(junk.has_value());
  EXPECT_EQ(authenticate(junk, jwt_config{}, now_ms).failure, auth_failure::invalid);
}

// ---- encoding -------------------------------------------------------------------------------

TEST(replies_superjson, AutoFollowsTheInputOthersForce) {
  auto env = parse(R"({"json":{"a":1},"meta":{}})");
  auto plain = parse(R"({"a":1})");
  EXPECT_TRUE(replies_superjson(&env, transformer_mode::auto_detect));
  EXPECT_FALSE(replies_superjson(&plain, transformer_mode::auto_detect));
  EXPECT_FALSE(replies_superjson(nullptr, transformer_mode::auto_detect));
  EXPECT_TRUE(replies_superjson(nullptr, transformer_mode::superjson));
  EXPECT_TRUE(replies_superjson(&plain, transformer_mode::superjson));
  EXPECT_FALSE(replies_superjson(&env, transformer_mode::json));
}

TEST(decide, TransformerJsonStillDecodesEnvelopes) {
  fixture f;
  f.input = parse(R"({"json":{"alertId":")" + alert_h1 + R"("}})");
  auto ctx = context();
  ctx.transformer = transformer_mode::json;
  auto d = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"), signed_in(role::viewer),
                  ctx);
  EXPECT_FALSE(d.superjson);
  EXPECT_TRUE(d.envelope);
  auto r = routed(std::move(d));
  EXPECT_EQ(r.hospital_id, "h1");
}

// ---- each branch, in order ------------------------------------------------------------------

TEST(decide, RateLimitComesFirst) {
  fixture f;
  auto ctx = context();
  ctx.rate_limited = call_error{trpc_code::too_many_requests, "Rate limit exceeded."};
  auto d = decide(f.req(trpc::rpc_method::query, "no.such"), auth_state{}, ctx);
  EXPECT_EQ(refused(d).error.code, trpc_code::too_many_requests);
}

TEST(decide, UnknownProcedureOverWebSocket) {
  fixture f;
  auto d = decide(f.req(trpc::rpc_method::query, "healthcare.nope"), auth_state{}, context());
  EXPECT_EQ(refused(d).error.code, trpc_code::not_found);
  EXPECT_EQ(refused(d).error.message, R"(No "query"-procedure on path "healthcare.nope")");
  // The wrong kind is also NOT_FOUND over WebSocket.
  auto k = decide(f.req(trpc::rpc_method::mutation, "healthcare.getAlert"), auth_state{},
                  context());
  EXPECT_EQ(refused(k).error.message, R"(No "mutation"-procedure on path "healthcare.getAlert")");
  EXPECT_EQ(refused(k).allow, nullptr);
}

TEST(decide, UnknownProcedureAndWrongVerbOverHttp) {
  fixture f;
  auto ctx = context(call_transport::http);
  auto d = decide(f.req(trpc::rpc_method::query, "healthcare.nope"), auth_state{}, ctx);
  EXPECT_EQ(refused(d).error.message, R"(No procedure found on path "healthcare.nope")");
  auto get_mutation = decide(f.req(trpc::rpc_method::query, "healthcare.createAlert"),
                             auth_state{}, ctx);
  EXPECT_EQ(refused(get_mutation).error.code, trpc_code::method_not_supported);
  EXPECT_EQ(refused(get_mutation).error.message,
            R"(Unsupported GET-request to mutation procedure at path "healthcare.createAlert")");
  EXPECT_STREQ(refused(get_mutation).allow, "POST");
  auto post_query = decide(f.req(trpc::rpc_method::mutation, "healthcare.getAlert"), auth_state{},
                           ctx);
  EXPECT_STREQ(refused(post_query).allow, "GET");
  auto get_sub = decide(f.req(trpc::rpc_method::query, "healthcare.subscribeToAlerts"),
                        auth_state{}, ctx);
  EXPECT_EQ(refused(get_sub).error.message,
            R"(Unsupported GET-request to subscription procedure at path "healthcare.subscribeToAlerts")");
  EXPECT_EQ(refused(get_sub).allow, nullptr);
}

TEST(decide, DuplicateIdThenSubscriptionLimitThenConnectionExpiry) {
  fixture f;
  f.input = parse(R"({"hospitalId":"h1"})");
  f.id = json::value{"sub-1"};
  auto ctx = context();
  ctx.duplicate_id = true;
  ctx.open_subscriptions = 5;
  ctx.max_subscriptions = 5;
  ctx.connection_token_expired = true;
  auto who = signed_in(role::viewer);
  auto req = f.req(trpc::rpc_method::subscription, "healthcare.subscribeToAlerts");
  EXPECT_EQ(refused(decide(req, who, ctx)).error.message, "Duplicate id sub-1");
  f.id = json::value{7};
  EXPECT_EQ(refused(decide(req, who, ctx)).error.message, "Duplicate id 7");
  ctx.duplicate_id = false;
  EXPECT_EQ(refused(decide(req, who, ctx)).error.message,
            "Too many subscriptions on this connection (max 5)");
  ctx.max_subscriptions = 6;
  auto expired = decide(req, who, ctx);
  EXPECT_EQ(refused(expired).error.code, trpc_code::unauthorized);
  EXPECT_EQ(refused(expired).error.message, "Token expired");
  EXPECT_FALSE(refused(expired).auth_failure_seen.has_value()); // not counted again
  ctx.connection_token_expired = false;
  EXPECT_NE(decide(req, who, ctx).routed(), nullptr);
}

TEST(decide, SubscriptionSlotsAreNotCheckedForQueriesOrOverHttp) {
  fixture f;
  f.input = parse(R"({"hospitalId":"h1"})");
  auto ctx = context();
  ctx.duplicate_id = true;
  ctx.max_subscriptions = 0;
  EXPECT_NE(decide(f.req(trpc::rpc_method::query, "healthcare.getMetrics"),
                   signed_in(role::viewer), ctx)
              .routed(),
            nullptr);
}

TEST(decide, MissingInvalidAndExpiredTokens) {
  fixture f;
  f.input = parse(R"({"hospitalId":"h1"})");
  auto req = f.req(trpc::rpc_method::query, "healthcare.getMetrics");
  auth_state missing;
  auto m = decide(req, missing, context());
  EXPECT_EQ(refused(m).error.code, trpc_code::unauthorized);
  EXPECT_EQ(refused(m).error.message, "Authentication required");
  EXPECT_EQ(refused(m).auth_failure_seen, auth_failure::missing);

  auth_state invalid;
  invalid.failure = auth_failure::invalid;
  EXPECT_EQ(refused(decide(req, invalid, context())).error.message, "Invalid token");
  EXPECT_EQ(refused(decide(req, invalid, context())).auth_failure_seen, auth_failure::invalid);

  // Valid when the connection authenticated, expired by the time of this call.
  auto later = signed_in(role::viewer, now_ms / 1000);
  auto e = decide(req, later, context());
  EXPECT_EQ(refused(e).error.message, "Token expired");
  EXPECT_EQ(refused(e).auth_failure_seen, auth_failure::expired);
}

TEST(decide, ForbiddenRole) {
  fixture f;
  f.input = parse(R"({"alertId":")" + alert_h1 + R"("})");
  auto d = decide(f.req(trpc::rpc_method::mutation, "healthcare.triggerEscalation"),
                  signed_in(role::nurse), context());
  EXPECT_EQ(refused(d).error.code, trpc_code::forbidden);
  EXPECT_EQ(refused(d).error.message, "Access denied. Required permission: escalate_alerts");
}

TEST(decide, InvalidInputAndBadSuperjson) {
  fixture f;
  f.input = parse(R"({"alertId":"not-a-uuid"})");
  auto d = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"), signed_in(role::viewer),
                  context());
  EXPECT_EQ(refused(d).error.code, trpc_code::bad_request);
  EXPECT_EQ(refused(d).error.message.rfind("Invalid input: alertId", 0), 0u)
    << refused(d).error.message;

  auto none = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert", false),
                     signed_in(role::viewer), context());
  EXPECT_EQ(refused(none).error.code, trpc_code::bad_request);

  f.input = parse(R"({"json":{"alertId":"x"},"meta":{"values":{"alertId":["bigint"]}}})");
  auto sj = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"), signed_in(role::viewer),
                   context());
  EXPECT_TRUE(sj.superjson);
  EXPECT_EQ(refused(sj).error.message, R"(Invalid input: alertId: Unsupported superjson type "bigint")");
}

TEST(decide, UnknownAlert) {
  fixture f;
  f.input = parse(R"({"alertId":"21a23453-9430-456e-9b24-cc1524c8b693"})");
  auto d = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"), signed_in(role::admin),
                  context());
  EXPECT_EQ(refused(d).error.code, trpc_code::not_found);
  EXPECT_EQ(refused(d).error.message, "Alert not found");
  // Without an alert index every alert is unknown.
  auto ctx = context();
  ctx.hospital_of = nullptr;
  f.input = parse(R"({"alertId":")" + alert_h1 + R"("})");
  EXPECT_EQ(refused(decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"),
                           signed_in(role::admin), ctx))
              .error.message,
            "Alert not found");
}

TEST(decide, ForeignHospital) {
  fixture f;
  f.input = parse(R"({"alertId":")" + alert_h2 + R"("})");
  auto a = decide(f.req(trpc::rpc_method::query, "healthcare.getAlert"), signed_in(role::admin),
                  context());
  EXPECT_EQ(refused(a).error.code, trpc_code::forbidden);
  EXPECT_EQ(refused(a).error.message, "Access denied to this hospital");

  f.input = parse(R"({"hospitalId":"h2"})");
  auto h = decide(f.req(trpc::rpc_method::query, "healthcare.getMetrics"), signed_in(role::admin),
                  context());
  EXPECT_EQ(refused(h).error.message, "Access denied to this hospital");

  f.input = parse(R"({"hospitalId":"h2","roomNumber":"icu-1","alertType":"fire","urgencyLevel":2})");
  auto c = decide(f.req(trpc::rpc_method::mutation, "healthcare.createAlert"),
                  signed_in(role::nurse), context());
  EXPECT_EQ(refused(c).error.message,
            "Invalid hospital ID. You can only create alerts for your assigned hospital.");
}

TEST(decide, RoutedCallCarriesNormalisedInputAndTarget) {
  fixture f;
  std::string upper = "01A23453-9430-456E-9B24-CC1524C8B691";
  f.input = parse(R"({"alertId":")" + upper + R"("})");
  auto r = routed(decide(f.req(trpc::rpc_method::mutation, "healthcare.acknowledgeAlert"),
                         signed_in(role::nurse), context()));
  ASSERT_NE(r.proc, nullptr);
  EXPECT_EQ(r.proc->id, procedure::acknowledge_alert);
  EXPECT_EQ(r.hospital_id, "h1");
  ASSERT_NE(r.who, nullptr);
  EXPECT_EQ(r.who->sub, "u-1");
  EXPECT_EQ(r.input.find("alertId")->as_string(), alert_h1); // lower-cased
  ASSERT_NE(r.input.find("urgencyAssessment"), nullptr);     // default applied
  EXPECT_EQ(r.input.find("urgencyAssessment")->as_string(), "maintain");

  f.input = parse(R"({"hospitalId":"h1","roomNumber":"icu-1","alertType":"fire","urgencyLevel":2})");
  auto c = routed(decide(f.req(trpc::rpc_method::mutation, "healthcare.createAlert"),
                         signed_in(role::nurse), context(call_transport::http)));
  EXPECT_EQ(c.hospital_id, "h1");
  EXPECT_EQ(c.input.find("roomNumber")->as_string(), "ICU-1");
}

TEST(decide, BatchProceduresAreRoutedPerAlertLater) {
  fixture f;
  f.input = parse(R"({"alertIds":[")" + std::string{"01A23453-9430-456E-9B24-CC1524C8B691"}
                  + R"(",")" + alert_h2 + R"("]})");
  auto r = routed(decide(f.req(trpc::rpc_method::mutation, "healthcare.batchAcknowledgeAlerts"),
                         signed_in(role::nurse), context()));
  EXPECT_TRUE(r.hospital_id.empty());
  auto& ids = r.input.find("alertIds")->as_array();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0].as_string(), alert_h1); // lower-cased; the foreign one is checked per alert
}

} // namespace
} // namespace vigil

// ---- the audit trail ------------------------------------------------------------------------

namespace vigil {
namespace {

std::optional<audit_record> audit_of_call(trpc::rpc_method m, std::string_view path,
                                          const std::string& input, const auth_state& auth,
                                          call_context ctx = context()) {
  fixture f;
  f.input = parse(input);
  auto req = f.req(m, path);
  auto d = decide(req, auth, ctx);
  auto* r = d.refused();
  EXPECT_NE(r, nullptr) << "the call was routed";
  if (r == nullptr)
    return std::nullopt;
  return refusal_audit(req, *r, auth, ctx);
}

TEST(refusal_audit, AForeignHospitalsAlertIsRecordedForThatHospitalWithTheVerifiedUser) {
  auto rec = audit_of_call(trpc::rpc_method::mutation, "healthcare.acknowledgeAlert",
                           R"({"alertId":")" + alert_h2 + R"(","notes":"secret text"})",
                           signed_in(role::nurse));
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->action, "acknowledgeAlert");
  EXPECT_EQ(rec->outcome, "FORBIDDEN");
  EXPECT_EQ(rec->user_id, "u-1");
  EXPECT_EQ(rec->role, "nurse");
  EXPECT_EQ(rec->hospital_id, "h2");
  EXPECT_EQ(rec->alert_id, alert_h2);
  EXPECT_EQ(rec->ts, now_ms);
  EXPECT_EQ(audit_canonical(*rec).find("secret"), std::string::npos);
}

TEST(refusal_audit, AnUnverifiedTokenRecordsNoUserButTheTarget) {
  auth_state anonymous;  // no token
  auto upper = alert_h1;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto rec = audit_of_call(trpc::rpc_method::mutation, "healthcare.resolveAlert",
                           R"({"json":{"alertId":")" + upper + R"("}})", anonymous);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->outcome, "UNAUTHORIZED");
  EXPECT_EQ(rec->user_id, "");
  EXPECT_EQ(rec->role, "");
  EXPECT_EQ(rec->alert_id, alert_h1) << "lower-cased, from the superjson envelope";
  EXPECT_EQ(rec->hospital_id, "h1");
  // Unauthenticated queries and subscriptions are recorded too; a malformed hospital id is not.
  auto query = audit_of_call(trpc::rpc_method::query, "healthcare.getActiveAlerts",
                             R"({"hospitalId":"bad id with spaces"})", anonymous);
  ASSERT_TRUE(query);
  EXPECT_EQ(query->action, "getActiveAlerts");
  EXPECT_EQ(query->hospital_id, "");
}

TEST(refusal_audit, RefusedMutationsAndAuditReadsOnlyNeverRateLimitsOrUnknownPaths) {
  auto nurse = signed_in(role::nurse);
  auto bad = audit_of_call(trpc::rpc_method::mutation, "healthcare.createAlert",
                           R"({"hospitalId":"h1","description":"secret"})", nurse);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->outcome, "BAD_REQUEST");
  EXPECT_EQ(bad->hospital_id, "h1");
  auto read = audit_of_call(trpc::rpc_method::query, "healthcare.getAuditLog",
                            R"({"hospitalId":"h1"})", nurse);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->outcome, "FORBIDDEN");
  // A refused query by a signed-in user is not an action.
  EXPECT_FALSE(audit_of_call(trpc::rpc_method::query, "healthcare.getActiveAlerts",
                             R"({"hospitalId":"h2"})", nurse));
  EXPECT_FALSE(audit_of_call(trpc::rpc_method::mutation, "healthcare.noSuchThing", "{}", nurse));
  auto limited = context();
  limited.rate_limited = call_error{trpc_code::too_many_requests, "Rate limit exceeded"};
  EXPECT_FALSE(audit_of_call(trpc::rpc_method::mutation, "healthcare.acknowledgeAlert",
                             R"({"alertId":")" + alert_h2 + R"("})", auth_state{}, limited));
}

} // namespace
} // namespace vigil

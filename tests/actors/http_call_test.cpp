// The http_call actor (one per tRPC HTTP request) under CAF's deterministic test coordinator,
// with the real directory, hospital and storage actors: the one response it writes.

#include "tests/actors/hospital_harness.hpp"

#include "actors/http_call.hpp"
#include "domain/auth.hpp"

namespace vigil::test {
namespace {

class http_harness : public harness {
public:
  http_harness() { start_server(); }

  std::string bearer(const identity& who) {
    return "Bearer " + mint_hs256(rt->cfg.jwt.hs256_secret, who, now() / 1000 - 5);
  }

  /// Runs one request to completion; returns its response (status 0 when none was written).
  http_response call(http_request req) {
    req.conn_id = next_conn_++;
    rt->out->open(req.conn_id);
    auto conn = req.conn_id;
    spawn_http_call(system(), rt, std::make_shared<const http_request>(std::move(req)));
    EXPECT_TRUE(run());
    http_response r;
    r.status = 0;
    EXPECT_TRUE(rt->out->take_response(conn, r)) << "no response";
    return r;
  }

  http_request get(std::string path, std::optional<std::string> input, const identity* who,
                   bool batch = false) {
    http_request r;
    r.path = std::move(path);
    r.batch = batch;
    r.has_input = input.has_value();
    r.input = input.value_or("");
    if (who != nullptr)
      r.authorization = bearer(*who);
    return r;
  }

  http_request post(std::string path, std::string body, const identity& who) {
    http_request r;
    r.post = true;
    r.path = std::move(path);
    r.content_type = "application/json";
    r.authorization = bearer(who);
    r.body = std::move(body);
    return r;
  }

private:
  uint64_t next_conn_ = 100;
};

std::string code_of(const json::value& item) {
  auto& c = at(at(at(item, "error"), "data"), "code");
  return c.is_string() ? c.as_string() : std::string{};
}
std::string message_of(const json::value& item) {
  auto& m = at(at(item, "error"), "message");
  return m.is_string() ? m.as_string() : std::string{};
}

TEST(http_call_actor, SingleQueryIsAnsweredWithItsResult) {
  http_harness h;
  auto r = h.call(h.get("healthcare.getMetrics", R"({"hospitalId":"h1"})", &h.viewer));
  EXPECT_EQ(r.status, 200);
  auto v = parse_json(r.body);
  EXPECT_TRUE(at(at(v, "result"), "data").is_object()) << r.body;
}

TEST(http_call_actor, BatchIsOneResponseWithItemsInOrder) {
  http_harness h;
  auto id = h.create_alert(h.hospital());
  ASSERT_FALSE(id.empty());
  auto r = h.call(h.get("healthcare.getAlert,healthcare.nope,healthcare.getMetrics,healthcare.getAlert",
                        R"({"0":{"alertId":")" + id + R"("},"2":{"hospitalId":"h1"},"3":{"alertId":"x"}})",
                        &h.viewer, true));
  EXPECT_EQ(r.status, 207); // the items' statuses differ
  auto v = parse_json(r.body);
  ASSERT_TRUE(v.is_array()) << r.body;
  auto& items = v.as_array();
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(at(at(at(items[0], "result"), "data"), "id").as_string(), id);
  EXPECT_EQ(code_of(items[1]), "NOT_FOUND");
  EXPECT_EQ(message_of(items[1]), R"(No procedure found on path "healthcare.nope")");
  EXPECT_TRUE(at(at(items[2], "result"), "data").is_object());
  EXPECT_EQ(code_of(items[3]), "BAD_REQUEST");
}

TEST(http_call_actor, BatchOfSuccessesIs200) {
  http_harness h;
  auto r = h.call(h.get("healthcare.getMetrics,healthcare.getMetrics",
                        R"({"0":{"hospitalId":"h1"},"1":{"hospitalId":"h1"}})", &h.viewer, true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(parse_json(r.body).as_array().size(), 2u);
}

TEST(http_call_actor, AuthenticationFailures) {
  http_harness h;
  auto missing = h.call(h.get("healthcare.getMetrics", R"({"hospitalId":"h1"})", nullptr));
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(message_of(parse_json(missing.body)), "Authentication required");

  auto req = h.get("healthcare.getMetrics", R"({"hospitalId":"h1"})", nullptr);
  req.authorization = "Basic dXNlcjpwYXNz";
  auto invalid = h.call(req);
  EXPECT_EQ(invalid.status, 401);
  EXPECT_EQ(message_of(parse_json(invalid.body)), "Invalid token");

  auto old = h.viewer;
  old.exp = h.now() / 1000 - 1;
  req.authorization = "Bearer " + mint_hs256(h.rt->cfg.jwt.hs256_secret, old, h.now() / 1000 - 60);
  auto expired = h.call(req);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(message_of(parse_json(expired.body)), "Token expired");
}

TEST(http_call_actor, WrongVerbOnASingleCallIs405WithAllow) {
  http_harness h;
  auto r = h.call(h.get("healthcare.createAlert", std::nullopt, &h.operator_));
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "POST");
}

TEST(http_call_actor, MutationByPostAndForeignHospital) {
  http_harness h;
  auto req = h.post("healthcare.createAlert",
                    R"({"hospitalId":"h2","roomNumber":"ICU-1","alertType":"fire","urgencyLevel":2})",
                    h.operator_);
  auto foreign = h.call(req);
  EXPECT_EQ(foreign.status, 403);
  req.body = R"({"hospitalId":"h1","roomNumber":"ICU-1","alertType":"fire","urgencyLevel":2})";
  auto ok = h.call(req);
  EXPECT_EQ(ok.status, 200) << ok.body;
  req.content_type = "text/plain";
  EXPECT_EQ(h.call(req).status, 415);
}

TEST(http_call_actor, AMutationTheHospitalHeldWhenItCrashedIsAnswered) {
  // The hospital took the call, asked the storage actor to commit it and died before the
  // answer: without an answer the request stayed open.
  http_harness h;
  auto hospital = h.hospital();
  auto req = h.post("healthcare.createAlert",
                    R"({"hospitalId":"h1","roomNumber":"ICU-1","alertType":"fire","urgencyLevel":2})",
                    h.operator_);
  req.conn_id = 99;
  h.rt->out->open(req.conn_id);
  spawn_http_call(h.system(), h.rt, std::make_shared<const http_request>(req));
  for (int i = 0; i < 1000 && !h.runs_next(hospital) && h.sched->has_job(); ++i)
    h.sched->run_once();
  ASSERT_TRUE(h.runs_next(hospital));
  h.sched->run_once(); // the hospital takes the call and asks the storage actor to commit it
  ASSERT_TRUE(h.runs_next(h.rt->storage));
  h.crash_at_once(hospital);
  ASSERT_TRUE(h.run());
  http_response r;
  ASSERT_TRUE(h.rt->out->take_response(req.conn_id, r)) << "no response";
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("The hospital failed during the call; it may have taken effect"),
            std::string::npos)
    << r.body;
}

TEST(http_call_actor, RateLimitRefusesItemsBeyondTheBurst) {
  http_harness h;
  auto req = h.get("healthcare.getMetrics,healthcare.getMetrics,healthcare.getMetrics",
                   R"({"0":{"hospitalId":"h1"},"1":{"hospitalId":"h1"},"2":{"hospitalId":"h1"}})",
                   &h.viewer, true);
  req.rate = std::make_shared<rate_limiter>(1, 2);
  auto r = h.call(req);
  EXPECT_EQ(r.status, 207);
  auto v = parse_json(r.body);
  ASSERT_TRUE(v.is_array()) << r.body;
  auto& items = v.as_array();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_TRUE(at(items[0], "result").is_object());
  EXPECT_TRUE(at(items[1], "result").is_object());
  EXPECT_EQ(code_of(items[2]), "TOO_MANY_REQUESTS");
}

} // namespace
} // namespace vigil::test

// The connection actor (one per WebSocket) under CAF's deterministic test coordinator, with the
// real directory, hospital and storage actors: what a frame leads to in the outbox.

#include "tests/actors/hospital_harness.hpp"

#include "actors/connection.hpp"
#include "domain/auth.hpp"

namespace vigil::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t conn_id = 7;

/// A harness with one connection actor on conn_id, authenticated by the upgrade request's
/// Authorization header when `who` is given.
class connection_harness : public harness {
public:
  explicit connection_harness(std::optional<identity> who = {}, bool expects_params = false,
                              double rate = 0, double burst = 0) {
    rt->cfg.rate = rate;
    rt->cfg.rate_burst = burst;
    start_server();
    rt->out->open(conn_id);
    connection_args args;
    args.conn_id = conn_id;
    args.peer = "127.0.0.1:5000";
    args.expects_params = expects_params;
    if (who)
      args.header_authorization = "Bearer " + token_for(*who);
    conn = spawn_connection(system(), rt, std::move(args));
    EXPECT_TRUE(run());
  }

  ~connection_harness() {
    caf::anon_send(conn, closed_atom::value, uint16_t{1000});
    run_messages();
  }

  std::string token_for(const identity& who) {
    return mint_hs256(rt->cfg.jwt.hs256_secret, who, now() / 1000 - 5);
  }

  /// Sends a text frame and runs everything due now; returns the frames written since.
  std::vector<frame> send(const std::string& text, bool binary = false) {
    caf::anon_send(conn, ws_frame_atom::value, text, binary);
    EXPECT_TRUE(run());
    return take_frames(conn_id);
  }

  /// Sends a text frame and runs one message at a time until `reached()` (false when nothing
  /// is left to run first): the moment to crash an actor with a call in its hands.
  template <class Predicate>
  bool send_until(const std::string& text, Predicate reached) {
    caf::anon_send(conn, ws_frame_atom::value, text, false);
    while (!reached()) {
      if (!sched->has_job())
        return false;
      sched->run_once();
    }
    return true;
  }

  connection_actor conn;
};

const json::value& error_of(const frame& f) { return at(f.v, "error"); }
std::string code_of(const frame& f) {
  return at(at(error_of(f), "data"), "code").is_string()
           ? at(at(error_of(f), "data"), "code").as_string()
           : std::string{};
}
std::string message_of(const frame& f) {
  auto& m = at(error_of(f), "message");
  return m.is_string() ? m.as_string() : std::string{};
}

/// The frame answering request `id` (number), or nullptr.
const frame* answer(const std::vector<frame>& frames, int id) {
  for (auto& f : frames)
    if (at(f.v, "id").is_number() && at(f.v, "id").as_int() == id)
      return &f;
  return nullptr;
}

std::string query(int id, const std::string& path, const std::string& input) {
  return R"({"id":)" + std::to_string(id) + R"(,"method":"query","params":{"path":")" + path
         + R"(","input":)" + input + "}}";
}

const std::string metrics_input = R"({"hospitalId":"h1"})";

TEST(connection_actor, FrameWithABadElementGetsOneParseErrorAndRunsNothing) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  auto frames = h.send("[" + query(1, "healthcare.getMetrics", metrics_input)
                       + R"(,{"id":2,"method":"query","params":"nope"}])");
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(at(frames[0].v, "id").is_null());
  EXPECT_EQ(code_of(frames[0]), "PARSE_ERROR");
  EXPECT_EQ(message_of(frames[0]), "Invalid params");
  EXPECT_FALSE(h.rt->out->close_state(conn_id).requested);
  // The connection stays usable.
  auto next = h.send(query(3, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].result_type(), "data");
}

TEST(connection_actor, BinaryFrameIsAParseError) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  auto frames = h.send("{}", true);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(message_of(frames[0]), "Binary frames are not supported");
}

TEST(connection_actor, QueryIsAnsweredWithData) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  auto frames = h.send(query(4, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(at(frames[0].v, "id").as_int(), 4);
  EXPECT_EQ(frames[0].result_type(), "data");
  EXPECT_TRUE(at(at(frames[0].v, "result"), "data").is_object());
}

TEST(connection_actor, ExpiredTokenAtConnectIsUnauthorizedAndTheSocketStays) {
  auto who = make_identity("u-view-1", role::viewer);
  connection_harness h{{}, true};
  who.exp = h.now() / 1000 - 1;
  auto none = h.send(R"({"method":"connectionParams","data":{"token":")" + h.token_for(who)
                     + R"("}})");
  EXPECT_TRUE(none.empty());
  auto frames = h.send(query(1, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(code_of(frames[0]), "UNAUTHORIZED");
  EXPECT_EQ(message_of(frames[0]), "Token expired");
  EXPECT_FALSE(h.rt->out->close_state(conn_id).requested);
}

TEST(connection_actor, TokenExpiringWhileConnectedAsksToReconnectThenRefusesCalls) {
  auto who = make_identity("u-view-1", role::viewer);
  who.exp = base_ms / 1000 + 10; // the clock starts at base_ms
  connection_harness h{who};
  ASSERT_TRUE(h.advance(seconds(11)));
  auto frames = h.take_frames(conn_id);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(at(frames[0].v, "method").as_string(), "reconnect");
  auto refused = h.send(query(2, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(code_of(refused[0]), "UNAUTHORIZED");
  EXPECT_EQ(message_of(refused[0]), "Token expired");
  EXPECT_FALSE(h.rt->out->close_state(conn_id).requested); // until the grace period is over
  ASSERT_TRUE(h.advance(milliseconds(h.rt->cfg.expiry_grace_ms)));
  auto closing = h.rt->out->close_state(conn_id);
  EXPECT_TRUE(closing.requested);
  EXPECT_EQ(closing.code, 4003);
}

TEST(connection_actor, UnauthenticatedCallsAndForbiddenRole) {
  connection_harness anonymous;
  auto frames = anonymous.send(query(1, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(message_of(frames[0]), "Authentication required");

  connection_harness viewer{make_identity("u-view-1", role::viewer)};
  auto denied = viewer.send(
    R"({"id":5,"method":"mutation","params":{"path":"healthcare.createAlert","input":{"hospitalId":"h1","roomNumber":"ICU-1","alertType":"fire","urgencyLevel":2}}})");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(code_of(denied[0]), "FORBIDDEN");
  EXPECT_EQ(message_of(denied[0]), "Access denied. Required permission: create_alerts");
}

TEST(connection_actor, SubscriptionIsForwardedToTheHospitalWhichWritesItsFrames) {
  connection_harness h{make_identity("u-op-1", role::operator_)};
  auto started = h.send(
    R"({"id":9,"method":"subscription","params":{"path":"healthcare.subscribeToAlerts","input":{"hospitalId":"h1","filter":{"alertTypes":["fire"]}}}})");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(at(started[0].v, "id").as_int(), 9);
  EXPECT_EQ(started[0].result_type(), "started");
  // The hospital now has the subscription: a created alert reaches it, through the filter.
  auto create = [](int id, const char* type) {
    return R"({"id":)" + std::to_string(id)
           + R"(,"method":"mutation","params":{"path":"healthcare.createAlert","input":{"hospitalId":"h1","roomNumber":"ICU-1","alertType":")"
           + type + R"(","urgencyLevel":2}}})";
  };
  auto after_code_blue = h.send(create(10, "code_blue"));
  ASSERT_EQ(after_code_blue.size(), 1u); // the reply only: filtered out
  EXPECT_EQ(at(after_code_blue[0].v, "id").as_int(), 10);
  auto after_fire = h.send(create(11, "fire"));
  ASSERT_EQ(after_fire.size(), 2u);
  auto* event = answer(after_fire, 9);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event->event_type(), "alert.created");
  EXPECT_NE(answer(after_fire, 11), nullptr);
  // Stop: the hospital confirms.
  auto stopped = h.send(R"({"id":9,"method":"subscription.stop"})");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].result_type(), "stopped");
}

TEST(connection_actor, AHospitalCrashAsksSubscribersToReconnectAndLaterCallsReachItsReload) {
  // The defect: the connection kept the crashed hospital's handle, so its subscriptions went
  // silent and every later call on it failed until the client reconnected by itself.
  connection_harness h{make_identity("u-op-1", role::operator_)};
  auto started = h.send(
    R"({"id":9,"method":"subscription","params":{"path":"healthcare.subscribeToAlerts","input":{"hospitalId":"h1"}}})");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].result_type(), "started");

  h.crash_hospital("h1", caf::exit_reason::unhandled_exception);
  auto frames = h.take_frames(conn_id);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(at(frames[0].v, "method").as_string(), "reconnect");

  // The next call reaches the reloaded hospital (no INTERNAL_SERVER_ERROR).
  auto answered = h.send(query(4, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].result_type(), "data");
  // The subscription id is free again: the client resubscribes with the same id.
  auto again = h.send(
    R"({"id":9,"method":"subscription","params":{"path":"healthcare.subscribeToAlerts","input":{"hospitalId":"h1"}}})");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].result_type(), "started");
}

TEST(connection_actor, AHospitalCrashWithoutSubscriptionsOnlyDropsTheHandle) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  ASSERT_EQ(h.send(query(1, "healthcare.getMetrics", metrics_input)).size(), 1u);
  h.crash_hospital("h1", caf::exit_reason::unhandled_exception);
  EXPECT_TRUE(h.take_frames(conn_id).empty()); // no reconnect: nothing was lost
  auto answered = h.send(query(2, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].result_type(), "data");
}

const std::string create_fire =
  R"({"id":5,"method":"mutation","params":{"path":"healthcare.createAlert","input":{"hospitalId":"h1","roomNumber":"ICU-1","alertType":"fire","urgencyLevel":2}}})";
const std::string subscribe_h1 =
  R"({"id":9,"method":"subscription","params":{"path":"healthcare.subscribeToAlerts","input":{"hospitalId":"h1"}}})";

bool has_reconnect(const std::vector<frame>& frames) {
  return std::any_of(frames.begin(), frames.end(), [](const frame& f) {
    return at(f.v, "method").is_string() && at(f.v, "method").as_string() == "reconnect";
  });
}

TEST(connection_actor, ACallTheHospitalHeldWhenItCrashedIsAnswered) {
  // The defect: the hospital had taken the call (its reply promised, waiting for the storage
  // actor) and died; CAF 0.17 tells the requester nothing, so the client waited forever.
  connection_harness h{make_identity("u-op-1", role::operator_)};
  ASSERT_EQ(h.send(subscribe_h1).size(), 1u);
  auto hospital = h.hospital();
  ASSERT_TRUE(h.send_until(create_fire, [&] { return h.runs_next(hospital); }));
  h.sched->run_once(); // the hospital takes the call and asks the storage actor to commit it
  ASSERT_TRUE(h.runs_next(h.rt->storage));
  h.crash_at_once(hospital); // before the storage actor answers
  ASSERT_TRUE(h.run());
  auto frames = h.take_frames(conn_id);
  auto* answered = answer(frames, 5);
  ASSERT_NE(answered, nullptr);
  EXPECT_EQ(code_of(*answered), "INTERNAL_SERVER_ERROR");
  EXPECT_EQ(message_of(*answered), "The hospital failed during the call; it may have taken effect");
  EXPECT_TRUE(has_reconnect(frames));
  // The connection goes on with the reloaded hospital.
  auto next = h.send(query(6, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].result_type(), "data");
}

TEST(connection_actor, ACallBouncedByACrashedHospitalRunsOnItsReloadAndSubscribersReconnect) {
  // The call waits in the hospital's mailbox when it dies: it never ran, so it comes back as
  // request_receiver_down and is sent again to the reloaded hospital. The down message comes
  // first (it is urgent): answering the calls of the dead hospital then would fail this one.
  connection_harness h{make_identity("u-op-1", role::operator_)};
  ASSERT_EQ(h.send(subscribe_h1).size(), 1u);
  auto hospital = h.hospital();
  ASSERT_TRUE(h.send_until(query(4, "healthcare.getMetrics", metrics_input),
                           [&] { return h.runs_next(hospital); }));
  h.crash_hospital("h1", caf::exit_reason::unhandled_exception);
  ASSERT_TRUE(h.run());
  auto frames = h.take_frames(conn_id);
  auto* answered = answer(frames, 4);
  ASSERT_NE(answered, nullptr);
  EXPECT_EQ(answered->result_type(), "data");
  EXPECT_TRUE(has_reconnect(frames));
}

TEST(connection_actor, DuplicateSubscriptionIdIsRefused) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  auto sub = R"({"id":"s","method":"subscription","params":{"path":"healthcare.subscribeToAlerts","input":{"hospitalId":"h1"}}})";
  ASSERT_EQ(h.send(sub).size(), 1u);
  auto again = h.send(sub);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(message_of(again[0]), "Duplicate id s");
}

TEST(connection_actor, RateLimitRefusesCallsBeyondTheBurst) {
  connection_harness h{make_identity("u-view-1", role::viewer), false, 1, 2};
  auto frames = h.send("[" + query(1, "healthcare.getMetrics", metrics_input) + ","
                       + query(2, "healthcare.getMetrics", metrics_input) + ","
                       + query(3, "healthcare.getMetrics", metrics_input) + "]");
  ASSERT_EQ(frames.size(), 3u);
  ASSERT_NE(answer(frames, 1), nullptr);
  ASSERT_NE(answer(frames, 2), nullptr);
  ASSERT_NE(answer(frames, 3), nullptr);
  EXPECT_EQ(answer(frames, 1)->result_type(), "data");
  EXPECT_EQ(answer(frames, 2)->result_type(), "data");
  EXPECT_EQ(code_of(*answer(frames, 3)), "TOO_MANY_REQUESTS");
  // A second later there is a token again.
  ASSERT_TRUE(h.advance(seconds(1)));
  auto later = h.send(query(4, "healthcare.getMetrics", metrics_input));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].result_type(), "data");
}

TEST(connection_actor, SuperjsonRequestGetsSuperjsonReply) {
  connection_harness h{make_identity("u-view-1", role::viewer)};
  auto frames = h.send(query(1, "healthcare.getMetrics", R"({"json":{"hospitalId":"h1"}})"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(at(at(at(frames[0].v, "result"), "data"), "json").is_object()) << frames[0].text;
}

} // namespace
} // namespace vigil::test

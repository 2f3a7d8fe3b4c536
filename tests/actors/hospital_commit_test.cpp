// Commit and publish behaviour of the hospital actor (docs/api.md "Durability"), under
// CAF's deterministic test coordinator with the real storage actor on a temporary database.

#include "tests/actors/hospital_harness.hpp"

#include <set>

namespace vigil::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

/// Ids of every stored event of hospital h1, read through a second (read-only) connection.
std::vector<std::string> stored_ids(const harness& h) {
  std::string err;
  storage::open_options opts;
  opts.read_only = true;
  auto store = storage::event_store::open(h.db_path, opts, &err);
  EXPECT_NE(store, nullptr) << err;
  std::vector<std::string> ids;
  if (!store)
    return ids;
  for (auto& e : store->events_after("h1", 0, 100000))
    ids.push_back(store->epoch() + "-" + std::to_string(e.seq));
  return ids;
}

std::vector<std::string> ids_of(const std::vector<frame>& events) {
  std::vector<std::string> out;
  for (auto& f : events)
    out.push_back(f.event_id());
  return out;
}

/// The ids after `last` in `all`.
std::vector<std::string> after(const std::vector<std::string>& all, const std::string& last) {
  auto i = std::find(all.begin(), all.end(), last);
  EXPECT_NE(i, all.end()) << last;
  return i == all.end() ? std::vector<std::string>{} : std::vector<std::string>(i + 1, all.end());
}

std::string update_input(const std::string& id, int n) {
  return R"({"alertId":")" + id + R"(","description":"update )" + std::to_string(n) + "\"}";
}

// ---- commit, then publish, then reply --------------------------------------------------------

TEST(hospital_commit, EventIsStoredBeforeItIsPublishedAndPublishedBeforeTheReply) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  ASSERT_EQ(h.take_frames(1).size(), 1u); // started
  auto t = h.queue_call(hosp, "healthcare.createAlert",
                        R"({"hospitalId":"h1","roomNumber":"ER-2","alertType":"code_blue","urgencyLevel":2})",
                        h.operator_);
  h.send_queued();
  // Step one message at a time, checking the invariants after each step.
  std::vector<frame> seen;
  bool published_before_reply = false;
  size_t steps = 0;
  while (h.sched->has_job() && steps++ < 1000) {
    h.sched->try_run_once();
    auto fresh = h.take_frames(1);
    for (auto& f : fresh) {
      // Whenever a frame appears, its event is already in the database.
      auto ids = stored_ids(h);
      EXPECT_NE(std::find(ids.begin(), ids.end(), f.event_id()), ids.end()) << f.text;
      seen.push_back(f);
    }
    if (h.reply(t) != nullptr && !published_before_reply) {
      published_before_reply = true;
      EXPECT_EQ(seen.size(), 1u) << "the reply came before the event was published";
    }
  }
  ASSERT_TRUE(h.run());
  auto r = h.reply(t);
  ASSERT_TRUE(r && r->ok);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].event_type(), "alert.created");
  // The event carries the alert exactly as the reply returned it, and its id is result.id.
  EXPECT_EQ(seen[0].payload(), at(r->value(), "alert"));
  EXPECT_EQ(at(*seen[0].event(), "id").as_string(), seen[0].event_id());
  EXPECT_EQ(seen[0].event_id(), h.rt->epoch + "-" + std::to_string(h.rt->last_seq.load()));
  // Frame layout: the subscription's prefix, then the shared tail.
  EXPECT_EQ(seen[0].text.rfind(R"({"id":1,"result":{"type":"data","id":")", 0), 0u) << seen[0].text;
}

TEST(hospital_commit, NothingIsPublishedBeforeTheStorageActorCommits) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  ASSERT_EQ(h.take_frames(1).size(), 1u);
  auto t = h.queue_call(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                        h.nurse);
  h.send_queued();
  ASSERT_TRUE(h.step(h.client()));
  ASSERT_TRUE(h.step(hosp));
  // The hospital has applied the change (a query sees it) but nothing is published yet.
  auto q = h.queue_call(hosp, "healthcare.getAlert", R"({"alertId":")" + id + "\"}", h.viewer);
  h.send_queued();
  ASSERT_TRUE(h.step(h.client()));
  ASSERT_TRUE(h.step(hosp));
  ASSERT_TRUE(h.step(h.client()));
  auto qr = h.reply(q);
  ASSERT_TRUE(qr && qr->ok);
  EXPECT_EQ(at(qr->value(), "status").as_string(), "acknowledged");
  EXPECT_TRUE(h.take_frames(1).empty());
  EXPECT_EQ(h.reply(t), nullptr);
  EXPECT_EQ(stored_ids(h).size(), 1u); // only alert.created
  ASSERT_TRUE(h.run());
  ASSERT_TRUE(h.reply(t) && h.reply(t)->ok);
  auto evs = harness::events(h.take_frames(1));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.acknowledged");
  EXPECT_EQ(stored_ids(h).size(), 2u);
}

TEST(hospital_commit, StateIsDurableAcrossARestart) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert",
                      R"({"alertId":")" + id + R"(","notes":"On my way"})", h.nurse);
  ASSERT_TRUE(r && r->ok);
  auto before = h.get_alert(hosp, id);
  h.stop_server();
  h.start_server();
  hosp = h.hospital();
  auto after_restart = h.get_alert(hosp, id);
  EXPECT_EQ(after_restart, before);
  EXPECT_EQ(h.rt->alerts.hospital_of(id), std::optional<std::string>{"h1"});
}

// ---- failed commits ------------------------------------------------------------------------

class failed_commit_test : public ::testing::Test {
protected:
  void SetUp() override {
    // Write one alert with a working store, then come back with a read-only one: every commit
    // fails from then on.
    h.start_server();
    auto hosp = h.hospital();
    t0 = h.now();
    id = h.create_alert(hosp);
    ASSERT_FALSE(id.empty());
    h.stop_server();
    h.start_server(true);
    hosp_ = h.hospital();
    h.subscribe(hosp_, 1);
    ASSERT_TRUE(h.run());
    ASSERT_EQ(h.take_frames(1).size(), 1u);
  }

  harness h;
  hospital_actor hosp_;
  std::string id;
  int64_t t0 = 0;
};

TEST_F(failed_commit_test, FailedCreateIsUndoneAndReported) {
  auto r = h.call_now(hosp_, "healthcare.createAlert",
                      R"({"hospitalId":"h1","roomNumber":"ER-2","alertType":"fire","urgencyLevel":3})",
                      h.operator_);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->error.code, trpc_code::internal_server_error);
  EXPECT_EQ(r->error.message, "Failed to store the change");
  EXPECT_TRUE(h.take_frames(1).empty());
  auto list = h.call_now(hosp_, "healthcare.getActiveAlerts", R"({"hospitalId":"h1"})", h.viewer);
  ASSERT_TRUE(list && list->ok);
  auto list_value = list->value();
  auto& alerts = at(list_value, "alerts");
  ASSERT_EQ(alerts.size(), 1u) << json::to_string(list->value());
  EXPECT_EQ(at(alerts.as_array()[0], "id").as_string(), id);
}

TEST_F(failed_commit_test, FailedIdempotentCreateAnswersEveryWaiterAndCanBeRetried) {
  std::vector<size_t> tickets;
  for (int i = 0; i < 3; ++i)
    tickets.push_back(h.queue_call(
      hosp_, "healthcare.createAlert",
      R"({"hospitalId":"h1","roomNumber":"ER-2","alertType":"fire","urgencyLevel":3,"idempotencyKey":"k-1"})",
      h.operator_));
  h.send_queued();
  ASSERT_TRUE(h.run());
  for (auto t : tickets) {
    auto r = h.reply(t);
    ASSERT_NE(r, nullptr) << t;
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->error.message, "Failed to store the change");
  }
  // The key is not remembered: a retry runs (and fails) again instead of hanging.
  auto r = h.call_now(hosp_, "healthcare.createAlert",
                      R"({"hospitalId":"h1","roomNumber":"ER-2","alertType":"fire","urgencyLevel":3,"idempotencyKey":"k-1"})",
                      h.operator_);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->error.message, "Failed to store the change");
}

TEST_F(failed_commit_test, FailedAcknowledgementRestoresTheAlert) {
  auto before = h.get_alert(hosp_, id);
  auto r = h.call_now(hosp_, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}",
                      h.nurse);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->error.code, trpc_code::internal_server_error);
  EXPECT_TRUE(h.take_frames(1).empty());
  EXPECT_EQ(h.get_alert(hosp_, id), before);
  // A second attempt is not refused as "not active": the state really was restored.
  r = h.call_now(hosp_, "healthcare.acknowledgeAlert", R"({"alertId":")" + id + "\"}", h.nurse);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->error.message, "Failed to store the change");
}

// DISABLED: documents a known bug (reported). When the commit of a timer escalation fails, the
// undo in commit_transition restores the alert with its (past) deadline and calls
// schedule_escalation, which re-arms the timer with delay 0: the escalation is retried at once,
// fails again, and so on forever (a hot loop of failing commits and error logs). Enable once the
// retry has a back-off.
TEST_F(failed_commit_test, FailedTimerEscalationDoesNotSpin) {
  // At the deadline the timer's commit fails and the alert stays at tier 1. What must not happen:
  // the restored timer firing again at once, forever (a hot retry loop against a failing disk).
  ASSERT_TRUE(h.advance(seconds(119)));
  bool settled = h.advance(seconds(1), 2000);
  EXPECT_TRUE(settled) << "the failed escalation is retried without pause";
  if (!settled) {
    // Stop the loop so that the harness can shut down.
    h.stop_server();
    return;
  }
  EXPECT_TRUE(h.take_frames(1).empty());
  auto a = h.get_alert(hosp_, id);
  EXPECT_EQ(at(a, "escalationLevel").as_int(), 1);
  EXPECT_EQ(at(a, "status").as_string(), "active");
}

// ---- concurrency -----------------------------------------------------------------------------

TEST(hospital_concurrency, TwentyConcurrentAcknowledgementsExactlyOneWins) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  h.take_frames(1);
  std::vector<size_t> tickets;
  for (int i = 0; i < 20; ++i)
    tickets.push_back(h.queue_call(hosp, "healthcare.acknowledgeAlert",
                                   R"({"alertId":")" + id + R"(","notes":"me )" + std::to_string(i) + "\"}",
                                   make_identity("u-nurse-" + std::to_string(i), role::nurse)));
  h.send_queued(); // all 20 requests reach the hospital's mailbox in one go
  ASSERT_TRUE(h.step(h.client()));
  ASSERT_TRUE(h.run());
  int ok = 0, conflicts = 0;
  std::string winner;
  for (auto t : tickets) {
    auto r = h.reply(t);
    ASSERT_NE(r, nullptr) << "no reply for call " << t;
    if (r->ok) {
      ++ok;
      winner = at(at(r->value(), "alert"), "acknowledgedBy").as_string();
    } else {
      ++conflicts;
      EXPECT_EQ(r->error.code, trpc_code::conflict);
      EXPECT_EQ(r->error.message, "Alert is not active");
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(conflicts, 19);
  EXPECT_EQ(winner, "u-nurse-0"); // the first one in the mailbox
  auto evs = harness::events(h.take_frames(1));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.acknowledged");
  EXPECT_EQ(at(evs[0].payload(), "acknowledgedBy").as_string(), winner);
  auto a = h.get_alert(hosp, id);
  EXPECT_EQ(at(a, "acknowledgedBy").as_string(), winner);
  EXPECT_EQ(at(a, "acknowledgementNotes").as_string(), "me 0");
  EXPECT_EQ(stored_ids(h).size(), 2u);
}

TEST(hospital_concurrency, ConcurrentAcknowledgementsUnderRandomSchedules) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    harness h;
    h.start_server();
    auto hosp = h.hospital();
    auto id = h.create_alert(hosp);
    h.subscribe(hosp, 1);
    ASSERT_TRUE(h.run());
    h.take_frames(1);
    std::vector<size_t> tickets;
    for (int i = 0; i < 20; ++i)
      tickets.push_back(h.queue_call(hosp, "healthcare.acknowledgeAlert",
                                     R"({"alertId":")" + id + "\"}",
                                     make_identity("u-n" + std::to_string(i), role::nurse)));
    h.send_queued();
    std::mt19937 rng{seed};
    ASSERT_TRUE(h.run_random(rng));
    int ok = 0;
    for (auto t : tickets) {
      auto r = h.reply(t);
      ASSERT_NE(r, nullptr);
      ok += r->ok;
      if (!r->ok) {
        EXPECT_EQ(r->error.message, "Alert is not active");
      }
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(harness::events(h.take_frames(1)).size(), 1u);
  }
}

TEST(hospital_concurrency, UnknownAlertIsNotFound) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  auto r = h.call_now(hosp, "healthcare.acknowledgeAlert",
                      R"({"alertId":"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f"})", h.nurse);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->error.code, trpc_code::not_found);
  EXPECT_EQ(r->error.message, "Alert not found");
  r = h.call_now(hosp, "healthcare.getAlert", R"({"alertId":"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f"})",
                 h.viewer);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->error.code, trpc_code::not_found);
}

TEST(hospital_concurrency, ConcurrentCreatesWithOneIdempotencyKeyCreateOneAlert) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  h.take_frames(1);
  const std::string input =
    R"({"hospitalId":"h1","roomNumber":"ICU-1","alertType":"cardiac_arrest","urgencyLevel":1,"idempotencyKey":"monitor-7"})";
  std::vector<size_t> tickets;
  for (int i = 0; i < 5; ++i)
    tickets.push_back(h.queue_call(hosp, "healthcare.createAlert", input, h.operator_));
  h.send_queued();
  ASSERT_TRUE(h.run());
  std::string first;
  for (auto t : tickets) {
    auto r = h.reply(t);
    ASSERT_TRUE(r && r->ok);
    auto text = json::to_string(r->value());
    if (first.empty())
      first = text;
    EXPECT_EQ(text, first);
  }
  EXPECT_EQ(harness::events(h.take_frames(1)).size(), 1u);
  // Later, and after a restart, the same key returns the same reply and emits nothing.
  ASSERT_TRUE(h.advance(minutes(1)));
  auto r = h.call_now(hosp, "healthcare.createAlert", input, h.operator_);
  ASSERT_TRUE(r && r->ok);
  EXPECT_EQ(json::to_string(r->value()), first);
  h.stop_server();
  h.start_server();
  hosp = h.hospital();
  h.subscribe(hosp, 2);
  ASSERT_TRUE(h.run());
  r = h.call_now(hosp, "healthcare.createAlert", input, h.operator_);
  ASSERT_TRUE(r && r->ok);
  EXPECT_EQ(json::to_string(r->value()), first);
  EXPECT_TRUE(harness::events(h.take_frames(2)).empty());
  EXPECT_EQ(stored_ids(h).size(), 1u);
}

// ---- subscriptions and replay ------------------------------------------------------------------

TEST(hospital_replay, WithoutLastEventIdOnlyLaterEvents) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  auto frames = h.take_frames(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].text, R"({"id":1,"result":{"type":"started"}})");
  ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(id, 1), h.nurse)->ok);
  auto evs = harness::events(h.take_frames(1));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event_type(), "alert.updated");
}

TEST(hospital_replay, FromTheRingExactlyTheMissedEventsThenLive) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  h.subscribe(hosp, 1); // reference: sees everything live
  ASSERT_TRUE(h.run());
  auto id = h.create_alert(hosp);
  for (int i = 0; i < 9; ++i)
    ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(id, i), h.nurse)->ok);
  auto all = ids_of(harness::events(h.take_frames(1)));
  ASSERT_EQ(all.size(), 10u);
  h.subscribe(hosp, 2, all[3]);
  ASSERT_TRUE(h.run());
  auto frames = h.take_frames(2);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].result_type(), "started");
  EXPECT_EQ(ids_of(harness::events(frames)), after(all, all[3]));
  // Live from here.
  ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(id, 99), h.nurse)->ok);
  auto live = ids_of(harness::events(h.take_frames(2)));
  auto ref = ids_of(harness::events(h.take_frames(1)));
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_EQ(live, ref);
  // Resuming from the newest id replays nothing.
  h.subscribe(hosp, 3, ref[0]);
  ASSERT_TRUE(h.run());
  EXPECT_TRUE(harness::events(h.take_frames(3)).empty());
}

TEST(hospital_replay, ReplayAppliesTheFilter) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  h.subscribe(hosp, 1);
  ASSERT_TRUE(h.run());
  auto a = h.create_alert(hosp, "A1", 1);
  auto b = h.create_alert(hosp, "B1", 4);
  ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(a, 1), h.nurse)->ok);
  ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(b, 1), h.nurse)->ok);
  ASSERT_TRUE(h.call_now(hosp, "healthcare.acknowledgeAlert", R"({"alertId":")" + a + "\"}",
                         h.nurse)->ok);
  auto all = harness::events(h.take_frames(1));
  ASSERT_EQ(all.size(), 5u);
  event_filter f;
  f.types = {"alert.updated", "alert.acknowledged"};
  f.max_urgency = 2;
  h.subscribe(hosp, 2, all[0].event_id(), f);
  ASSERT_TRUE(h.run());
  auto evs = harness::events(h.take_frames(2));
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].event_id(), all[2].event_id()); // a updated
  EXPECT_EQ(evs[1].event_id(), all[4].event_id()); // a acknowledged
}

TEST(hospital_replay, UnresumableIdsGetOneResyncEvent) {
  harness h;
  h.start_server();
  auto hosp = h.hospital();
  h.create_alert(hosp);
  auto newest = h.rt->epoch + "-" + std::to_string(h.rt->last_seq.load());
  const std::vector<std::string> bad = {
    "garbage", h.rt->epoch + "-", h.rt->epoch + "-12x", "zzzzzzzz-1",
    h.rt->epoch + "-" + std::to_string(h.rt->last_seq.load() + 1)};
  uint64_t conn = 10;
  for (auto& id : bad) {
    SCOPED_TRACE(id);
    h.subscribe(hosp, ++conn, id);
    ASSERT_TRUE(h.run());
    auto evs = harness::events(h.take_frames(conn));
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].event_id(), newest);
    EXPECT_EQ(evs[0].alert_id(), "*");
    EXPECT_EQ(evs[0].event_type(), "alert.updated");
    EXPECT_EQ(at(evs[0].payload(), "resync"), json::value{true});
    EXPECT_EQ(at(evs[0].payload(), "reason").as_string(), "unknown_event_id");
  }
  // Events after the id were pruned by retention: history_expired.
  h.rt->pruned_through = h.rt->last_seq.load();
  h.subscribe(hosp, 99, h.rt->epoch + "-0");
  ASSERT_TRUE(h.run());
  auto evs = harness::events(h.take_frames(99));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(at(evs[0].payload(), "reason").as_string(), "history_expired");
  EXPECT_EQ(evs[0].event_id(), newest);
}

/// Builds a hospital with `n` stored events (one alert, then updates), a reference subscriber on
/// connection 1 that saw all of them live, and returns their ids (and, in `live`, the frames).
std::vector<std::string> build_history(harness& h, hospital_actor& hosp, std::string& alert_id,
                                       int n, std::vector<frame>* live = nullptr) {
  h.start_server();
  hosp = h.hospital();
  h.subscribe(hosp, 1);
  EXPECT_TRUE(h.run());
  alert_id = h.create_alert(hosp);
  for (int i = 1; i < n; ++i)
    h.queue_call(hosp, "healthcare.updateAlert", update_input(alert_id, i), h.nurse);
  h.send_queued();
  EXPECT_TRUE(h.run());
  auto frames = harness::events(h.take_frames(1));
  auto ids = ids_of(frames);
  if (live != nullptr)
    *live = std::move(frames);
  EXPECT_EQ(ids.size(), static_cast<size_t>(n));
  EXPECT_EQ(ids, stored_ids(h));
  return ids;
}

TEST(hospital_replay, FromStorageWhenTheRingIsTooShort) {
  harness h{"nurse:2m,doctor:3m,head_doctor", 16};
  hospital_actor hosp;
  std::string id;
  std::vector<frame> live;
  auto all = build_history(h, hosp, id, 40, &live);
  h.subscribe(hosp, 2, all[4]); // 35 missed events, the ring holds 16
  ASSERT_TRUE(h.run());
  auto frames = h.take_frames(2);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].result_type(), "started");
  auto replayed = harness::events(frames);
  EXPECT_EQ(ids_of(replayed), after(all, all[4]));
  // Replayed frames (decoded from storage) are byte-identical to the live ones.
  ASSERT_EQ(replayed.size(), 35u);
  for (size_t i = 0; i < replayed.size(); ++i)
    EXPECT_EQ(replayed[i].text, live[i + 5].text);
}

TEST(hospital_replay, SeveralStoragePagesThenTheRing) {
  harness h{"nurse:2m,doctor:3m,head_doctor", 16};
  hospital_actor hosp;
  std::string id;
  auto all = build_history(h, hosp, id, 600); // more than two 256-event pages
  h.subscribe(hosp, 2, all[0]);
  ASSERT_TRUE(h.run());
  EXPECT_EQ(ids_of(harness::events(h.take_frames(2))), after(all, all[0]));
}

TEST(hospital_replay, CatchUpWhileNewEventsCommitHasNoGapAndNoDuplicate) {
  // The subscription (from storage: the ring holds 16) and 30 new mutations plus a timer
  // escalations race under 25 random schedules.
  for (unsigned seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(seed);
    harness h{"nurse:2m,doctor:3m,head_doctor", 16};
    hospital_actor hosp;
    std::string id;
    build_history(h, hosp, id, 40);
    auto other = h.create_alert(hosp, "B2"); // will escalate during the catch-up
    auto before = ids_of(harness::events(h.take_frames(1)));
    ASSERT_EQ(before.size(), 1u);
    auto all_before = stored_ids(h);
    std::mt19937 rng{seed};
    std::uniform_int_distribution<size_t> pick{0, all_before.size() - 1};
    auto last = all_before[pick(rng)];
    // Both alerts were created at the same simulated instant: both escalations are queued now.
    h.advance_clock_only(seconds(120));
    for (int i = 0; i < 30; ++i)
      h.queue_call(hosp, "healthcare.updateAlert", update_input(id, 100 + i), h.nurse);
    h.send_queued();
    h.subscribe(hosp, 2, last);
    ASSERT_TRUE(h.run_random(rng));
    auto all = stored_ids(h);
    ASSERT_EQ(all.size(), all_before.size() + 32);
    auto ref = ids_of(harness::events(h.take_frames(1)));
    EXPECT_EQ(ref, after(all, all_before.back())); // the reference saw every new event live
    auto frames = h.take_frames(2);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames[0].result_type(), "started");
    EXPECT_EQ(ids_of(harness::events(frames)), after(all, last));
    // Still live afterwards.
    ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(id, 999), h.nurse)->ok);
    EXPECT_EQ(harness::events(h.take_frames(2)).size(), 1u);
  }
}

TEST(hospital_replay, ReplayPausesForAFullOutboxAndResumes) {
  // A small outbound budget: the catch-up pauses while the connection's queue is more than half
  // full (2 ms ticks) instead of overflowing it, and resumes when the lws thread drains it.
  harness h{"nurse:2m,doctor:3m,head_doctor", 16};
  h.rt->cfg.outbound_budget = 256 * 1024;
  h.rt->out = std::make_shared<outbox>(h.rt->cfg.outbound_budget);
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  for (int i = 1; i < 1000; ++i)
    h.queue_call(hosp, "healthcare.updateAlert", update_input(id, i), h.nurse);
  h.send_queued();
  ASSERT_TRUE(h.run());
  auto all = stored_ids(h);
  ASSERT_EQ(all.size(), 1000u);
  h.subscribe(hosp, 2, all[0]);
  std::vector<frame> got;
  int pauses = 0;
  for (int round = 0; round < 1000; ++round) {
    ASSERT_TRUE(h.run());
    ASSERT_FALSE(h.rt->out->close_state(2).requested) << "slow-consumer close during replay";
    auto fresh = h.take_frames(2);
    got.insert(got.end(), fresh.begin(), fresh.end());
    if (harness::events(got).size() >= 999)
      break;
    ++pauses;
    h.advance_clock_only(milliseconds(2));
  }
  EXPECT_GT(pauses, 0); // the budget did force at least one pause
  EXPECT_EQ(ids_of(harness::events(got)), after(all, all[0]));
}

// DISABLED: documents a known limitation (reported). The catch-up pauses only *between* chunks
// (when more than half of limits.outbound-budget is queued); one chunk is up to 256 events, so
// with a budget below about two chunks (~150 KiB of small alert.updated events, more for large
// events) a single chunk overflows the connection's queue and the subscriber is closed with 4008.
TEST(hospital_replay, ReplayWithASmallBudgetDoesNotTripTheSlowConsumerClose) {
  harness h{"nurse:2m,doctor:3m,head_doctor", 16};
  h.rt->cfg.outbound_budget = 32 * 1024;
  h.rt->out = std::make_shared<outbox>(h.rt->cfg.outbound_budget);
  h.start_server();
  auto hosp = h.hospital();
  auto id = h.create_alert(hosp);
  for (int i = 1; i < 300; ++i)
    h.queue_call(hosp, "healthcare.updateAlert", update_input(id, i), h.nurse);
  h.send_queued();
  ASSERT_TRUE(h.run());
  h.subscribe(hosp, 2, stored_ids(h)[0]);
  size_t events = 0;
  for (int round = 0; round < 1000 && events < 299; ++round) {
    ASSERT_TRUE(h.run());
    ASSERT_FALSE(h.rt->out->close_state(2).requested) << "slow-consumer close during replay";
    events += harness::events(h.take_frames(2)).size();
    h.advance_clock_only(milliseconds(2));
  }
  EXPECT_EQ(events, 299u);
}

TEST(hospital_replay, AfterARestartTheReplayComesFromStorage) {
  harness h;
  hospital_actor hosp;
  std::string id;
  auto all = build_history(h, hosp, id, 12);
  h.stop_server();
  h.start_server();
  hosp = h.hospital();
  h.subscribe(hosp, 2, all[5]);
  ASSERT_TRUE(h.run());
  EXPECT_EQ(ids_of(harness::events(h.take_frames(2))), after(all, all[5]));
  ASSERT_TRUE(h.call_now(hosp, "healthcare.updateAlert", update_input(id, 77), h.nurse)->ok);
  auto live = ids_of(harness::events(h.take_frames(2)));
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(seq_of(live[0]), seq_of(all.back()) + 1);
}

} // namespace
} // namespace vigil::test

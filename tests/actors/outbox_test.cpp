// The outbox between the actors and the network thread (delivery/outbox.hpp): per-connection
// byte budget and culling, shared frame heads, order of frames, storage released when idle.
// No waker is set, so pushes do not wake anything.

#include "delivery/outbox.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace vigil {
namespace {

encoded_event_ptr event(uint64_t seq, size_t payload) {
  return make_encoded_event(seq, "e-" + std::to_string(seq), "alert.created", "a1", 1, "fire",
                            "{\"x\":\"" + std::string(payload, 'p') + "\"}", "");
}

std::string text_of(const std::vector<out_frame>& frames) {
  std::string out;
  for (auto& f : frames) {
    f.append_to(out);
    out += '|';
  }
  return out;
}

TEST(outbox_test, EventFramesShareTheSubscriptionPrefixAndKeepTheirOrder) {
  outbox box{1 << 20};
  box.open(7);
  auto prefix = std::make_shared<const std::string>("{\"id\":1,\"result\":{\"type\":\"data\",");
  auto e1 = event(1, 3);
  auto e2 = event(2, 3);
  ASSERT_TRUE(box.push(7, out_frame::event_frame(prefix, e1, false)));
  ASSERT_TRUE(box.push_text(7, "PING"));
  ASSERT_TRUE(box.push(7, out_frame::event_frame(prefix, e2, false)));
  EXPECT_EQ(prefix.use_count(), 3) << "the frames hold the prefix, they do not copy it";
  std::vector<out_frame> got;
  EXPECT_FALSE(box.take_bytes(7, got, 1 << 16));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(text_of(got), *prefix + e1->plain_tail + "|PING|" + *prefix + e2->plain_tail + "|");
  EXPECT_EQ(got[0].size(), prefix->size() + e1->plain_tail.size());
  EXPECT_EQ(box.queued_bytes(7), 0u);
}

TEST(outbox_test, OverBudgetCullsTheConnectionOnceAndReportsIt) {
  auto prefix = std::make_shared<const std::string>("{\"id\":1,\"result\":{\"type\":\"data\",");
  auto ev = event(1, 200);
  size_t frame = out_frame::event_frame(prefix, ev, false).size();
  outbox box{frame * 3};
  box.open(1);
  box.open(2);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(box.push(1, out_frame::event_frame(prefix, ev, false)));
  EXPECT_TRUE(box.take_culled().empty());
  EXPECT_FALSE(box.push(1, out_frame::event_frame(prefix, ev, false))) << "the fourth is over budget";
  EXPECT_TRUE(box.push(2, out_frame::event_frame(prefix, ev, false))) << "others are unaffected";
  EXPECT_EQ(box.take_culled(), std::vector<uint64_t>{1});
  EXPECT_TRUE(box.take_culled().empty()) << "reported once";
  auto close = box.close_state(1);
  EXPECT_TRUE(close.requested);
  EXPECT_EQ(close.code, close_code::slow_consumer);
  EXPECT_FALSE(close.drain);
  EXPECT_EQ(box.queued_bytes(1), 0u) << "its queue is dropped";
  EXPECT_FALSE(box.push(1, out_frame::event_frame(prefix, ev, false))) << "nothing more is queued";
  EXPECT_TRUE(box.take_culled().empty());
}

TEST(outbox_test, RepliesMayExceedTheBudgetUpToTheReplyFactor) {
  outbox box{1000};
  box.open(1);
  // A client that asked for several large pages at once: 3 x 600 bytes of replies is over the
  // budget but not over reply_budget_factor times it.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(box.push_text(1, std::string(600, 'r')));
  EXPECT_TRUE(box.take_culled().empty());
  // Event frames are held to the budget counted over event frames only.
  auto prefix = std::make_shared<const std::string>("p");
  auto ev = event(1, 600);
  size_t frame = out_frame::event_frame(prefix, ev, false).size();
  ASSERT_LE(frame, 1000u);
  ASSERT_GT(2 * frame, 1000u);
  ASSERT_TRUE(box.push(1, out_frame::event_frame(prefix, ev, false)));
  std::vector<out_frame> got;
  box.take_bytes(1, got, 1); // takes one reply: event bytes unchanged
  EXPECT_FALSE(box.push(1, out_frame::event_frame(prefix, ev, false))) << "second event: over budget";
  EXPECT_EQ(box.take_culled(), std::vector<uint64_t>{1});
}

TEST(outbox_test, RepliesBeyondTheReplyFactorCull) {
  outbox box{1000};
  box.open(1);
  size_t pushed = 0;
  while (box.push_text(1, std::string(500, 'r')))
    ++pushed;
  EXPECT_EQ(pushed, outbox::reply_budget_factor * 2);
  EXPECT_EQ(box.take_culled(), std::vector<uint64_t>{1});
}

TEST(outbox_test, DrainedEventFramesFreeTheirBudget) {
  auto prefix = std::make_shared<const std::string>("p");
  auto ev = event(1, 400);
  size_t frame = out_frame::event_frame(prefix, ev, false).size();
  outbox box{frame * 2};
  box.open(1);
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(box.push(1, out_frame::event_frame(prefix, ev, false)));
    ASSERT_TRUE(box.push(1, out_frame::event_frame(prefix, ev, false)));
    std::vector<out_frame> got;
    EXPECT_FALSE(box.take_bytes(1, got, 1 << 16));
    EXPECT_EQ(got.size(), 2u);
  }
  EXPECT_TRUE(box.take_culled().empty());
}

TEST(outbox_test, IdleStorageIsReleasedWithoutLosingQueuedFrames) {
  outbox box{1 << 20};
  box.open(1);
  box.open(2);
  ASSERT_TRUE(box.push_text(1, "a"));
  ASSERT_TRUE(box.push_text(2, "b"));
  std::vector<out_frame> got;
  box.take_bytes(1, got, 1 << 16);
  box.trim_idle(); // 1 is drained, 2 still has a frame
  ASSERT_TRUE(box.push_text(1, "c"));
  got.clear();
  box.take_bytes(1, got, 1 << 16);
  EXPECT_EQ(text_of(got), "c|");
  got.clear();
  box.take_bytes(2, got, 1 << 16);
  EXPECT_EQ(text_of(got), "b|");
  box.trim_idle();
  EXPECT_EQ(box.queued_bytes(1), 0u);
  EXPECT_EQ(box.queued_bytes(2), 0u);
}

TEST(outbox_test, TakeBytesStopsAtTheLimitButTakesAtLeastOneFrame) {
  outbox box{1 << 20};
  box.open(1);
  ASSERT_TRUE(box.push_text(1, std::string(100, 'x')));
  ASSERT_TRUE(box.push_text(1, std::string(100, 'y')));
  std::vector<out_frame> got;
  EXPECT_TRUE(box.take_bytes(1, got, 10)) << "one frame taken even above the limit, one left";
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(box.queued_bytes(1), 100u);
  got.clear();
  EXPECT_FALSE(box.take_bytes(1, got, 1 << 16));
  EXPECT_EQ(got.size(), 1u);
}

} // namespace
} // namespace vigil

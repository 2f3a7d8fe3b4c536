// Reading a subscription from its validated input (domain/subscription.hpp).

#include "domain/subscription.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

json::value parse(const std::string& text) {
  std::string err;
  auto v = json::parse(text, &err);
  EXPECT_TRUE(v.has_value()) << err;
  return v ? *v : json::value{};
}

TEST(subscription_of, KindFollowsTheProcedure) {
  auto in = parse(R"({"hospitalId":"h1"})");
  EXPECT_EQ(subscription_of(procedure::subscribe_to_alerts, in, {}, 5000).kind, stream_kind::alerts);
  EXPECT_EQ(subscription_of(procedure::subscribe_to_alert, in, {}, 5000).kind, stream_kind::alert);
  EXPECT_EQ(subscription_of(procedure::subscribe_to_metrics, in, {}, 5000).kind,
            stream_kind::metrics);
  EXPECT_EQ(subscription_of(procedure::subscribe_to_presence, in, {}, 5000).kind,
            stream_kind::presence);
  // Any other procedure falls back to presence (the connection only asks for subscriptions).
  EXPECT_EQ(subscription_of(procedure::get_alert, in, {}, 5000).kind, stream_kind::presence);
}

TEST(subscription_of, AlertIdAndNoFilterByDefault) {
  auto s = subscription_of(procedure::subscribe_to_alert,
                           parse(R"({"alertId":"01a23453-9430-456e-9b24-cc1524c8b691"})"), {},
                           5000);
  EXPECT_EQ(s.alert_id, "01a23453-9430-456e-9b24-cc1524c8b691");
  EXPECT_FALSE(s.last_event_id.has_value());
  EXPECT_TRUE(s.filter.empty());
}

TEST(subscription_of, FrameLastEventIdWinsOverInput) {
  auto in = parse(R"({"hospitalId":"h1","lastEventId":"e-input"})");
  EXPECT_EQ(subscription_of(procedure::subscribe_to_alerts, in, std::string{"e-frame"}, 5000)
              .last_event_id,
            std::optional<std::string>{"e-frame"});
  EXPECT_EQ(subscription_of(procedure::subscribe_to_alerts, in, {}, 5000).last_event_id,
            std::optional<std::string>{"e-input"});
  // A non-string lastEventId in the input is ignored.
  EXPECT_FALSE(subscription_of(procedure::subscribe_to_alerts,
                               parse(R"({"hospitalId":"h1","lastEventId":7})"), {}, 5000)
                 .last_event_id.has_value());
}

TEST(subscription_of, IntervalFromInputOrTheDefault) {
  EXPECT_EQ(subscription_of(procedure::subscribe_to_metrics,
                            parse(R"({"hospitalId":"h1","interval":2500})"), {}, 5000)
              .interval_ms,
            2500);
  EXPECT_EQ(subscription_of(procedure::subscribe_to_metrics, parse(R"({"hospitalId":"h1"})"), {},
                            7000)
              .interval_ms,
            7000);
  EXPECT_EQ(subscription_of(procedure::subscribe_to_metrics,
                            parse(R"({"hospitalId":"h1","interval":"fast"})"), {}, 7000)
              .interval_ms,
            7000);
}

TEST(subscription_of, FilterKeepsStringsAndIgnoresWrongTypes) {
  auto s = subscription_of(
    procedure::subscribe_to_alerts,
    parse(R"({"hospitalId":"h1","filter":{"types":["alert.created",3,"alert.resolved"],)"
          R"("maxUrgencyLevel":2,"alertTypes":["fire"]}})"),
    {}, 5000);
  EXPECT_EQ(s.filter.types, (std::vector<std::string>{"alert.created", "alert.resolved"}));
  EXPECT_EQ(s.filter.max_urgency, 2);
  EXPECT_EQ(s.filter.alert_types, (std::vector<std::string>{"fire"}));
  EXPECT_FALSE(s.filter.empty());

  auto odd = subscription_of(
    procedure::subscribe_to_alerts,
    parse(R"({"hospitalId":"h1","filter":{"types":"alert.created","maxUrgencyLevel":"2"}})"), {},
    5000);
  EXPECT_TRUE(odd.filter.empty());
  EXPECT_TRUE(subscription_of(procedure::subscribe_to_alerts,
                              parse(R"({"hospitalId":"h1","filter":[1]})"), {}, 5000)
                .filter.empty());
}

} // namespace
} // namespace vigil

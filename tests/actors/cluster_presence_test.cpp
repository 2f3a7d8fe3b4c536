// Cluster presence (actors/cluster_presence.hpp): what one node concludes from the others'
// messages, on an injected clock; the messages it sends, captured.
#include "actors/cluster_presence.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "domain/json.hpp"

namespace vigil {
namespace {

struct presence_fixture : ::testing::Test {
  int64_t now = 1000;
  std::mutex mu;
  std::vector<std::string> sent;
  cluster_presence p{"self", [this](const std::string& m) {
                       std::lock_guard<std::mutex> g{mu};
                       sent.push_back(m);
                     },
                     [this] { return now; }};

  /// Starts and lets the trust window pass.
  void start_trusted() {
    p.start(false);
    now += cluster_presence::trust_ms;
  }
  std::vector<json::value> sent_json() {
    std::lock_guard<std::mutex> g{mu};
    std::vector<json::value> out;
    std::string err;
    for (auto& m : sent)
      out.push_back(*json::parse(m, &err));
    return out;
  }
  bool online(const std::string& h, const std::string& role) {
    return p.online_elsewhere(h, role).value();
  }
};

TEST_F(presence_fixture, cannot_know_before_the_hello_and_during_the_trust_window) {
  EXPECT_EQ(p.online_elsewhere("H", "nurse"), std::nullopt);
  EXPECT_EQ(p.ms_until_trusted(), cluster_presence::trust_ms);
  p.start(false);
  now += cluster_presence::trust_ms - 1;
  EXPECT_EQ(p.online_elsewhere("H", "nurse"), std::nullopt);
  EXPECT_EQ(p.ms_until_trusted(), 1);
  now += 1;
  EXPECT_EQ(p.online_elsewhere("H", "nurse"), std::optional<bool>{false});
  EXPECT_EQ(p.ms_until_trusted(), 0);
  auto msgs = sent_json();
  ASSERT_GE(msgs.size(), 2u);
  EXPECT_TRUE(msgs[0].find("hello")->as_bool());
  EXPECT_EQ(msgs[0].find("n")->as_string(), "self");
}

TEST_F(presence_fixture, a_change_of_another_node_counts_for_its_hospital_and_role_only) {
  start_trusted();
  p.receive(R"({"n":"b","v":1,"h":"H","r":["doctor","nurse"]})");
  EXPECT_TRUE(online("H", "nurse"));
  EXPECT_TRUE(online("H", "doctor"));
  EXPECT_FALSE(online("H", "head_doctor"));
  EXPECT_FALSE(online("other", "nurse"));
  p.receive(R"({"n":"b","v":2,"h":"H","r":["doctor"]})");
  EXPECT_FALSE(online("H", "nurse"));
  // Its own messages (they come back from the subject) do not count.
  p.receive(R"({"n":"self","v":9,"h":"H","r":["nurse"]})");
  EXPECT_FALSE(online("H", "nurse"));
}

TEST_F(presence_fixture, a_node_silent_for_the_expiry_no_longer_counts) {
  start_trusted();
  p.receive(R"({"n":"b","v":1,"h":"H","r":["nurse"]})");
  now += cluster_presence::expire_ms;
  EXPECT_TRUE(online("H", "nurse"));
  p.receive(R"({"n":"b","v":1,"all":{"H":["nurse"]}})"); // its beat keeps it alive
  now += cluster_presence::expire_ms;
  EXPECT_TRUE(online("H", "nurse"));
  now += 1;
  EXPECT_FALSE(online("H", "nurse"));
}

TEST_F(presence_fixture, a_beat_is_the_whole_state_but_does_not_undo_a_newer_change) {
  start_trusted();
  p.receive(R"({"n":"b","v":1,"h":"H","r":["nurse"]})");
  p.receive(R"({"n":"b","v":1,"h":"G","r":["doctor"]})");
  // A beat at version 2 without H: H went offline there (its change was lost).
  p.receive(R"({"n":"b","v":2,"all":{"G":["doctor"]}})");
  EXPECT_FALSE(online("H", "nurse"));
  EXPECT_TRUE(online("G", "doctor"));
  // A change at version 4 overtaken by the beat taken at version 3: the change stays.
  p.receive(R"({"n":"b","v":4,"h":"H","r":["nurse"]})");
  p.receive(R"({"n":"b","v":3,"all":{"G":["doctor"]}})");
  EXPECT_TRUE(online("H", "nurse"));
  p.receive(R"({"n":"b","v":3,"h":"H","r":[]})"); // older than what it has: ignored
  EXPECT_TRUE(online("H", "nurse"));
}

TEST_F(presence_fixture, unreadable_messages_change_nothing) {
  start_trusted();
  p.receive(R"({"n":"b","v":1,"h":"H","r":["nurse"]})");
  for (auto bad : {"", "{", "[]", R"({"v":2,"h":"H","r":[]})", R"({"n":7,"v":2,"h":"H","r":[]})",
                   R"({"n":"b","v":2,"all":[]})"})
    p.receive(bad);
  EXPECT_TRUE(online("H", "nurse"));
}

TEST_F(presence_fixture, local_changes_are_sent_at_once_and_beats_carry_them) {
  start_trusted();
  p.local_changed("H", {"nurse", "doctor"});
  p.local_changed("G", {"nurse"});
  p.local_changed("G", {});
  p.beat();
  auto msgs = sent_json();
  ASSERT_GE(msgs.size(), 6u);
  auto change = msgs[msgs.size() - 4];
  EXPECT_EQ(json::to_string(change), R"({"v":1,"n":"self","h":"H","r":["doctor","nurse"]})");
  EXPECT_EQ(json::to_string(msgs[msgs.size() - 2]), R"({"v":3,"n":"self","h":"G","r":[]})");
  EXPECT_EQ(json::to_string(msgs.back()), R"({"n":"self","v":3,"all":{"H":["doctor","nurse"]}})");
}

TEST_F(presence_fixture, a_hello_of_another_node_is_answered_with_a_beat) {
  start_trusted();
  p.local_changed("H", {"nurse"});
  auto before = sent_json().size();
  p.receive(R"({"n":"b","hello":true})");
  auto msgs = sent_json();
  ASSERT_EQ(msgs.size(), before + 1);
  EXPECT_EQ(json::to_string(msgs.back()), R"({"n":"self","v":1,"all":{"H":["nurse"]}})");
}

} // namespace
} // namespace vigil

// The batch procedures as per-alert calls (domain/batch.hpp).

#include "domain/batch.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

json::value parse(const std::string& text) {
  std::string err;
  auto v = json::parse(text, &err);
  EXPECT_TRUE(v.has_value()) << err;
  return v ? *v : json::value{};
}

TEST(batch, SingleProcedureOfEachBatch) {
  ASSERT_NE(batch_single_procedure(procedure::batch_acknowledge_alerts), nullptr);
  EXPECT_EQ(batch_single_procedure(procedure::batch_acknowledge_alerts)->id,
            procedure::acknowledge_alert);
  EXPECT_EQ(batch_single_procedure(procedure::batch_resolve_alerts)->id, procedure::resolve_alert);
  EXPECT_EQ(batch_single_procedure(procedure::get_alert), nullptr);
}

TEST(batch, DistinctIdsInFirstSeenOrder) {
  EXPECT_EQ(batch_alert_ids(parse(R"({"alertIds":["b","a","b",1,"c","a"]})")),
            (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_TRUE(batch_alert_ids(parse(R"({"alertIds":"a"})")).empty());
  EXPECT_TRUE(batch_alert_ids(parse(R"({})")).empty());
}

TEST(batch, PerAlertChecks) {
  identity who;
  who.hospitals = {"h1"};
  alert_lookup index = [](const std::string& id) -> std::optional<std::string> {
    if (id == "a1")
      return std::string{"h1"};
    if (id == "a2")
      return std::string{"h2"};
    return std::nullopt;
  };
  std::string hospital;
  EXPECT_EQ(check_batch_alert("a1", who, index, &hospital), std::nullopt);
  EXPECT_EQ(hospital, "h1");
  EXPECT_EQ(check_batch_alert("a2", who, index, &hospital),
            std::optional<std::string>{"Access denied to this hospital"});
  EXPECT_EQ(check_batch_alert("zz", who, index, &hospital),
            std::optional<std::string>{"Alert not found"});
  EXPECT_EQ(check_batch_alert("a1", who, nullptr, &hospital),
            std::optional<std::string>{"Alert not found"});
}

TEST(batch, SingleInputs) {
  auto in = parse(R"({"alertIds":["a"],"notes":"n","resolution":"r"})");
  EXPECT_EQ(json::to_string(batch_single_input(procedure::batch_acknowledge_alerts, in, "a")),
            R"({"alertId":"a","notes":"n","urgencyAssessment":"maintain"})");
  EXPECT_EQ(json::to_string(batch_single_input(procedure::batch_resolve_alerts, in, "a")),
            R"({"alertId":"a","resolution":"r"})");
  EXPECT_EQ(json::to_string(
              batch_single_input(procedure::batch_acknowledge_alerts, parse("{}"), "a")),
            R"({"alertId":"a","urgencyAssessment":"maintain"})");
}

TEST(batch, Reply) {
  auto done = json::value::make_array();
  done.push("a");
  auto errors = json::value::make_array();
  EXPECT_EQ(json::to_string(batch_reply(procedure::batch_acknowledge_alerts, done, errors)),
            R"({"success":true,"acknowledged":["a"],"errors":[]})");
  EXPECT_EQ(json::to_string(batch_reply(procedure::batch_resolve_alerts, json::value::make_array(),
                                        errors)),
            R"({"success":false,"resolved":[],"errors":[]})");
}

} // namespace
} // namespace vigil

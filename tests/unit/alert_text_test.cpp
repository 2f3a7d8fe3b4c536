// The durable write path's text writers give exactly what the json::value trees give.

#include "domain/alert_text.hpp"

#include <gtest/gtest.h>

#include "domain/receipts.hpp"

namespace {

using vigil::alert;
using vigil::json::value;

constexpr int64_t t0 = 1767607200000; // 2026-01-05T10:00:00.000Z

std::string plain(const value& v) { return vigil::json::to_string(v); }

std::string meta(const value& v) {
  std::string out;
  vigil::json::write_meta(out, v);
  return out;
}

/// A fresh alert, and the same alert through its whole life with every optional field set and
/// text that needs escaping.
std::vector<alert> samples() {
  alert a;
  a.id = "0190f2a4-1c2d-4e5f-8a6b-7c8d9e0f1a2b";
  a.hospital_id = "icu-west";
  a.room_number = "ICU-4";
  a.alert_type = "cardiac_arrest";
  a.urgency_level = 1;
  a.created_by = "nurse-1";
  a.created_at = t0;
  a.updated_at = t0;
  a.next_escalation_at = t0 + 120000;
  alert b = a;
  b.description = "bed 4 \"left\" \\ side\n\ttab \x01 caf\xc3\xa9";
  b.target_department = "icu";
  b.patient_id = "p-7";
  b.status = vigil::alert_status::resolved;
  b.escalation_level = 3;
  b.next_escalation_at.reset();
  b.acknowledged_by = "dr-2";
  b.acknowledged_at = t0 + 1000;
  b.acknowledgement_notes = "on it";
  b.resolved_by = "dr-2";
  b.resolved_at = t0 + 2000;
  b.resolution = "stable";
  b.updated_at = t0 + 2000;
  b.escalations.push_back({1, 2, "doctor", t0 + 500, "system", std::string("timeout"), false});
  b.escalations.push_back({3, 3, "head_doctor", t0 + 600, "system", std::nullopt, true});
  b.receipts.push_back({"dr-2", "doctor", t0 + 700, "abc-3"});
  b.receipts.push_back({"n-1", "nurse", t0 + 800, "abc-4"});
  b.attended_tier = 2;
  alert c = a; // before the epoch, an extended year
  c.created_at = -62167219200001;
  c.updated_at = 253402300800000;
  return {a, b, c};
}

TEST(AlertText, WritesWhatTheTreeWrites) {
  for (const auto& a : samples()) {
    auto t = vigil::alert_text(a);
    EXPECT_EQ(t.plain, plain(vigil::to_json(a)));
    EXPECT_EQ(vigil::meta_of(t.dates), meta(vigil::to_json(a)));
    std::string row;
    vigil::write_alert(row, a, true);
    EXPECT_EQ(row, plain(vigil::to_json(a, true)));
    EXPECT_EQ(vigil::alert_row_text(t.plain, a), row);
    // The stored row reads back as the same alert (stored instants have four-digit years).
    if (a.created_at < 0) continue;
    auto back = vigil::alert_from_json(*vigil::json::parse(row, nullptr));
    ASSERT_TRUE(back);
    EXPECT_EQ(plain(vigil::to_json(*back, true)), row);
  }
}

TEST(AlertText, EventTextIsTheEventTree) {
  for (const auto& a : samples()) {
    // An alert.created event carries the alert: from the tree and from the alert's text.
    auto e = vigil::make_alert_event(a, "alert.created", t0, vigil::to_json(a));
    e.id = "abcd1234-42";
    auto tree = vigil::to_json(e);
    auto from_tree = vigil::encode_event_text(e);
    EXPECT_EQ(vigil::event_payload(e.id, from_tree.rest), plain(tree));
    EXPECT_EQ(from_tree.meta, meta(tree));
    auto at = vigil::alert_text(a);
    auto from_text = vigil::encode_event_text(e, &at);
    EXPECT_EQ(vigil::event_payload(e.id, from_text.rest), plain(tree));
    EXPECT_EQ(from_text.meta, meta(tree));
  }
  // Data with nested dates and a key that needs superjson path escaping.
  alert a = samples()[1];
  value data = value::make_object();
  data.set("acknowledgedAt", value::date(t0));
  data.set("a.b", value::date(t0 + 1));
  data.set("list", value::make_array().push(value::date(t0 + 2)));
  auto e = vigil::make_alert_event(a, "alert.acknowledged", t0, data);
  e.id = "abcd1234-43";
  auto text = vigil::encode_event_text(e);
  EXPECT_EQ(vigil::event_payload(e.id, text.rest), plain(vigil::to_json(e)));
  EXPECT_EQ(text.meta, meta(vigil::to_json(e)));
}

TEST(AlertText, ReplyIsHeadThenAlert) {
  for (const auto& a : samples()) {
    auto at = vigil::alert_text(a);
    value head = value::make_object();
    head.set("success", true);
    head.set("responseTimeSeconds", 12);
    auto r = vigil::reply_text(head, at);
    value tree = head;
    tree.set("alert", vigil::to_json(a));
    EXPECT_EQ(r.plain, plain(tree));
    EXPECT_EQ(vigil::meta_of(r.dates), meta(tree));
  }
  // An empty head: the alert is the only member.
  auto at = vigil::alert_text(samples()[0]);
  auto r = vigil::reply_text(value::make_object(), at);
  value tree = value::make_object();
  tree.set("alert", vigil::to_json(samples()[0]));
  EXPECT_EQ(r.plain, plain(tree));
}

} // namespace

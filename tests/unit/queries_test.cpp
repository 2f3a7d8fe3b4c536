// Read-only queries over a hospital's alerts (docs/api.md "Data types" and "Queries").

#include "domain/queries.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "domain/time.hpp"

namespace json = vigil::json;
using json::value;
using vigil::alert;
using vigil::alert_list;
using vigil::alert_status;
using vigil::call_error;
using vigil::escalation_policy;
using vigil::trpc_code;

namespace {

constexpr int64_t t0 = 1767607200000; // 2026-01-05T10:00:00.000Z
constexpr int64_t sec = 1000;
constexpr int64_t minute = 60 * sec;
constexpr int64_t hour = 60 * minute;
constexpr int64_t day = 24 * hour;

/// A set of alerts owned by the test; `list()` hands out pointers like the hospital actor does.
class alert_store {
public:
  alert& add(std::string id, int64_t created_at, alert_status status = alert_status::active,
             int urgency = 3, std::string type = "code_blue") {
    alert a;
    a.id = std::move(id);
    a.hospital_id = "h1";
    a.room_number = "ICU-1";
    a.alert_type = std::move(type);
    a.urgency_level = urgency;
    a.status = status;
    a.created_by = "u-op";
    a.created_at = created_at;
    a.updated_at = created_at;
    if (status != alert_status::active) {
      a.acknowledged_by = "u-nurse";
      a.acknowledged_at = created_at + 10 * sec;
    }
    if (status == alert_status::resolved) {
      a.resolved_by = "u-nurse";
      a.resolved_at = created_at + 20 * sec;
      a.resolution = "Handled at bedside";
    }
    if (status == alert_status::active) a.next_escalation_at = created_at + 2 * minute;
    alerts_.push_back(std::move(a));
    return alerts_.back();
  }

  alert_list list() const {
    alert_list out;
    for (const auto& a : alerts_) out.push_back(&a);
    return out;
  }

  void remove(const std::string& id) {
    alerts_.erase(std::remove_if(alerts_.begin(), alerts_.end(),
                                 [&](const alert& a) { return a.id == id; }),
                  alerts_.end());
  }

private:
  std::deque<alert> alerts_; // deque: references stay valid while adding
};

value input(std::initializer_list<std::pair<const char*, value>> members) {
  value v = value::make_object();
  v.set("hospitalId", "h1");
  for (const auto& m : members) v.set(m.first, m.second);
  return v;
}

value ok(const std::variant<value, call_error>& r) {
  if (const auto* e = std::get_if<call_error>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return value();
  }
  return std::get<value>(r);
}

call_error err(const std::variant<value, call_error>& r) {
  if (const auto* e = std::get_if<call_error>(&r)) return *e;
  ADD_FAILURE() << "expected an error, got " << json::to_string(std::get<value>(r));
  return {};
}

/// Ids of the `alerts` array of a listing, in order.
std::vector<std::string> ids(const value& listing) {
  std::vector<std::string> out;
  const value* list = listing.find("alerts");
  if (!list) return out;
  for (const auto& a : list->as_array()) out.push_back(a.find("id")->as_string());
  return out;
}

std::vector<std::string> v(std::initializer_list<const char*> items) {
  return std::vector<std::string>(items.begin(), items.end());
}

const value& pagination(const value& listing) { return *listing.find("pagination"); }

/// Follows nextCursor from the first page until it is null; returns all ids in order.
std::vector<std::string> walk_pages(const alert_list& alerts, value in, int* pages) {
  std::vector<std::string> all;
  *pages = 0;
  for (int guard = 0; guard < 100; ++guard) {
    value page = ok(vigil::active_alerts(alerts, in));
    ++*pages;
    for (auto& id : ids(page)) all.push_back(id);
    const value& p = pagination(page);
    EXPECT_EQ(p.find("hasMore")->as_bool(), !p.find("nextCursor")->is_null());
    if (!p.find("hasMore")->as_bool()) return all;
    in.set("cursor", *p.find("nextCursor"));
  }
  ADD_FAILURE() << "cursor walk did not end";
  return all;
}

// ---- getActiveAlerts: filters -------------------------------------------------------------------

class ActiveAlertsTest : public ::testing::Test {
protected:
  void SetUp() override {
    store.add("a1", t0 + 1 * sec, alert_status::active, 1, "cardiac_arrest");
    store.add("a2", t0 + 2 * sec, alert_status::acknowledged, 2, "fire");
    store.add("a3", t0 + 3 * sec, alert_status::resolved, 3, "code_blue");
    store.add("a4", t0 + 4 * sec, alert_status::active, 4, "fire");
    store.add("a5", t0 + 5 * sec, alert_status::active, 1, "fire");
  }
  alert_store store;
};

TEST_F(ActiveAlertsTest, DefaultsListActiveAlertsNewestFirst) {
  value out = ok(vigil::active_alerts(store.list(), input({})));
  EXPECT_EQ(ids(out), v({"a5", "a4", "a1"}));
  EXPECT_EQ(out.find("total")->as_int(), 3);
  const value& p = pagination(out);
  EXPECT_EQ(p.find("total")->as_int(), 3);
  EXPECT_EQ(p.find("limit")->as_int(), 20);
  EXPECT_EQ(p.find("offset")->as_int(), 0);
  EXPECT_FALSE(p.find("hasMore")->as_bool());
  EXPECT_TRUE(p.find("nextCursor")->is_null());
}

TEST_F(ActiveAlertsTest, StatusFilters) {
  auto with_status = [&](const char* s) {
    return ids(ok(vigil::active_alerts(store.list(), input({{"status", s}}))));
  };
  EXPECT_EQ(with_status("active"), v({"a5", "a4", "a1"}));
  EXPECT_EQ(with_status("acknowledged"), v({"a2"}));
  EXPECT_EQ(with_status("resolved"), v({"a3"}));
  EXPECT_EQ(with_status("all"), v({"a5", "a4", "a3", "a2", "a1"}));
}

TEST_F(ActiveAlertsTest, UrgencyLevelIsAnExactMatch) {
  value out = ok(vigil::active_alerts(store.list(), input({{"status", "all"}, {"urgencyLevel", 1}})));
  EXPECT_EQ(ids(out), v({"a5", "a1"}));
  EXPECT_EQ(out.find("total")->as_int(), 2);
  out = ok(vigil::active_alerts(store.list(), input({{"status", "all"}, {"urgencyLevel", 5}})));
  EXPECT_TRUE(ids(out).empty());
  EXPECT_EQ(out.find("total")->as_int(), 0);
}

TEST_F(ActiveAlertsTest, AlertTypeIsAnExactMatch) {
  value out = ok(vigil::active_alerts(store.list(), input({{"status", "all"}, {"alertType", "fire"}})));
  EXPECT_EQ(ids(out), v({"a5", "a4", "a2"}));
  out = ok(vigil::active_alerts(store.list(), input({{"alertType", "security"}})));
  EXPECT_TRUE(ids(out).empty());
}

TEST_F(ActiveAlertsTest, FiltersCombine) {
  value out = ok(vigil::active_alerts(
      store.list(), input({{"status", "active"}, {"alertType", "fire"}, {"urgencyLevel", 4}})));
  EXPECT_EQ(ids(out), v({"a4"}));
  EXPECT_EQ(out.find("total")->as_int(), 1);
}

TEST_F(ActiveAlertsTest, ItemsArePlainAlertShapesWithoutEscalations) {
  value out = ok(vigil::active_alerts(store.list(), input({{"status", "acknowledged"}})));
  const value& item = out.find("alerts")->as_array().at(0);
  EXPECT_EQ(item, vigil::to_json(*store.list()[1], false));
  EXPECT_EQ(item.find("escalations"), nullptr);
  EXPECT_TRUE(item.find("createdAt")->is_date());
}

TEST_F(ActiveAlertsTest, OutputKeyOrder) {
  value out = ok(vigil::active_alerts(store.list(), input({{"status", "resolved"}})));
  std::string text = json::to_string(out);
  EXPECT_EQ(text.rfind("{\"alerts\":[", 0), 0u) << text;
  EXPECT_NE(text.find("],\"total\":1,\"pagination\":{\"total\":1,\"limit\":20,\"offset\":0,"
                      "\"hasMore\":false,\"nextCursor\":null}}"),
            std::string::npos)
      << text;
}

TEST_F(ActiveAlertsTest, EmptyHospital) {
  value out = ok(vigil::active_alerts({}, input({{"status", "all"}})));
  EXPECT_TRUE(ids(out).empty());
  EXPECT_EQ(out.find("total")->as_int(), 0);
  EXPECT_FALSE(pagination(out).find("hasMore")->as_bool());
}

// ---- getActiveAlerts: sorting -------------------------------------------------------------------

TEST(ActiveAlertsSort, CreatedAtTiesBrokenByIdInTheSameDirection) {
  alert_store s;
  s.add("b", t0);
  s.add("c", t0);
  s.add("a", t0);
  s.add("z", t0 - sec);
  s.add("y", t0 + sec);
  EXPECT_EQ(ids(ok(vigil::active_alerts(s.list(), input({})))), v({"y", "c", "b", "a", "z"}));
  EXPECT_EQ(ids(ok(vigil::active_alerts(s.list(), input({{"sortOrder", "asc"}})))),
            v({"z", "a", "b", "c", "y"}));
}

TEST(ActiveAlertsSort, UrgencyIsNumericWithCreatedAtThenIdTieBreaks) {
  alert_store s;
  s.add("u3", t0, alert_status::active, 3);
  s.add("u1-old", t0, alert_status::active, 1);
  s.add("u1-new", t0 + sec, alert_status::active, 1);
  s.add("u1-tie-b", t0 + sec, alert_status::active, 1);
  s.add("u5", t0, alert_status::active, 5);
  s.add("u2", t0, alert_status::active, 2);
  value asc = ok(vigil::active_alerts(
      s.list(), input({{"sortBy", "urgencyLevel"}, {"sortOrder", "asc"}})));
  EXPECT_EQ(ids(asc), v({"u1-old", "u1-new", "u1-tie-b", "u2", "u3", "u5"}));
  value desc = ok(vigil::active_alerts(
      s.list(), input({{"sortBy", "urgencyLevel"}, {"sortOrder", "desc"}})));
  EXPECT_EQ(ids(desc), v({"u5", "u3", "u2", "u1-tie-b", "u1-new", "u1-old"}));
}

TEST(ActiveAlertsSort, AcknowledgedAtPutsNullsLastInBothDirections) {
  alert_store s;
  s.add("n-old", t0);                                    // active: never acknowledged
  s.add("n-new", t0 + sec);                              // active: never acknowledged
  s.add("k1", t0 + 2 * sec, alert_status::acknowledged); // acked t0+12s
  s.add("k2", t0 + 3 * sec, alert_status::resolved);     // acked t0+13s
  s.add("k3", t0 + 1 * sec, alert_status::acknowledged).acknowledged_at = t0 + 13 * sec;
  s.add("k0", t0 + 1 * sec, alert_status::acknowledged).acknowledged_at = t0 + 13 * sec;
  value asc = ok(vigil::active_alerts(
      s.list(), input({{"status", "all"}, {"sortBy", "acknowledgedAt"}, {"sortOrder", "asc"}})));
  // k0/k3/k2 share acknowledgedAt: createdAt asc (k0,k3 at t0+1s, k2 at t0+3s), then id asc.
  EXPECT_EQ(ids(asc), v({"k1", "k0", "k3", "k2", "n-old", "n-new"}));
  value desc = ok(vigil::active_alerts(
      s.list(), input({{"status", "all"}, {"sortBy", "acknowledgedAt"}, {"sortOrder", "desc"}})));
  EXPECT_EQ(ids(desc), v({"k2", "k3", "k0", "k1", "n-new", "n-old"}));
}

// ---- getActiveAlerts: pagination ----------------------------------------------------------------

class PagingTest : public ::testing::Test {
protected:
  void SetUp() override {
    // 12 alerts with ties on every sort field and several null acknowledgedAt values.
    for (int i = 0; i < 12; ++i) {
      alert_status st = i % 3 == 0 ? alert_status::active
                        : i % 3 == 1 ? alert_status::acknowledged
                                     : alert_status::resolved;
      alert& a = store.add("id" + std::to_string(100 + (i * 7) % 12), t0 + (i / 3) * sec, st,
                           1 + i % 5);
      if (a.acknowledged_at) a.acknowledged_at = t0 + 100 * sec + (i % 2) * sec;
    }
  }
  alert_store store;
};

TEST_F(PagingTest, LimitAndOffset) {
  value all = ok(vigil::active_alerts(store.list(), input({{"status", "all"}, {"limit", 100}})));
  std::vector<std::string> everything = ids(all);
  ASSERT_EQ(everything.size(), 12u);

  value page = ok(vigil::active_alerts(
      store.list(), input({{"status", "all"}, {"limit", 5}, {"offset", 3}})));
  EXPECT_EQ(ids(page), std::vector<std::string>(everything.begin() + 3, everything.begin() + 8));
  EXPECT_EQ(page.find("total")->as_int(), 12);
  EXPECT_EQ(pagination(page).find("limit")->as_int(), 5);
  EXPECT_EQ(pagination(page).find("offset")->as_int(), 3);
  EXPECT_TRUE(pagination(page).find("hasMore")->as_bool());
  EXPECT_TRUE(pagination(page).find("nextCursor")->is_string());

  // Exactly reaching the end: no more.
  page = ok(vigil::active_alerts(store.list(),
                                 input({{"status", "all"}, {"limit", 4}, {"offset", 8}})));
  EXPECT_EQ(ids(page), std::vector<std::string>(everything.begin() + 8, everything.end()));
  EXPECT_FALSE(pagination(page).find("hasMore")->as_bool());
  EXPECT_TRUE(pagination(page).find("nextCursor")->is_null());

  // Past the end: empty page, total unchanged.
  page = ok(vigil::active_alerts(store.list(),
                                 input({{"status", "all"}, {"limit", 4}, {"offset", 50}})));
  EXPECT_TRUE(ids(page).empty());
  EXPECT_EQ(page.find("total")->as_int(), 12);
  EXPECT_FALSE(pagination(page).find("hasMore")->as_bool());
  EXPECT_TRUE(pagination(page).find("nextCursor")->is_null());
}

TEST_F(PagingTest, CursorWalkMatchesOneBigPageForEverySort) {
  for (const char* sort_by : {"createdAt", "urgencyLevel", "acknowledgedAt"}) {
    for (const char* order : {"asc", "desc"}) {
      SCOPED_TRACE(std::string(sort_by) + " " + order);
      value base = input({{"status", "all"}, {"sortBy", sort_by}, {"sortOrder", order}});
      value big = base;
      big.set("limit", 100);
      std::vector<std::string> expected = ids(ok(vigil::active_alerts(store.list(), big)));
      ASSERT_EQ(expected.size(), 12u);

      value small = base;
      small.set("limit", 5);
      int pages = 0;
      std::vector<std::string> walked = walk_pages(store.list(), small, &pages);
      EXPECT_EQ(walked, expected);
      EXPECT_EQ(pages, 3);
      EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()).size(), walked.size());

      small.set("limit", 4); // last page exactly full: the third page ends it
      walked = walk_pages(store.list(), small, &pages);
      EXPECT_EQ(walked, expected);
      EXPECT_EQ(pages, 3);
    }
  }
}

TEST_F(PagingTest, CursorPagesKeepTotalOfAllMatches) {
  value in = input({{"status", "all"}, {"limit", 5}});
  value first = ok(vigil::active_alerts(store.list(), in));
  in.set("cursor", *pagination(first).find("nextCursor"));
  value second = ok(vigil::active_alerts(store.list(), in));
  EXPECT_EQ(second.find("total")->as_int(), 12);
  EXPECT_EQ(pagination(second).find("total")->as_int(), 12);
}

TEST_F(PagingTest, OffsetAppliesAfterTheCursor) {
  value big = input({{"status", "all"}, {"limit", 100}});
  std::vector<std::string> everything = ids(ok(vigil::active_alerts(store.list(), big)));
  value in = input({{"status", "all"}, {"limit", 3}});
  value first = ok(vigil::active_alerts(store.list(), in));
  in.set("cursor", *pagination(first).find("nextCursor"));
  in.set("offset", 2);
  value second = ok(vigil::active_alerts(store.list(), in));
  EXPECT_EQ(ids(second), std::vector<std::string>(everything.begin() + 5, everything.begin() + 8));
  EXPECT_EQ(pagination(second).find("offset")->as_int(), 2);
  EXPECT_TRUE(pagination(second).find("hasMore")->as_bool());
}

TEST_F(PagingTest, CursorSurvivesRemovalOfItsAlert) {
  value in = input({{"status", "all"}, {"limit", 4}});
  value big = input({{"status", "all"}, {"limit", 100}});
  std::vector<std::string> everything = ids(ok(vigil::active_alerts(store.list(), big)));
  value first = ok(vigil::active_alerts(store.list(), in));
  store.remove(ids(first).back());
  in.set("cursor", *pagination(first).find("nextCursor"));
  value second = ok(vigil::active_alerts(store.list(), in));
  EXPECT_EQ(ids(second), std::vector<std::string>(everything.begin() + 4, everything.begin() + 8));
}

TEST_F(PagingTest, CursorFromAnotherSortFieldIsRejected) {
  value in = input({{"status", "all"}, {"limit", 3}});
  value first = ok(vigil::active_alerts(store.list(), in));
  value other = input({{"status", "all"}, {"sortBy", "urgencyLevel"}});
  other.set("cursor", *pagination(first).find("nextCursor"));
  call_error e = err(vigil::active_alerts(store.list(), other));
  EXPECT_EQ(e.code, trpc_code::bad_request);
  EXPECT_EQ(e.message, "Invalid cursor");
}

TEST(ActiveAlertsCursor, IsoTimestampIsInclusive) {
  alert_store s;
  for (int i = 0; i < 5; ++i) s.add("a" + std::to_string(i), t0 + i * sec);
  value desc = ok(vigil::active_alerts(
      s.list(), input({{"cursor", vigil::format_iso(t0 + 2 * sec)}})));
  EXPECT_EQ(ids(desc), v({"a2", "a1", "a0"}));
  EXPECT_EQ(desc.find("total")->as_int(), 5);
  value asc = ok(vigil::active_alerts(
      s.list(), input({{"sortOrder", "asc"}, {"cursor", vigil::format_iso(t0 + 2 * sec)}})));
  EXPECT_EQ(ids(asc), v({"a2", "a3", "a4"}));
  // Other ISO forms (offset, no milliseconds) are timestamps too.
  value offset_form = ok(vigil::active_alerts(
      s.list(), input({{"cursor", "2026-01-05T11:00:03+01:00"}})));
  EXPECT_EQ(ids(offset_form), v({"a3", "a2", "a1", "a0"}));
}

TEST(ActiveAlertsCursor, IsoTimestampPagesContinueWithOpaqueCursor) {
  alert_store s;
  for (int i = 0; i < 5; ++i) s.add("a" + std::to_string(i), t0 + i * sec);
  value in = input({{"limit", 2}, {"cursor", vigil::format_iso(t0 + 3 * sec)}});
  value first = ok(vigil::active_alerts(s.list(), in));
  EXPECT_EQ(ids(first), v({"a3", "a2"}));
  ASSERT_TRUE(pagination(first).find("hasMore")->as_bool());
  in.set("cursor", *pagination(first).find("nextCursor"));
  value second = ok(vigil::active_alerts(s.list(), in));
  EXPECT_EQ(ids(second), v({"a1", "a0"}));
  EXPECT_FALSE(pagination(second).find("hasMore")->as_bool());
}

TEST(ActiveAlertsCursor, IsoTimestampOnlyWithCreatedAtSort) {
  alert_store s;
  s.add("a", t0);
  for (const char* sort_by : {"urgencyLevel", "acknowledgedAt"}) {
    call_error e = err(vigil::active_alerts(
        s.list(), input({{"sortBy", sort_by}, {"cursor", vigil::format_iso(t0)}})));
    EXPECT_EQ(e.code, trpc_code::bad_request) << sort_by;
    EXPECT_EQ(e.message, "Invalid cursor");
  }
}

TEST(ActiveAlertsCursor, UnreadableCursorsAreBadRequests) {
  alert_store s;
  s.add("a", t0);
  for (const char* bad : {"", "garbage", "c1.", "c1.!!!!", "c1.YQ", "c1.Y3xufDF8aWQ",
                          "2026-13-01T00:00:00Z", "c2.Y3wxfDF8aWQ"}) {
    call_error e = err(vigil::active_alerts(s.list(), input({{"cursor", bad}})));
    EXPECT_EQ(e.code, trpc_code::bad_request) << bad;
    EXPECT_EQ(e.message, "Invalid cursor") << bad;
  }
  call_error e = err(vigil::active_alerts(s.list(), input({{"cursor", 12}})));
  EXPECT_EQ(e.code, trpc_code::bad_request);
}

TEST(ActiveAlertsCursor, NullCursorMeansNone) {
  alert_store s;
  s.add("a", t0);
  value out = ok(vigil::active_alerts(s.list(), input({{"cursor", value()}})));
  EXPECT_EQ(ids(out), v({"a"}));
}

// ---- Metrics ------------------------------------------------------------------------------------

const int64_t now = t0 + 2 * hour;

TEST(Metrics, NoAlertsGivesRateOneAndZeroAverage) {
  value m = vigil::metrics(vigil::alert_list{}, 4, now);
  EXPECT_EQ(json::to_string(m),
            "{\"activeAlerts\":0,\"criticalAlerts\":0,\"staffOnline\":4,\"responseRate\":1,"
            "\"avgResponseTime\":0,\"avgResponseTimeSec\":0,\"timestamp\":\"" +
                vigil::format_iso(now) + "\"}");
  EXPECT_TRUE(m.find("timestamp")->is_date());
}

TEST(Metrics, OnlyOldAlertsGivesRateOne) {
  alert_store s;
  s.add("old", now - hour - 1);
  value m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(json::to_string(*m.find("responseRate")), "1");
  EXPECT_EQ(m.find("activeAlerts")->as_int(), 1); // counted, though outside the rate window
}

TEST(Metrics, ActiveAndCriticalCounts) {
  alert_store s;
  s.add("c1", now - 5 * hour, alert_status::active, 1);
  s.add("c2", now - minute, alert_status::active, 2);
  s.add("n3", now - minute, alert_status::active, 3);
  s.add("k1", now - minute, alert_status::acknowledged, 1);
  s.add("r1", now - minute, alert_status::resolved, 1);
  value m = vigil::metrics(s.list(), 2, now);
  EXPECT_EQ(m.find("activeAlerts")->as_int(), 4);
  EXPECT_EQ(m.find("criticalAlerts")->as_int(), 2);
  EXPECT_EQ(m.find("staffOnline")->as_int(), 2);
}

TEST(Metrics, ResponseRateRoundedToTwoDecimals) {
  alert_store s;
  s.add("a", now - minute);
  s.add("b", now - minute, alert_status::acknowledged);
  s.add("c", now - minute, alert_status::resolved); // resolved counts as acknowledged
  value m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(json::to_string(*m.find("responseRate")), "0.67");

  s.remove("c");
  s.add("d", now - minute);
  m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(json::to_string(*m.find("responseRate")), "0.33");
}

TEST(Metrics, AllAcknowledgedPrintsOne) {
  alert_store s;
  s.add("a", now - minute, alert_status::acknowledged);
  s.add("b", now - minute, alert_status::resolved);
  EXPECT_EQ(json::to_string(*vigil::metrics(s.list(), 0, now).find("responseRate")), "1");
}

TEST(Metrics, NoneAcknowledgedPrintsZero) {
  alert_store s;
  s.add("a", now - minute);
  EXPECT_EQ(json::to_string(*vigil::metrics(s.list(), 0, now).find("responseRate")), "0");
}

TEST(Metrics, WindowStartsExactlyOneHourBeforeNow) {
  alert_store s;
  s.add("edge", now - hour);          // inside
  s.add("before", now - hour - 1, alert_status::acknowledged); // outside
  value m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(json::to_string(*m.find("responseRate")), "0");
  EXPECT_EQ(m.find("avgResponseTimeSec")->as_int(), 0);
}

TEST(Metrics, AverageResponseTimeRoundsToNearestSecond) {
  alert_store s;
  s.add("a", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 1500;
  s.add("b", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 2000;
  s.add("c", now - minute); // not acknowledged: not in the mean
  value m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(m.find("avgResponseTimeSec")->as_int(), 2); // 1.75 s
  EXPECT_EQ(m.find("avgResponseTime")->as_int(), 2);
  EXPECT_TRUE(m.find("avgResponseTimeSec")->is_int());

  s.remove("b");
  s.add("d", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 1400;
  m = vigil::metrics(s.list(), 0, now);
  EXPECT_EQ(m.find("avgResponseTimeSec")->as_int(), 1); // 1.45 s
}

TEST(Metrics, AverageOnlyOverAlertsCreatedInTheLastHour) {
  alert_store s;
  s.add("old", now - 3 * hour, alert_status::acknowledged).acknowledged_at = now - minute;
  s.add("new", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 30 * sec;
  EXPECT_EQ(vigil::metrics(s.list(), 0, now).find("avgResponseTimeSec")->as_int(), 30);
}

// ---- getEscalationStatus ------------------------------------------------------------------------

vigil::escalation_record record(int from, int to, const char* role, int64_t at) {
  vigil::escalation_record r;
  r.from_tier = from;
  r.to_tier = to;
  r.to_role = role;
  r.escalated_at = at;
  r.escalated_by = "system";
  r.reason = "timeout";
  return r;
}

TEST(EscalationStatus, TierOne) {
  alert_store s;
  alert& a = s.add("a", t0);
  value st = vigil::escalation_status(a, escalation_policy{}, t0 + 30 * sec);
  EXPECT_EQ(json::to_string(st),
            "{\"alertId\":\"a\",\"currentTier\":1,\"maxTier\":3,\"currentTierConfig\":"
            "{\"role\":\"nurse\",\"timeoutMinutes\":2,\"nextRole\":\"doctor\"},"
            "\"timeUntilNextEscalation\":90000,\"escalationHistory\":[],\"canEscalate\":true}");
}

TEST(EscalationStatus, TierTwoWithHistory) {
  alert_store s;
  alert& a = s.add("a", t0);
  a.escalation_level = 2;
  a.escalations.push_back(record(1, 2, "doctor", t0 + 2 * minute));
  a.next_escalation_at = t0 + 5 * minute;
  value st = vigil::escalation_status(a, escalation_policy{}, t0 + 5 * minute - 95 * sec);
  EXPECT_EQ(st.find("currentTier")->as_int(), 2);
  EXPECT_EQ(json::to_string(*st.find("currentTierConfig")),
            "{\"role\":\"doctor\",\"timeoutMinutes\":3,\"nextRole\":\"head_doctor\"}");
  EXPECT_EQ(st.find("timeUntilNextEscalation")->as_int(), 95000);
  ASSERT_EQ(st.find("escalationHistory")->size(), 1u);
  EXPECT_EQ(st.find("escalationHistory")->as_array()[0], vigil::to_json(a.escalations[0]));
  EXPECT_TRUE(st.find("canEscalate")->as_bool());
}

TEST(EscalationStatus, LastTier) {
  alert_store s;
  alert& a = s.add("a", t0);
  a.escalation_level = 3;
  a.next_escalation_at.reset();
  a.escalations = {record(1, 2, "doctor", t0 + 2 * minute),
                   record(2, 3, "head_doctor", t0 + 5 * minute)};
  value st = vigil::escalation_status(a, escalation_policy{}, t0 + 6 * minute);
  EXPECT_EQ(json::to_string(*st.find("currentTierConfig")),
            "{\"role\":\"head_doctor\",\"timeoutMinutes\":null,\"nextRole\":null}");
  EXPECT_TRUE(st.find("timeUntilNextEscalation")->is_null());
  EXPECT_FALSE(st.find("canEscalate")->as_bool());
  ASSERT_EQ(st.find("escalationHistory")->size(), 2u);
  EXPECT_EQ(st.find("escalationHistory")->as_array()[0].find("toTier")->as_int(), 2);
  EXPECT_EQ(st.find("escalationHistory")->as_array()[1].find("toTier")->as_int(), 3);
}

TEST(EscalationStatus, AcknowledgedHasNoConfigAndCannotEscalate) {
  alert_store s;
  alert& a = s.add("a", t0, alert_status::acknowledged);
  a.escalation_level = 2;
  a.escalations.push_back(record(1, 2, "doctor", t0 + 2 * minute));
  value st = vigil::escalation_status(a, escalation_policy{}, t0 + 3 * minute);
  EXPECT_TRUE(st.find("currentTierConfig")->is_null());
  EXPECT_TRUE(st.find("timeUntilNextEscalation")->is_null());
  EXPECT_FALSE(st.find("canEscalate")->as_bool());
  EXPECT_EQ(st.find("currentTier")->as_int(), 2);
  EXPECT_EQ(st.find("escalationHistory")->size(), 1u);
}

TEST(EscalationStatus, ResolvedCannotEscalate) {
  alert_store s;
  alert& a = s.add("a", t0, alert_status::resolved);
  value st = vigil::escalation_status(a, escalation_policy{}, t0);
  EXPECT_TRUE(st.find("currentTierConfig")->is_null());
  EXPECT_FALSE(st.find("canEscalate")->as_bool());
}

TEST(EscalationStatus, OverdueDeadlineGivesZero) {
  alert_store s;
  alert& a = s.add("a", t0);
  value st = vigil::escalation_status(a, escalation_policy{}, t0 + 10 * minute);
  EXPECT_EQ(json::to_string(*st.find("timeUntilNextEscalation")), "0");
  st = vigil::escalation_status(a, escalation_policy{}, t0 + 2 * minute);
  EXPECT_EQ(json::to_string(*st.find("timeUntilNextEscalation")), "0");
}

TEST(EscalationStatus, FractionalTimeoutMinutes) {
  escalation_policy p;
  p.tiers = {{"nurse", 90000}, {"doctor", 10000}, {"head_doctor", std::nullopt}};
  alert_store s;
  alert& a = s.add("a", t0);
  value st = vigil::escalation_status(a, p, t0);
  EXPECT_EQ(json::to_string(*st.find("currentTierConfig")->find("timeoutMinutes")), "1.5");
  a.escalation_level = 2;
  st = vigil::escalation_status(a, p, t0);
  EXPECT_DOUBLE_EQ(st.find("currentTierConfig")->find("timeoutMinutes")->as_double(), 1.0 / 6.0);
}

TEST(EscalationStatus, TierBeyondThePolicy) {
  escalation_policy p;
  p.tiers = {{"nurse", 60000}, {"doctor", std::nullopt}};
  alert_store s;
  alert& a = s.add("a", t0);
  a.escalation_level = 3;
  value st = vigil::escalation_status(a, p, t0);
  EXPECT_EQ(st.find("maxTier")->as_int(), 2);
  EXPECT_TRUE(st.find("currentTierConfig")->is_null());
  EXPECT_FALSE(st.find("canEscalate")->as_bool());
}

TEST(EscalationStatus, SingleTierPolicy) {
  escalation_policy p;
  p.tiers = {{"nurse", std::nullopt}};
  alert_store s;
  alert& a = s.add("a", t0);
  a.next_escalation_at.reset();
  value st = vigil::escalation_status(a, p, t0);
  EXPECT_EQ(json::to_string(*st.find("currentTierConfig")),
            "{\"role\":\"nurse\",\"timeoutMinutes\":null,\"nextRole\":null}");
  EXPECT_FALSE(st.find("canEscalate")->as_bool());
}

// ---- getActiveEscalations -----------------------------------------------------------------------

std::vector<std::string> tier_ids(const value& out, const char* tier) {
  std::vector<std::string> r;
  for (const auto& item : out.find("byTier")->find(tier)->as_array())
    r.push_back(item.find("id")->as_string());
  return r;
}

TEST(ActiveEscalations, EmptyHospitalHasEveryTierKey) {
  value out = vigil::active_escalations({}, escalation_policy{}, t0);
  EXPECT_EQ(json::to_string(out),
            "{\"totalActive\":0,\"byTier\":{\"1\":[],\"2\":[],\"3\":[]},\"overdue\":0}");
}

TEST(ActiveEscalations, GroupsSortsAndCountsOverdue) {
  alert_store s;
  const int64_t at = t0 + 10 * minute;
  s.add("t1-late", t0).next_escalation_at = at + 60 * sec;
  s.add("t1-soon", t0).next_escalation_at = at + 5 * sec;
  s.add("t1-overdue", t0).next_escalation_at = at - sec;
  alert& t2 = s.add("t2", t0);
  t2.escalation_level = 2;
  t2.next_escalation_at = at;                          // due now: not in the past
  alert& t3 = s.add("t3", t0);
  t3.escalation_level = 3;
  t3.next_escalation_at.reset();
  s.add("acked", t0, alert_status::acknowledged);
  s.add("resolved", t0, alert_status::resolved);

  value out = vigil::active_escalations(s.list(), escalation_policy{}, at);
  EXPECT_EQ(out.find("totalActive")->as_int(), 5);
  EXPECT_EQ(out.find("overdue")->as_int(), 1);
  EXPECT_EQ(tier_ids(out, "1"), v({"t1-overdue", "t1-soon", "t1-late"}));
  EXPECT_EQ(tier_ids(out, "2"), v({"t2"}));
  EXPECT_EQ(tier_ids(out, "3"), v({"t3"}));

  const value& overdue = out.find("byTier")->find("1")->as_array()[0];
  EXPECT_TRUE(overdue.find("isOverdue")->as_bool());
  EXPECT_EQ(overdue.find("timeUntilEscalation")->as_int(), 0);
  const value& soon = out.find("byTier")->find("1")->as_array()[1];
  EXPECT_FALSE(soon.find("isOverdue")->as_bool());
  EXPECT_EQ(soon.find("timeUntilEscalation")->as_int(), 5000);
  const value& due = out.find("byTier")->find("2")->as_array()[0];
  EXPECT_FALSE(due.find("isOverdue")->as_bool());
  EXPECT_EQ(due.find("timeUntilEscalation")->as_int(), 0);
  const value& last = out.find("byTier")->find("3")->as_array()[0];
  EXPECT_TRUE(last.find("timeUntilEscalation")->is_null());
  EXPECT_TRUE(last.find("nextEscalationAt")->is_null());
  EXPECT_FALSE(last.find("isOverdue")->as_bool());
}

TEST(ActiveEscalations, ItemShape) {
  alert_store s;
  alert& a = s.add("a", t0, alert_status::active, 1, "cardiac_arrest");
  a.escalation_level = 2;
  a.next_escalation_at = t0 + 5 * minute;
  value out = vigil::active_escalations(s.list(), escalation_policy{}, t0 + 5 * minute - 95 * sec);
  const value& item = out.find("byTier")->find("2")->as_array().at(0);
  EXPECT_EQ(json::to_string(item),
            "{\"id\":\"a\",\"roomNumber\":\"ICU-1\",\"alertType\":\"cardiac_arrest\","
            "\"urgencyLevel\":1,\"currentEscalationTier\":2,\"nextEscalationAt\":\"" +
                vigil::format_iso(t0 + 5 * minute) + "\",\"createdAt\":\"" +
                vigil::format_iso(t0) +
                "\",\"timeUntilEscalation\":95000,\"isOverdue\":false}");
  EXPECT_TRUE(item.find("nextEscalationAt")->is_date());
  EXPECT_TRUE(item.find("createdAt")->is_date());
}

TEST(ActiveEscalations, NullDeadlinesLastThenOldestFirst) {
  alert_store s;
  s.add("n-new", t0 + sec).next_escalation_at.reset();
  s.add("n-old", t0).next_escalation_at.reset();
  s.add("d", t0 + 2 * sec).next_escalation_at = t0 + hour;
  value out = vigil::active_escalations(s.list(), escalation_policy{}, t0);
  EXPECT_EQ(tier_ids(out, "1"), v({"d", "n-old", "n-new"}));
}

TEST(ActiveEscalations, KeysFollowThePolicy) {
  escalation_policy p;
  p.tiers = {{"nurse", 60000}, {"doctor", std::nullopt}};
  value out = vigil::active_escalations({}, p, t0);
  EXPECT_EQ(json::to_string(*out.find("byTier")), "{\"1\":[],\"2\":[]}");

  alert_store s;
  s.add("beyond", t0).escalation_level = 3; // policy shrank after it escalated
  out = vigil::active_escalations(s.list(), p, t0);
  EXPECT_EQ(out.find("totalActive")->as_int(), 1);
  EXPECT_EQ(tier_ids(out, "3"), v({"beyond"}));
}

// ---- getAlertHistory ----------------------------------------------------------------------------

class HistoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    store.add("h0", t0, alert_status::resolved);
    store.add("h1", t0 + hour, alert_status::acknowledged);
    store.add("h2", t0 + 2 * hour, alert_status::active);
    store.add("h3", t0 + 3 * hour, alert_status::resolved);
    store.add("h3b", t0 + 3 * hour, alert_status::active);
  }
  value history(std::initializer_list<std::pair<const char*, value>> members) {
    return vigil::alert_history(store.list(), input(members));
  }
  alert_store store;
};

TEST_F(HistoryTest, AllStatusesNewestFirst) {
  value out = history({});
  EXPECT_EQ(ids(out), v({"h3b", "h3", "h2", "h1", "h0"}));
  EXPECT_EQ(out.find("total")->as_int(), 5);
  EXPECT_EQ(out.size(), 2u); // exactly {alerts, total}
  EXPECT_EQ(out.find("alerts")->as_array()[0], vigil::to_json(*store.list()[4], false));
}

TEST_F(HistoryTest, RangeIsInclusive) {
  value out = history({{"startDate", value::date(t0 + hour)}, {"endDate", value::date(t0 + 2 * hour)}});
  EXPECT_EQ(ids(out), v({"h2", "h1"}));
  EXPECT_EQ(out.find("total")->as_int(), 2);
}

TEST_F(HistoryTest, OpenEndedRanges) {
  EXPECT_EQ(ids(history({{"startDate", value::date(t0 + 2 * hour)}})), v({"h3b", "h3", "h2"}));
  EXPECT_EQ(ids(history({{"endDate", value::date(t0 + hour)}})), v({"h1", "h0"}));
  EXPECT_EQ(ids(history({{"startDate", value::date(t0 + hour + 1)},
                         {"endDate", value::date(t0 + 2 * hour - 1)}})),
            v({}));
}

TEST_F(HistoryTest, LimitAndOffset) {
  value out = history({{"limit", 2}, {"offset", 1}});
  EXPECT_EQ(ids(out), v({"h3", "h2"}));
  EXPECT_EQ(out.find("total")->as_int(), 5);
  out = history({{"limit", 2}, {"offset", 4}});
  EXPECT_EQ(ids(out), v({"h0"}));
  out = history({{"offset", 9}});
  EXPECT_TRUE(ids(out).empty());
  EXPECT_EQ(out.find("total")->as_int(), 5);
}

TEST_F(HistoryTest, DefaultLimitIsFifty) {
  alert_store many;
  for (int i = 0; i < 60; ++i) many.add("m" + std::to_string(100 + i), t0 + i);
  value out = vigil::alert_history(many.list(), input({}));
  EXPECT_EQ(out.find("alerts")->size(), 50u);
  EXPECT_EQ(out.find("total")->as_int(), 60);
  EXPECT_EQ(ids(out).front(), "m159");
}

// ---- getAlertStats ------------------------------------------------------------------------------

TEST(AlertStats, EmptyHospital) {
  EXPECT_EQ(json::to_string(vigil::alert_stats(vigil::alert_list{}, now)),
            "{\"active\":0,\"acknowledged\":0,\"resolved24h\":0,\"escalated\":0,"
            "\"avgResponseTime\":0}");
}

TEST(AlertStats, CountsAndWindows) {
  alert_store s;
  s.add("a1", now - minute);
  s.add("a2", now - minute).escalation_level = 2;
  s.add("a3", now - minute).escalation_level = 3;
  alert& k = s.add("k", now - 2 * minute, alert_status::acknowledged);
  k.escalation_level = 2; // acknowledged: not counted as escalated
  k.acknowledged_at = now - 2 * minute + 30 * sec;
  alert& r_edge = s.add("r-edge", now - 2 * day, alert_status::resolved);
  r_edge.acknowledged_at = now - day; // ack exactly 24 h ago: in the window
  r_edge.resolved_at = now - day;     // resolved exactly 24 h ago: counted
  alert& r_old = s.add("r-old", now - 3 * day, alert_status::resolved);
  r_old.acknowledged_at = now - day - 1; // outside the window
  r_old.resolved_at = now - day - 1;

  value out = vigil::alert_stats(s.list(), now);
  EXPECT_EQ(out.find("active")->as_int(), 3);
  EXPECT_EQ(out.find("acknowledged")->as_int(), 1);
  EXPECT_EQ(out.find("resolved24h")->as_int(), 1);
  EXPECT_EQ(out.find("escalated")->as_int(), 2);
  // k: 30 s; r-edge: 86400 s; mean 43215 s.
  EXPECT_EQ(out.find("avgResponseTime")->as_int(), 43215);
}

TEST(AlertStats, AverageRoundsToNearest) {
  alert_store s;
  s.add("a", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 2500;
  s.add("b", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 2600;
  EXPECT_EQ(vigil::alert_stats(s.list(), now).find("avgResponseTime")->as_int(), 3); // 2.55 s
  s.remove("b");
  s.add("c", now - minute, alert_status::acknowledged).acknowledged_at = now - minute + 2200;
  EXPECT_EQ(vigil::alert_stats(s.list(), now).find("avgResponseTime")->as_int(), 2); // 2.35 s
}

// ---- getAlertTimeline ---------------------------------------------------------------------------

TEST(AlertTimeline, OpenAlert) {
  alert_store s;
  alert& a = s.add("a", t0);
  a.escalation_level = 2;
  a.escalations.push_back(record(1, 2, "doctor", t0 + 2 * minute));
  value created = value::make_object();
  created.set("id", "e-1").set("type", "alert.created");
  value escalated = value::make_object();
  escalated.set("id", "e-2").set("type", "alert.escalated");
  value out = vigil::alert_timeline(a, {created, escalated});

  EXPECT_EQ(*out.find("alert"), vigil::to_json(a, true));
  ASSERT_NE(out.find("alert")->find("escalations"), nullptr);
  EXPECT_EQ(out.find("alert")->find("escalations")->size(), 1u);
  ASSERT_EQ(out.find("timeline")->size(), 2u);
  EXPECT_EQ(out.find("timeline")->as_array()[0], created);
  EXPECT_EQ(out.find("timeline")->as_array()[1], escalated);
  EXPECT_TRUE(out.find("responseTime")->is_null());
  EXPECT_TRUE(out.find("resolutionTime")->is_null());
  std::string text = json::to_string(out);
  EXPECT_NE(text.find("\"attendedTier\":0},\"timeline\":[{"), std::string::npos) << text;
  EXPECT_NE(text.find("],\"responseTime\":null,\"resolutionTime\":null}"), std::string::npos);
}

TEST(AlertTimeline, ResponseAndResolutionInWholeSeconds) {
  alert_store s;
  alert& a = s.add("a", t0, alert_status::resolved);
  a.acknowledged_at = t0 + 190 * sec + 999;
  a.resolved_at = t0 + 600 * sec;
  value out = vigil::alert_timeline(a, {});
  EXPECT_EQ(json::to_string(*out.find("responseTime")), "190");
  EXPECT_EQ(json::to_string(*out.find("resolutionTime")), "600");
  EXPECT_EQ(out.find("timeline")->size(), 0u);
  EXPECT_TRUE(out.find("timeline")->is_array());
}

TEST(AlertTimeline, AcknowledgedOnly) {
  alert_store s;
  alert& a = s.add("a", t0, alert_status::acknowledged);
  value out = vigil::alert_timeline(a, {});
  EXPECT_EQ(out.find("responseTime")->as_int(), 10);
  EXPECT_TRUE(out.find("resolutionTime")->is_null());
}

} // namespace

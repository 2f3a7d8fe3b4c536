// The console commands about hospitals: `hospitals`, `hospital ID` and `escalations`.
#include "actors/inspector_state.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <unordered_set>

#include "domain/time.hpp"

namespace vigil::inspection {

namespace {

int64_t int_field(const json::value& v, const char* key) {
  auto* f = v.find(key);
  return f != nullptr ? f->as_int() : 0;
}

/// The summary row of one hospital (`hospitals`, `hospital ID`).
json::value hospital_row(const std::string& id, const answer<hospital_status>& a) {
  auto row = json::value::make_object();
  row.set("hospital", id);
  if (!a.value) {
    row.set("error", a.error);
    return row;
  }
  auto& v = *a.value;
  row.set("open_alerts", v.open);
  row.set("active_alerts", v.active);
  row.set("alerts", v.alerts);
  row.set("subscribers", v.subscribers);
  row.set("connections", v.connections.size());
  row.set("pending_escalations", v.escalations.size());
  row.set("ring_depth", v.ring_depth);
  row.set("mailbox", v.mailbox);
  return row;
}

/// The pending escalation timers of one hospital's status, as console rows.
void escalation_rows(const std::string& hospital, const hospital_status& status, int64_t now,
                     std::vector<json::value>& out) {
  for (auto& e : status.escalations) {
    auto row = json::value::make_object();
    row.set("alert_id", e.alert_id);
    row.set("hospital", hospital);
    row.set("tier", static_cast<int64_t>(e.tier));
    row.set("to_tier", static_cast<int64_t>(e.tier) + 1);
    row.set("deadline", format_iso(e.deadline_ms));
    row.set("due_in_ms", std::max<int64_t>(0, e.deadline_ms - now));
    out.push_back(std::move(row));
  }
}

/// Soonest deadline first (ties by alert id, for a stable listing).
void sort_escalations(std::vector<json::value>& rows) {
  std::sort(rows.begin(), rows.end(), [](const json::value& a, const json::value& b) {
    auto da = int_field(a, "due_in_ms"), db = int_field(b, "due_in_ms");
    if (da != db)
      return da < db;
    return a.find("alert_id")->as_string() < b.find("alert_id")->as_string();
  });
}

} // namespace

/// Asks each hospital for its status.
void with_hospital_details(inspector_self self, const hospital_list& hs,
                           std::function<void(std::vector<answer<hospital_status>>&)> next) {
  std::vector<hospital_actor> targets;
  for (auto& h : hs)
    targets.push_back(h.second);
  ask_all<hospital_status>(self, targets, std::move(next), status_atom::value);
}

caf::result<std::string> cmd_hospitals(inspector_self self) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp](hospital_list& hs) mutable {
    std::sort(hs.begin(), hs.end(), [](auto& a, auto& b) { return a.first < b.first; });
    with_hospital_details(self, hs, [hs, rp](std::vector<answer<hospital_status>>& details) mutable {
      auto rows = json::value::make_array();
      for (size_t i = 0; i < hs.size(); ++i)
        rows.push(hospital_row(hs[i].first, details[i]));
      rp.deliver(ok(std::move(rows)));
    });
  });
  return rp;
}

caf::result<std::string> cmd_hospital(inspector_self self, const std::string& id) {
  auto rp = self->make_response_promise<std::string>();
  with_hospitals(self, rp, [self, rp, id](hospital_list& hs) mutable {
    auto* h = find_hospital(hs, id);
    if (h == nullptr) {
      rp.deliver(fail(not_loaded(id)));
      return;
    }
    hospital_list one{{id, *h}};
    with_hospital_details(self, one, [rp, id](std::vector<answer<hospital_status>>& details) mutable {
      auto& a = details.front();
      if (!a.value) {
        rp.deliver(fail("hospital \"" + id + "\" did not answer: " + a.error));
        return;
      }
      auto row = hospital_row(id, a);
      auto ids = json::value::make_array();
      for (auto c : a.value->connections)
        ids.push(c);
      row.set("connection_ids", std::move(ids));
      std::vector<json::value> esc;
      escalation_rows(id, *a.value, now_ms(), esc);
      sort_escalations(esc);
      row.set("escalations", json::value{std::move(esc)});
      rp.deliver(ok(std::move(row)));
    });
  });
  return rp;
}

/// The pending escalations of hospitals whose actor has not started yet (the start-up restore
/// loads each shortly before its first deadline), as console rows, read from storage.
void dormant_escalation_rows(const std::vector<alert>& stored, int64_t now,
                             std::vector<json::value>& out) {
  for (auto& a : stored) {
    if (!a.next_escalation_at)
      continue;
    hospital_status one;
    one.escalations.push_back(pending_escalation{a.id, a.escalation_level, *a.next_escalation_at});
    escalation_rows(a.hospital_id, one, now, out);
  }
}

caf::result<std::string> cmd_escalations(inspector_self self) {
  auto rp = self->make_response_promise<std::string>();
  // First the hospitals still waiting to load (a hospital that starts meanwhile is then in the
  // list of running ones too, and listed once), then the running ones.
  self->request(self->state.rt->directory, ask_timeout, dormant_atom::value)
    .then(
      [self, rp](std::vector<std::string>& dormant) mutable {
        auto list_running = [self, rp](std::vector<alert> stored) mutable {
          with_hospitals(self, rp, [self, rp, stored](hospital_list& hs) mutable {
            with_hospital_details(self, hs, [hs, rp, stored](
                                              std::vector<answer<hospital_status>>& details) mutable {
              std::vector<json::value> rows;
              auto now = now_ms();
              std::unordered_set<std::string> running;
              for (size_t i = 0; i < hs.size(); ++i) {
                running.insert(hs[i].first);
                if (details[i].value)
                  escalation_rows(hs[i].first, *details[i].value, now, rows);
              }
              std::vector<alert> waiting;
              for (auto& a : stored)
                if (running.count(a.hospital_id) == 0)
                  waiting.push_back(a);
              dormant_escalation_rows(waiting, now, rows);
              sort_escalations(rows);
              rp.deliver(ok(json::value{std::move(rows)}));
            });
          });
        };
        if (dormant.empty()) {
          list_running({});
          return;
        }
        auto q = std::make_shared<alert_query>();
        q->what = alert_query::kind::escalations;
        q->ids = std::move(dormant);
        self->request(self->state.rt->reader(), ask_timeout, alert_query_ptr{q})
          .then(
            [list_running, rp](const alert_rows_ptr& rows) mutable {
              if (!rows->ok) {
                rp.deliver(fail("the pending escalations could not be read: " + rows->error));
                return;
              }
              list_running(rows->alerts);
            },
            [rp](caf::error& err) mutable {
              rp.deliver(fail("the storage reader did not answer: " + caf::to_string(err)));
            });
      },
      [rp](caf::error& err) mutable {
        rp.deliver(fail("the directory did not answer: " + caf::to_string(err)));
      });
  return rp;
}

} // namespace vigil::inspection

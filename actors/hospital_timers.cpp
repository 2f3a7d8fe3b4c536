// Escalation timers: one per active alert with a deadline. CAF 0.17 timers cannot be cancelled,
// so each arming bumps the alert's generation and a timer of an older generation is ignored.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>

#include "actors/audit.hpp"
#include "domain/log.hpp"
#include "delivery/counters.hpp"

namespace vigil {

using std::chrono::milliseconds;

/// Arms the alert's escalation timer (cancelling any earlier one). `min_delay_ms` keeps a retry
/// after a failed commit from spinning while storage cannot commit.
void hospital_state::schedule_escalation(const alert& a, int64_t min_delay_ms) {
  auto& st = self->state;
  auto gen = ++st.timer_gen[a.id];
  if (a.status != alert_status::active || !a.next_escalation_at)
    return;
  auto delay = std::max(*a.next_escalation_at - st.rt->now(), min_delay_ms);
  if (delay <= 0) {
    // Overdue (e.g. after a restart): fire now; the mailbox keeps the order of these calls,
    // which the warm-up makes the deadline order.
    self->send(self, escalation_due_atom::value, a.id, gen);
    return;
  }
  self->delayed_send(self, milliseconds(delay), escalation_due_atom::value, a.id, gen);
}

void hospital_state::escalation_due(const std::string& alert_id, uint64_t gen) {
  auto& st = *this;
  auto g = st.timer_gen.find(alert_id);
  auto i = st.alerts.find(alert_id);
  if (g == st.timer_gen.end() || g->second != gen || i == st.alerts.end())
    return;
  auto& a = i->second;
  if (a.status != alert_status::active || !a.next_escalation_at)
    return;
  auto now = st.rt->now();
  if (*a.next_escalation_at > now) { // the clock fired early: wait for the real deadline
    schedule_escalation(a);
    return;
  }
  auto r = escalate_alert(a, st.rt->cfg.escalation, "system", std::string{"timeout"}, now);
  if (auto* t = std::get_if<transition>(&r)) {
    counters::get().escalations_fired++;
    log::info("alert_escalated", {{"hospital", st.hospital_id}, {"alert", alert_id},
                                  {"tier", t->next.escalation_level}, {"by", "system"}});
    // Cluster: every node hosting the hospital fires; the first write wins, the others catch
    // up and find the alert escalated (its next deadline later), which re-arms the timer.
    retry_fn rearm;
    if (st.rt->cluster)
      rearm = [=] {
        auto& st = self->state;
        if (auto a = st.alerts.find(alert_id); a != st.alerts.end())
          schedule_escalation(a->second);
      };
    commit_transition(std::move(*t), success_head, call_promise{},
                      timer_escalation_audit(st.hospital_id, alert_id, now), {}, {},
                      std::move(rearm));
  }
}

} // namespace vigil

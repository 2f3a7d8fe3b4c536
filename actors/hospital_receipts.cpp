// Delivery receipts (confirmDelivery), the throttled seenBy update, and the unattended-alert
// failsafe (docs/api.md "confirmDelivery", "Escalation"; docs/operations.md "Unattended alerts").
// Failsafe timers work like escalation timers: CAF 0.17 timers cannot be cancelled, so each
// arming bumps the alert's failsafe generation and a timer of an older generation is ignored.
#include "actors/hospital_state.hpp"
#include "actors/storage_actor.hpp"
#include "actors/audit.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "delivery/counters.hpp"
#include "domain/event_id.hpp"
#include "domain/log.hpp"
#include "domain/receipts.hpp"

namespace vigil {

using std::chrono::milliseconds;

namespace {

/// Events read from storage for ids that are no longer in the ring: one page at most.
constexpr size_t max_storage_lookup = 1024;

json::value confirm_reply(size_t confirmed, size_t ignored) {
  auto v = json::value::make_object();
  v.set("confirmed", static_cast<int64_t>(confirmed));
  v.set("ignored", static_cast<int64_t>(ignored));
  return v;
}

} // namespace

caf::result<call_result_ptr> hospital_state::confirm_delivery(const call& c) {
  auto& st = *this;
  std::vector<std::pair<std::string, std::string>> found; // (alert id, event id)
  std::vector<std::pair<uint64_t, std::string>> missing;  // (seq, event id): not in the ring
  size_t ignored = 0;
  std::unordered_set<uint64_t> seen;
  if (auto* ids = c.input.find("eventIds"); ids != nullptr && ids->is_array()) {
    for (auto& v : ids->as_array()) {
      auto seq = event_id_seq(v.as_string(), st.rt->epoch);
      if (!seq || *seq == 0 || *seq > st.last_seq) { // another database, or not of this stream
        ++ignored;
        continue;
      }
      if (!seen.insert(*seq).second)
        continue; // a repeated id counts once
      auto i = std::lower_bound(st.ring.begin(), st.ring.end(), *seq,
                                [](const encoded_event_ptr& e, uint64_t s) { return e->seq < s; });
      if (i != st.ring.end() && (*i)->seq == *seq) {
        found.emplace_back((*i)->alert_id, v.as_string());
      } else if (*seq <= st.ring_floor) {
        missing.emplace_back(*seq, v.as_string());
      } else {
        ++ignored; // newer than the floor but not in the ring: another hospital's event
      }
    }
  }
  auto rp = self->make_response_promise<call_result_ptr>();
  if (missing.empty()) {
    apply_confirmations(c.who, std::move(found), ignored, rp);
    return rp;
  }
  // Older than the ring (e.g. after a restart): one page of this hospital's stored events.
  std::sort(missing.begin(), missing.end());
  auto req = std::make_shared<read_request>();
  req->hospital_id = st.hospital_id;
  req->after_seq = missing.front().first - 1;
  req->limit = static_cast<size_t>(
    std::min<uint64_t>(max_storage_lookup, missing.back().first - missing.front().first + 1));
  auto who = c.who;
  self->request(st.rt->reader(), caf::infinite, read_atom::value, read_request_ptr{req})
    .then(
      [=](const event_page_ptr& page) mutable {
        auto all = found;
        size_t not_found = ignored;
        for (auto& [seq, id] : missing) {
          auto i = std::lower_bound(page->events.begin(), page->events.end(), seq,
                                    [](const encoded_event_ptr& e, uint64_t s) { return e->seq < s; });
          if (i != page->events.end() && (*i)->seq == seq)
            all.emplace_back((*i)->alert_id, id);
          else
            ++not_found;
        }
        self->state.apply_confirmations(who, std::move(all), not_found, rp);
      },
      [=](caf::error&) mutable {
        // Unreadable: the ids we could not look up count as ignored.
        self->state.apply_confirmations(who, found, ignored + missing.size(), rp);
      });
  return rp;
}

void hospital_state::apply_confirmations(std::shared_ptr<const identity> who,
                                         std::vector<std::pair<std::string, std::string>> found,
                                         size_t ignored, call_promise rp) {
  auto& st = *this;
  auto now = st.rt->now();
  size_t confirmed = 0;
  std::vector<std::string> changed; // alerts to store, in first-touched order
  std::vector<std::string> added;   // alerts whose seenBy changed
  for (auto& [alert_id, event_id] : found) {
    auto i = st.alerts.find(alert_id);
    if (i == st.alerts.end()) { // a resync or another hospital's alert
      ++ignored;
      continue;
    }
    ++confirmed;
    auto ch = apply_receipt(i->second, *who, event_id, now, st.rt->cfg.escalation);
    if (ch.any() && std::find(changed.begin(), changed.end(), alert_id) == changed.end())
      changed.push_back(alert_id);
    if (ch.added) {
      counters::get().delivery_receipts++;
      if (std::find(added.begin(), added.end(), alert_id) == added.end())
        added.push_back(alert_id);
    }
  }
  auto reply = call_result::success(confirm_reply(confirmed, ignored));
  if (changed.empty()) { // idempotent: nothing new to store
    rp.deliver(reply);
    return;
  }
  if (st.rt->cluster) {
    // A cluster node has no alert rows (storage.engine = jetstream): the receipts reach the
    // stream in the throttled seenBy update, so that every node's failsafe sees a tier
    // attended; until that is applied they are applied again over what the stream says.
    for (auto& [alert_id, event_id] : found)
      if (std::find(changed.begin(), changed.end(), alert_id) != changed.end())
        st.unstored_receipts[alert_id].push_back({who, event_id, now});
    for (auto& id : changed)
      seen_by_changed(id);
    rp.deliver(reply);
    return;
  }
  // The alert rows alone: a receipt is not an event (seenBy is published, throttled).
  auto req = std::make_shared<commit_request>();
  for (auto& id : changed) {
    pending_write w;
    w.next = st.alerts[id];
    w.store_event = false;
    encode_write(w, alert_text(w.next), false); // the row's JSON here, not on the storage thread
    req->writes.push_back(std::move(w));
  }
  self->request(st.rt->storage, caf::infinite, commit_atom::value, commit_request_ptr{req})
    .then(
      [=](const commit_reply_ptr& r) mutable {
        if (!r->ok) {
          // The receipts stay in memory and are stored with the alert's next write.
          log::error("receipts_not_stored", {{"hospital", self->state.hospital_id},
                                             {"alerts", changed.size()}, {"reason", r->error}});
          rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                          "Failed to store the change"));
          return;
        }
        for (auto& id : added)
          self->state.seen_by_changed(id);
        rp.deliver(reply);
      },
      [=](caf::error& err) mutable {
        log::error("receipts_not_stored", {{"hospital", self->state.hospital_id},
                                           {"alerts", changed.size()},
                                           {"reason", caf::to_string(err)}});
        rp.deliver(call_result::failure(trpc_code::internal_server_error,
                                        "Failed to store the change"));
      });
}

void hospital_state::seen_by_changed(const std::string& alert_id) {
  auto& st = *this;
  auto& pending = st.seen_by_pending[alert_id];
  if (pending)
    return; // the scheduled update will carry this receipt too
  pending = true;
  auto last = st.seen_by_last.find(alert_id);
  auto delay = last == st.seen_by_last.end()
                 ? 0
                 : last->second + seen_by_interval_ms - st.rt->now();
  if (delay <= 0)
    self->send(self, seen_by_flush_atom::value, alert_id);
  else
    self->delayed_send(self, milliseconds(delay), seen_by_flush_atom::value, alert_id);
}

void hospital_state::seen_by_flush(const std::string& alert_id) {
  auto& st = *this;
  st.seen_by_pending.erase(alert_id);
  auto i = st.alerts.find(alert_id);
  if (i == st.alerts.end() || i->second.status == alert_status::resolved) {
    st.seen_by_last.erase(alert_id); // a resolved alert takes no updates
    st.unstored_receipts.erase(alert_id);
    return;
  }
  auto now = st.rt->now();
  st.seen_by_last[alert_id] = now;
  // Cluster: the receipts recorded so far ride on this write; once it is applied they are in
  // the stream. Lost to another node's write: caught up (the receipts applied again over it),
  // the next update carries them.
  stored_fn carried;
  retry_fn again;
  if (st.rt->cluster) {
    auto n = st.unstored_receipts[alert_id].size();
    carried = [=](const alert&) {
      auto& st = self->state;
      auto r = st.unstored_receipts.find(alert_id);
      if (r == st.unstored_receipts.end())
        return;
      r->second.erase(r->second.begin(), r->second.begin() + std::min(n, r->second.size()));
      if (r->second.empty())
        st.unstored_receipts.erase(r);
    };
    again = [=] {
      if (self->state.reapply_unstored_receipts(alert_id))
        self->state.seen_by_changed(alert_id);
    };
  }
  // Bookkeeping of a receipt (the confirmDelivery call is audited where it is answered).
  commit_transition(seen_by_update(i->second, now), success_head, call_promise{},
                    std::nullopt, {}, std::move(carried), std::move(again));
}

void hospital_state::arm_failsafe(const alert& a, bool check_online, int64_t min_delay_ms) {
  auto& st = *this;
  auto gen = ++st.failsafe_gen[a.id];
  auto& fs = st.rt->cfg.failsafe;
  auto& policy = st.rt->cfg.escalation;
  if (!failsafe_watches(a, fs, policy))
    return;
  auto now = st.rt->now();
  if (check_online && min_delay_ms == 0 && now >= st.presence_trusted_from
      && !role_online(current_tier_role(a, policy))) {
    self->send(self, failsafe_due_atom::value, a.id, gen, true);
    return;
  }
  auto deadline = std::max({receipt_deadline(a, fs, 0), st.presence_trusted_from,
                            now + min_delay_ms});
  if (deadline <= now)
    self->send(self, failsafe_due_atom::value, a.id, gen, false);
  else
    self->delayed_send(self, milliseconds(deadline - now), failsafe_due_atom::value, a.id, gen,
                       false);
}

void hospital_state::failsafe_due(const std::string& alert_id, uint64_t gen, bool nobody_online) {
  auto& st = *this;
  auto g = st.failsafe_gen.find(alert_id);
  auto i = st.alerts.find(alert_id);
  if (g == st.failsafe_gen.end() || g->second != gen || i == st.alerts.end())
    return;
  auto& a = i->second;
  auto& fs = st.rt->cfg.failsafe;
  auto& policy = st.rt->cfg.escalation;
  if (!failsafe_watches(a, fs, policy))
    return; // acknowledged, resolved, or confirmed by the tier's role meanwhile
  auto now = st.rt->now();
  if (nobody_online && role_online(current_tier_role(a, policy))) {
    arm_failsafe(a, false); // somebody came online in between: wait for a receipt
    return;
  }
  if (!nobody_online
      && std::max(receipt_deadline(a, fs, 0), st.presence_trusted_from) > now) {
    arm_failsafe(a, false); // the clock fired early: wait for the real deadline
    return;
  }
  const char* reason = nobody_online ? reason_no_recipient_online : reason_no_receipt;
  auto r = failsafe_escalate(a, policy, reason, now);
  auto* t = std::get_if<transition>(&r);
  if (t == nullptr)
    return;
  // Counted and logged once stored: on a cluster every node hosting the hospital gets here and
  // only the first write goes in. The others catch up and look again (the winner may have
  // escalated this alert, or written another alert of the hospital).
  bool unattended = t->next.escalation_level == a.escalation_level;
  auto tier = a.escalation_level;
  auto hospital = st.hospital_id;
  std::string why = reason;
  auto stored = [=](const alert& next) {
    auto& c = counters::get();
    c.failsafe_escalations++;
    if (unattended) {
      c.alerts_unattended++;
      // Ids only: never the alert's text.
      log::error("alert_unattended", {{"hospital", hospital}, {"alert", alert_id},
                                      {"tier", tier}, {"reason", why}});
    } else {
      log::warn("alert_escalated", {{"hospital", hospital}, {"alert", alert_id},
                                    {"tier", next.escalation_level}, {"by", "system"},
                                    {"reason", why}});
    }
  };
  retry_fn caught_up;
  if (st.rt->cluster)
    caught_up = [=] {
      auto& st = self->state;
      if (auto i = st.alerts.find(alert_id); i != st.alerts.end())
        arm_failsafe(i->second, nobody_online);
    };
  commit_transition(std::move(*t), success_head, call_promise{},
                    timer_escalation_audit(st.hospital_id, alert_id, now), {}, std::move(stored),
                    std::move(caught_up));
}

} // namespace vigil

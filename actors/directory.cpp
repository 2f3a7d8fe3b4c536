#include "actors/directory.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "actors/hospital.hpp"
#include "actors/messages.hpp"
#include "domain/log.hpp"

namespace vigil {

namespace {

/// A hospital whose start-up restore failed to load is tried again this much later: its
/// escalation timers must run even if nobody ever calls for it.
constexpr auto restore_retry = std::chrono::seconds(1);
/// How long a readiness probe waits for the storage reader (the path every hospital loads by).
constexpr auto probe_timeout = std::chrono::seconds(1);
/// A hospital actor that died abnormally is reloaded at once (its start arms its escalation
/// timers again) at most this many times per restart_window; a crash loop beyond that waits
/// until the window allows the next restart instead of spinning.
constexpr size_t restart_limit = 5;
constexpr int64_t restart_window_ms = 60 * 1000;

struct directory_state {
  static inline const char* name = "vigil.directory";
  runtime_ptr rt;
  std::unordered_map<std::string, hospital_actor> hospitals;
  /// Hospitals being loaded, with the lookups waiting for them.
  std::unordered_map<std::string, std::vector<caf::typed_response_promise<hospital_actor>>>
    loading;
  /// Start-up restore: hospitals with active alerts whose actor has not started yet, with the
  /// time (ms) they are due to load (restore_lead_ms before their first deadline).
  std::unordered_map<std::string, int64_t> dormant;
  /// Hospitals whose load runs on the background loader (the start-up restore).
  std::unordered_set<std::string> background;
  /// Hospitals of the restore plan being loaded (a failed load is retried).
  std::unordered_set<std::string> restoring;
  size_t restore_total = 0;
  int64_t restore_started_ms = 0;
  /// Hospitals being reloaded after their actor died abnormally; a failed load is retried.
  std::unordered_set<std::string> restarting;
  /// Per hospital, the times (ms) of its restarts within the last restart window.
  std::unordered_map<std::string, std::deque<int64_t>> restarts;
};

using directory_self = directory_actor::stateful_pointer<directory_state>;

void log_restored(const directory_state& st) {
  log::info("escalations_restored", {{"hospitals", static_cast<uint64_t>(st.restore_total)},
                                     {"ms", st.rt->now() - st.restore_started_ms}});
}

/// `hospital` is running: if it was part of the start-up restore, logs once every hospital of
/// the plan has its timers armed.
void restored(directory_self self, const std::string& hospital) {
  auto& st = self->state;
  bool was = st.dormant.erase(hospital) != 0;
  was = st.restoring.erase(hospital) != 0 || was;
  if (was && st.restoring.empty() && st.dormant.empty())
    log_restored(st);
}

/// The load of `hospital` failed: its lookups fail, a start-up restore or a restart tries again
/// later.
void load_failed(directory_self self, const std::string& hospital, caf::error err,
                 const std::string& reason) {
  auto& st = self->state;
  log::error("hospital_load_failed", {{"hospital", hospital}, {"reason", reason}});
  for (auto& w : st.loading[hospital])
    w.deliver(err);
  st.loading.erase(hospital);
  if (st.restoring.count(hospital) != 0)
    self->delayed_send(self, restore_retry, restore_retry_atom::value, hospital);
  else if (st.restarting.count(hospital) != 0)
    self->delayed_send(self, restore_retry, restart_atom::value, hospital,
                       "reload failed: " + reason);
}

/// Loads `hospital` from storage and spawns its actor (whose start arms its escalation timers);
/// the caller has just created its `loading` entry, so one load runs per hospital at a time.
void load(directory_self self, const std::string& hospital) {
  auto& st = self->state;
  // A load for the start-up restore (nobody waiting for it) goes to the background loader; a
  // client's lookup never queues behind a backlog of those (see lookup_atom).
  bool background = st.loading[hospital].empty() && st.restarting.count(hospital) == 0;
  if (background)
    st.background.insert(hospital);
  self->request(st.rt->loader(hospital, background), caf::infinite, load_atom::value, hospital)
    .then(
      [=](const hospital_snapshot_ptr& snap) {
        auto& st = self->state;
        if (background)
          st.background.erase(hospital);
        if (st.hospitals.count(hospital) != 0)
          return; // the other of two loads (background and a client's) came first
        if (!snap->error.empty()) { // the cluster's stream could not be read
          load_failed(self, hospital, caf::make_error(caf::sec::runtime_error), snap->error);
          return;
        }
        auto h = spawn_hospital(self, st.rt, snap);
        self->monitor(h);
        // Cluster: from now on the hospital gets every later event of its subject, in order.
        if (st.rt->cluster)
          self->send(st.rt->cluster, follow_atom::value, hospital, h, snap->last_seq_of_hospital);
        st.hospitals.emplace(hospital, h);
        log::debug("hospital_spawned", {{"hospital", hospital},
                                        {"alerts", snap->alerts.size()}});
        for (auto& w : st.loading[hospital])
          w.deliver(h);
        st.loading.erase(hospital);
        st.restarting.erase(hospital);
        restored(self, hospital);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (background)
          st.background.erase(hospital);
        if (st.hospitals.count(hospital) != 0)
          return;
        if (background && st.loading.count(hospital) != 0 && !st.loading[hospital].empty())
          return; // a client's load of it is under way and reports for itself
        load_failed(self, hospital, err, caf::to_string(err));
      });
}

/// Starts loading `hospital` unless it is running or already loading.
void ensure_loading(directory_self self, const std::string& hospital) {
  auto& st = self->state;
  if (st.hospitals.count(hospital) != 0 || st.loading.count(hospital) != 0)
    return;
  st.loading[hospital];
  load(self, hospital);
}

/// Reloads `hospital`, whose actor died abnormally for `reason`, so that its escalation timers
/// keep running without waiting for a client: at once while it restarted fewer than
/// restart_limit times in the last restart window, else (a crash loop) when the window allows.
void restart(directory_self self, const std::string& hospital, const std::string& reason) {
  auto& st = self->state;
  if (st.hospitals.count(hospital) != 0 || st.loading.count(hospital) != 0)
    return; // a lookup loaded it meanwhile
  auto now = st.rt->now();
  auto& times = st.restarts[hospital];
  while (!times.empty() && now - times.front() >= restart_window_ms)
    times.pop_front();
  st.restarting.insert(hospital);
  if (times.size() >= restart_limit) {
    auto wait_ms = times.front() + restart_window_ms - now;
    log::error("hospital_restart_delayed", {{"hospital", hospital},
                                            {"reason", reason},
                                            {"restarts", static_cast<uint64_t>(times.size())},
                                            {"delay_ms", wait_ms}});
    self->delayed_send(self, std::chrono::milliseconds(wait_ms), restart_atom::value, hospital,
                       reason);
    return;
  }
  times.push_back(now);
  log::warn("hospital_restarted", {{"hospital", hospital},
                                   {"reason", reason},
                                   {"restarts", static_cast<uint64_t>(times.size())}});
  ensure_loading(self, hospital);
}

directory_actor::behavior_type directory_behavior(directory_self self, runtime_ptr rt) {
  self->state.rt = std::move(rt);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& hs = self->state.hospitals;
    for (auto i = hs.begin(); i != hs.end(); ++i) {
      if (i->second.address() == dm.source) {
        auto hospital = i->first;
        hs.erase(i);
        // Stopped for shutdown: gone. Anything else (an exception, a bug) is a crash: the
        // hospital's alerts still need their escalation timers.
        if (dm.reason != caf::exit_reason::user_shutdown && dm.reason != caf::exit_reason::normal)
          restart(self, hospital, caf::to_string(dm.reason));
        break;
      }
    }
  });
  return {
    [=](lookup_atom, const std::string& hospital) -> caf::result<hospital_actor> {
      auto& st = self->state;
      if (auto i = st.hospitals.find(hospital); i != st.hospitals.end())
        return i->second;
      auto rp = self->make_response_promise<hospital_actor>();
      bool fresh = st.loading.count(hospital) == 0;
      bool first_client = fresh || st.loading[hospital].empty();
      st.loading[hospital].push_back(rp);
      // A restore load of it may wait behind others on the background loader: a client's own
      // load goes ahead on another (whichever answers first is used).
      if (fresh || (first_client && st.background.count(hospital) != 0))
        load(self, hospital);
      return rp;
    },
    [=](hospitals_atom) {
      return hospital_list(self->state.hospitals.begin(), self->state.hospitals.end());
    },
    [=](restore_atom, const restore_plan_ptr& plan) {
      // Start-up: every hospital with an active alert needs its escalation and failsafe timers
      // without waiting for a client, but not before its first deadline: it loads
      // restore_lead_ms before (at once when that is past, soonest first). Readiness does not
      // wait for these loads.
      auto& st = self->state;
      auto now = st.rt->now();
      st.restore_started_ms = now;
      st.restore_total = plan->hospitals.size();
      auto& fs = st.rt->cfg.failsafe;
      // Receipt deadlines fall a full receipt timeout after the start at the earliest
      // (hospital_state::start: presence_trusted_from).
      int64_t failsafe_at = fs.enabled ? std::max(st.rt->started_ms, int64_t{0}) + fs.receipt_timeout_ms
                                       : INT64_MAX;
      std::vector<std::pair<int64_t, std::string>> due;
      for (size_t i = 0; i < plan->hospitals.size(); ++i) {
        auto& h = plan->hospitals[i];
        int64_t deadline = i < plan->deadlines.size() && plan->deadlines[i] > 0
                             ? plan->deadlines[i] : INT64_MAX;
        int64_t first = std::min(deadline, failsafe_at);
        if (first == INT64_MAX || st.hospitals.count(h) != 0)
          continue; // no timer at all (failsafe off, no deadline), or running already
        due.emplace_back(first - restore_lead_ms, h);
      }
      std::sort(due.begin(), due.end());
      for (auto& [at, h] : due) {
        if (at <= now) {
          st.restoring.insert(h);
          ensure_loading(self, h);
        } else {
          st.dormant[h] = at;
          self->delayed_send(self, std::chrono::milliseconds(at - now), wake_atom::value, h);
        }
      }
      if (st.restoring.empty() && st.dormant.empty())
        log_restored(st);
    },
    [=](wake_atom, const std::string& hospital) {
      auto& st = self->state;
      auto i = st.dormant.find(hospital);
      if (i == st.dormant.end())
        return; // loaded meanwhile
      if (i->second > st.rt->now()) { // the clock fired early
        self->delayed_send(self, std::chrono::milliseconds(i->second - st.rt->now()),
                           wake_atom::value, hospital);
        return;
      }
      st.dormant.erase(i);
      st.restoring.insert(hospital);
      ensure_loading(self, hospital);
    },
    [=](dormant_atom) {
      auto& st = self->state;
      std::vector<std::string> out;
      for (auto& [h, at] : st.dormant)
        out.push_back(h);
      for (auto& h : st.restoring)
        if (st.hospitals.count(h) == 0)
          out.push_back(h);
      std::sort(out.begin(), out.end());
      return out;
    },
    [=](restore_retry_atom, const std::string& hospital) {
      // Retry of a restore whose load failed.
      if (self->state.restoring.count(hospital) != 0)
        ensure_loading(self, hospital);
    },
    [=](restart_atom, const std::string& hospital, const std::string& reason) {
      if (self->state.restarting.count(hospital) != 0)
        restart(self, hospital, reason);
    },
    [=](status_atom) -> caf::result<directory_status> {
      // Readiness (GET /ready): the directory answers and the storage reader (queries, on-demand
      // reads) answers. The start-up restore does not hold it: its timers wait here.
      auto& st = self->state;
      directory_status s;
      s.hospitals = st.hospitals.size();
      s.loading = st.loading.size();
      s.restoring = st.restoring.size() + st.dormant.size();
      s.restore_total = st.restore_total;
      auto rp = self->make_response_promise<directory_status>();
      self->request(st.rt->reader(), probe_timeout, status_atom::value)
        .then([=](const storage_status&) mutable { rp.deliver(s); },
              [=](caf::error&) mutable {
                auto not_ready = s;
                not_ready.not_ready = "storage reader did not answer";
                rp.deliver(std::move(not_ready));
              });
      return rp;
    },
  };
}

} // namespace

directory_actor spawn_directory(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn(directory_behavior, std::move(rt));
}

std::optional<restore_plan> plan_escalation_restore(storage::event_store& store) {
  auto error_before = store.last_error();
  auto escalating = store.escalating_hospitals();
  auto active = store.active_hospitals();
  if (store.last_error() != error_before)
    return std::nullopt;
  restore_plan plan;
  std::unordered_set<std::string> seen;
  // Soonest escalation deadline first, then the hospitals with active alerts but no deadline
  // (the last tier: only the failsafe's receipt deadline), by id.
  for (auto& h : escalating) {
    plan.timers += h.alerts;
    seen.insert(h.hospital_id);
    plan.hospitals.push_back(std::move(h.hospital_id));
    plan.deadlines.push_back(h.earliest_deadline);
  }
  for (auto& h : active)
    if (seen.count(h) == 0) {
      plan.hospitals.push_back(std::move(h));
      plan.deadlines.push_back(0);
    }
  return plan;
}

void restore_escalation_timers(const directory_actor& directory, restore_plan plan) {
  caf::anon_send(directory, restore_atom::value,
                 restore_plan_ptr{std::make_shared<restore_plan>(std::move(plan))});
}

} // namespace vigil

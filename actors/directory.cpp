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
  /// Start-up restore: hospitals with escalation timers that are not running yet. Readiness
  /// waits until this is empty.
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

/// `hospital` is running: if it was part of the start-up restore, logs once every hospital with
/// escalation timers has them armed.
void restored(directory_self self, const std::string& hospital) {
  auto& st = self->state;
  if (st.restoring.erase(hospital) != 0 && st.restoring.empty())
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
  self->request(st.rt->reader(), caf::infinite, load_atom::value, hospital)
    .then(
      [=](const hospital_snapshot_ptr& snap) {
        auto& st = self->state;
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
      [=](caf::error& err) { load_failed(self, hospital, err, caf::to_string(err)); });
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
      st.loading[hospital].push_back(rp);
      if (fresh)
        load(self, hospital);
      return rp;
    },
    [=](hospitals_atom) {
      return hospital_list(self->state.hospitals.begin(), self->state.hospitals.end());
    },
    [=](restore_atom, const std::vector<std::string>& hospitals) {
      // Start-up: every hospital with a running escalation timer is loaded now, in the given
      // order (soonest deadline first: the reader loads one after another), not when a client
      // first asks for it. Its actor arms the timers when it starts; overdue ones fire at once.
      auto& st = self->state;
      st.restore_started_ms = st.rt->now();
      st.restore_total = hospitals.size();
      for (auto& h : hospitals)
        if (st.hospitals.count(h) == 0)
          st.restoring.insert(h);
      for (auto& h : hospitals)
        ensure_loading(self, h);
      if (st.restoring.empty())
        log_restored(st);
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
      // Readiness (GET /ready): the directory answers, every escalation timer of the start-up
      // restore is armed, and the storage reader, by which every hospital loads, answers.
      auto& st = self->state;
      directory_status s;
      s.hospitals = st.hospitals.size();
      s.loading = st.loading.size();
      s.restoring = st.restoring.size();
      s.restore_total = st.restore_total;
      if (!st.restoring.empty()) {
        s.not_ready = "restoring escalation timers (" + std::to_string(st.restoring.size())
                      + " of " + std::to_string(st.restore_total) + " hospitals left)";
        return s;
      }
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
  auto found = store.escalating_hospitals();
  if (store.last_error() != error_before)
    return std::nullopt;
  restore_plan plan;
  plan.hospitals.reserve(found.size());
  for (auto& h : found) {
    plan.timers += h.alerts;
    plan.hospitals.push_back(std::move(h.hospital_id));
  }
  return plan;
}

void restore_escalation_timers(const directory_actor& directory, restore_plan plan) {
  caf::anon_send(directory, restore_atom::value, std::move(plan.hospitals));
}

} // namespace vigil

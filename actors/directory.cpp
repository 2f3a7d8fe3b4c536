#include "actors/directory.hpp"

#include <caf/all.hpp>

#include <unordered_map>

#include "actors/hospital.hpp"
#include "actors/messages.hpp"
#include "domain/log.hpp"

namespace vigil {

namespace {

struct directory_state {
  static inline const char* name = "vigil.directory";
  runtime_ptr rt;
  std::unordered_map<std::string, caf::actor> hospitals;
  std::unordered_map<std::string, std::vector<caf::response_promise>> loading;
};

using directory_actor = caf::stateful_actor<directory_state>;

caf::behavior directory_behavior(directory_actor* self, runtime_ptr rt) {
  self->state.rt = std::move(rt);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& hs = self->state.hospitals;
    for (auto i = hs.begin(); i != hs.end(); ++i) {
      if (i->second.address() == dm.source) {
        if (dm.reason != caf::exit_reason::user_shutdown && dm.reason != caf::exit_reason::normal)
          log::error("hospital_actor_down", {{"hospital", i->first},
                                             {"reason", caf::to_string(dm.reason)}});
        hs.erase(i);
        break;
      }
    }
  });
  return {
    [=](caf::get_atom, const std::string& hospital) -> caf::result<caf::actor> {
      auto& st = self->state;
      if (auto i = st.hospitals.find(hospital); i != st.hospitals.end())
        return i->second;
      auto rp = self->make_response_promise<caf::actor>();
      auto& waiters = st.loading[hospital];
      waiters.push_back(rp);
      if (waiters.size() == 1) {
        self->request(st.rt->reader(), caf::infinite, load_atom::value, hospital)
          .then(
            [=](const hospital_snapshot_ptr& snap) {
              auto& st = self->state;
              auto h = spawn_hospital(self, st.rt, snap);
              self->monitor(h);
              st.hospitals.emplace(hospital, h);
              log::debug("hospital_spawned", {{"hospital", hospital},
                                              {"alerts", snap->alerts.size()}});
              for (auto& w : st.loading[hospital])
                w.deliver(h);
              st.loading.erase(hospital);
            },
            [=](caf::error& err) {
              auto& st = self->state;
              log::error("hospital_load_failed", {{"hospital", hospital},
                                                  {"reason", caf::to_string(err)}});
              for (auto& w : st.loading[hospital])
                w.deliver(err);
              st.loading.erase(hospital);
            });
      }
      return rp;
    },
    [=](caf::get_atom) {
      std::vector<std::pair<std::string, caf::actor>> all(self->state.hospitals.begin(),
                                                          self->state.hospitals.end());
      return all;
    },
  };
}

} // namespace

caf::actor spawn_directory(caf::actor_system& sys, runtime_ptr rt) {
  return sys.spawn(directory_behavior, std::move(rt));
}

} // namespace vigil

#pragma once
// Getting a call to its hospital actor: a per-caller cache of hospital handles in front of the
// directory, and the batch procedures that touch several alerts one by one.

#include <caf/all.hpp>

#include <functional>
#include <string>
#include <unordered_map>

#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

/// Hospital handles a caller has already looked up.
class hospital_cache {
public:
  /// Calls `k(handle)` with the hospital's actor (an invalid handle when it cannot be had).
  template <class Self>
  void with(Self* self, const runtime& rt, const std::string& hospital,
            std::function<void(caf::actor)> k) {
    if (auto i = map_.find(hospital); i != map_.end()) {
      k(i->second);
      return;
    }
    self->request(rt.directory, caf::infinite, caf::get_atom::value, hospital)
      .then(
        [this, hospital, k](const caf::actor& h) {
          map_.emplace(hospital, h);
          k(h);
        },
        [k](caf::error&) { k(caf::actor{}); });
  }
  const std::unordered_map<std::string, caf::actor>& all() const { return map_; }

private:
  std::unordered_map<std::string, caf::actor> map_;
};

/// Runs a routed call and hands the result to `k`. Batch procedures (alert_list scope) are run
/// as one single-alert call per distinct alert id, in order, collecting per-alert errors.
void run_call(caf::event_based_actor* self, const runtime_ptr& rt, hospital_cache& cache,
              call_ptr c, const std::string& hospital,
              std::function<void(call_result_ptr)> k);

} // namespace vigil

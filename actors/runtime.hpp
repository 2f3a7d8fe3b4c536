#pragma once
// What every actor of one vigild process shares: configuration, the outbox, the alert index and
// the storage high-water marks. Created once at start-up and passed by shared pointer.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <functional>
#include <unordered_map>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "delivery/outbox.hpp"
#include "domain/config.hpp"
#include "domain/time.hpp"

namespace vigil {

class cluster_presence;

/// alert id -> hospital id, for routing and tenancy checks of alert-scoped calls. Holds the
/// alerts the running hospitals keep in memory (written by hospital actors as they load, create
/// and evict alerts, read by every connection); any other id is asked of the fallback (vigild:
/// an indexed point read of the alerts table), so memory does not grow with the history.
class alert_index {
public:
  using fallback_fn = std::function<std::optional<std::string>(const std::string& alert_id)>;
  /// Installs the lookup for ids not held here; set once, before any connection reads.
  void set_fallback(fallback_fn f) { fallback_ = std::move(f); }
  void put(std::string alert_id, std::string hospital_id) {
    std::unique_lock<std::shared_mutex> g{mu_};
    map_.insert_or_assign(std::move(alert_id), std::move(hospital_id));
  }
  void reserve(size_t n) {
    std::unique_lock<std::shared_mutex> g{mu_};
    map_.reserve(n);
  }
  void erase(const std::string& alert_id) {
    std::unique_lock<std::shared_mutex> g{mu_};
    map_.erase(alert_id);
  }
  std::optional<std::string> hospital_of(const std::string& alert_id) const {
    if (auto h = held(alert_id))
      return h;
    if (fallback_)
      return fallback_(alert_id);
    return std::nullopt;
  }
  /// The hospital of an alert held here (the fallback is not asked).
  std::optional<std::string> held(const std::string& alert_id) const {
    std::shared_lock<std::shared_mutex> g{mu_};
    auto i = map_.find(alert_id);
    if (i != map_.end())
      return i->second;
    return std::nullopt;
  }
  size_t size() const {
    std::shared_lock<std::shared_mutex> g{mu_};
    return map_.size();
  }

private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> map_;
  fallback_fn fallback_;
};

/// The open WebSocket connections, for the inspector and operator commands (kick, reconnect-all).
/// Written by the lws thread on open and close.
class connection_registry {
public:
  struct entry {
    connection_actor actor;
    int64_t opened_ms = 0;
  };
  void add(uint64_t id, connection_actor actor, int64_t opened_ms) {
    std::unique_lock<std::shared_mutex> g{mu_};
    map_[id] = entry{std::move(actor), opened_ms};
  }
  void remove(uint64_t id) {
    std::unique_lock<std::shared_mutex> g{mu_};
    map_.erase(id);
  }
  std::optional<entry> find(uint64_t id) const {
    std::shared_lock<std::shared_mutex> g{mu_};
    auto i = map_.find(id);
    if (i == map_.end())
      return std::nullopt;
    return i->second;
  }
  std::vector<std::pair<uint64_t, entry>> all() const {
    std::shared_lock<std::shared_mutex> g{mu_};
    return {map_.begin(), map_.end()};
  }
  size_t size() const {
    std::shared_lock<std::shared_mutex> g{mu_};
    return map_.size();
  }

private:
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, entry> map_;
};

struct runtime {
  /// The configuration at start-up; never changed afterwards (SIGHUP replaces the reloadable
  /// parts through set_jwt and the server's apply_reload, not here).
  config cfg;
  /// The keys tokens are verified with now: cfg.jwt until a reload replaced them. Any thread.
  std::shared_ptr<const jwt_config> jwt() const {
    if (auto k = std::atomic_load(&jwt_))
      return k;
    return std::shared_ptr<const jwt_config>(std::shared_ptr<const jwt_config>{}, &cfg.jwt);
  }
  /// Replaces the verification keys (SIGHUP); calls verifying afterwards use `keys`. Any thread.
  void set_jwt(std::shared_ptr<const jwt_config> keys) { std::atomic_store(&jwt_, std::move(keys)); }
  /// The wall clock (ms since the epoch) every actor reads; tests inject a deterministic one.
  std::function<int64_t()> clock = [] { return now_ms(); };
  int64_t now() const { return clock(); }
  outbox_ptr out;
  alert_index alerts;
  connection_registry connections;
  std::string epoch;                           // fixed at start-up
  std::atomic<uint64_t> last_seq{0};           // newest committed seq (any hospital)
  std::atomic<uint64_t> pruned_through{0};     // events with seq <= this may be gone
  storage_actor storage;
  storage_reader_actor storage_reader;         // reads; falls back to `storage` when unset
  storage_reader_actor reader() const {
    return storage_reader ? storage_reader : storage_reader_actor{storage};
  }
  /// Readers of their own for hospital loads (vigild: two), so that a load on a cold page cache
  /// holds up neither the queries nor the readiness probe: the first serves the loads of the
  /// start-up restore (background), the others the loads clients wait for.
  std::vector<storage_reader_actor> loaders;
  /// The loader of `hospital` (the reader when there are none); `background`: a restore load.
  storage_reader_actor loader(const std::string& hospital, bool background) const {
    if (loaders.empty())
      return reader();
    if (background || loaders.size() == 1)
      return loaders.front();
    return loaders[1 + std::hash<std::string>{}(hospital) % (loaders.size() - 1)];
  }
  directory_actor directory;
  /// storage.engine = jetstream: the actor that makes hospitals follow the event stream (set:
  /// this vigild is a cluster node); unset (the default SQLite engine) otherwise.
  jetstream_follow_actor cluster;
  /// storage.engine = jetstream: who is online on the other nodes (the failsafe's "nobody of the
  /// tier's role online" holds cluster-wide); unset otherwise, or when it could not start.
  std::shared_ptr<cluster_presence> presence;
  int64_t started_ms = 0;

private:
  std::shared_ptr<const jwt_config> jwt_; // null: cfg.jwt
};

using runtime_ptr = std::shared_ptr<runtime>;

} // namespace vigil

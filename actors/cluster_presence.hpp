#pragma once
// Who is online on the other nodes of a cluster (storage.engine = jetstream), per hospital and
// role. The unattended-alert failsafe escalates at once when nobody of the tier's role is online
// (docs/operations.md "Unattended alerts"); one node sees only its own clients, so each node
// publishes on core NATS (vigil.presence.<stream>, at most once):
//   - a change when a role of a hospital comes online or goes offline on it;
//   - a beat every beat_ms with every hospital and role online on it: it heals a lost change
//     and says the node is alive (a node silent for expire_ms no longer counts);
//   - a hello at start, which every node answers with a beat at once.
// Until trust_ms after its hello a node cannot know (nullopt): the failsafe then treats the
// role as online and waits for the receipt deadline, the safe side. A stale "online" delays an
// escalation to the receipt deadline; a stale "offline" escalates early: neither loses one.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace vigil {

class cluster_presence {
public:
  static constexpr int64_t beat_ms = 1000;
  static constexpr int64_t expire_ms = 3500;
  static constexpr int64_t trust_ms = 500;

  using send_fn = std::function<void(const std::string&)>;

  /// `node`: this node's id (unique per process); `send` publishes one message (any thread);
  /// `now`: a steady clock in milliseconds.
  cluster_presence(std::string node, send_fn send, std::function<int64_t()> now);
  ~cluster_presence();
  cluster_presence(const cluster_presence&) = delete;
  cluster_presence& operator=(const cluster_presence&) = delete;

  /// Publishes the hello and a beat; with `beat_thread`, beats every beat_ms on a thread of its
  /// own until destroyed (tests beat by hand).
  void start(bool beat_thread = true);
  /// The roles online in `hospital` on this node are now `roles` (a hospital actor's thread).
  void local_changed(const std::string& hospital, std::vector<std::string> roles);
  /// Publishes this node's beat (every hospital with a role online here).
  void beat();
  /// A message of the presence subject (libnats's thread); this node's own are ignored, an
  /// unreadable one is dropped.
  void receive(std::string_view body);
  /// Whether another live node has `role` online in `hospital`; nullopt while this node cannot
  /// know yet (less than trust_ms since its hello).
  std::optional<bool> online_elsewhere(const std::string& hospital,
                                       const std::string& role) const;
  /// How long until online_elsewhere can know (0 once it can): vigild listens only then.
  int64_t ms_until_trusted() const;
  /// Runs when destroyed, before the beat thread stops (the NATS side unsubscribes).
  std::function<void()> on_close;

private:
  struct hospital_roles {
    uint64_t version = 0;
    std::vector<std::string> roles;
  };
  struct node_entry {
    int64_t last_seen = 0;
    std::unordered_map<std::string, hospital_roles> hospitals;
  };

  std::string node_;
  send_fn send_;
  std::function<int64_t()> now_;
  mutable std::mutex mu_;
  uint64_t version_ = 0; // of this node's changes; a beat carries the newest
  std::map<std::string, std::vector<std::string>> local_;
  std::unordered_map<std::string, node_entry> remote_;
  int64_t hello_at_ = -1;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread beater_;
};

using cluster_presence_ptr = std::shared_ptr<cluster_presence>;

} // namespace vigil

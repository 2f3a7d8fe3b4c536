#include "actors/cluster_presence.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

#include "domain/json.hpp"

namespace vigil {

namespace {

json::value role_list(const std::vector<std::string>& roles) {
  auto a = json::value::make_array();
  for (auto& r : roles)
    a.push(r);
  return a;
}

std::vector<std::string> roles_of(const json::value* v) {
  std::vector<std::string> out;
  if (v != nullptr && v->is_array())
    for (auto& r : v->as_array())
      if (r.is_string())
        out.push_back(r.as_string());
  return out;
}

} // namespace

cluster_presence::cluster_presence(std::string node, send_fn send,
                                   std::function<int64_t()> now)
  : node_(std::move(node)), send_(std::move(send)), now_(std::move(now)) {
}

cluster_presence::~cluster_presence() {
  if (on_close)
    on_close();
  {
    std::lock_guard<std::mutex> g{mu_};
    stop_ = true;
  }
  wake_.notify_all();
  if (beater_.joinable())
    beater_.join();
}

void cluster_presence::start(bool beat_thread) {
  {
    std::lock_guard<std::mutex> g{mu_};
    hello_at_ = now_();
  }
  auto v = json::value::make_object();
  v.set("n", node_);
  v.set("hello", true);
  send_(json::to_string(v));
  beat();
  if (!beat_thread)
    return;
  beater_ = std::thread([this] {
    std::unique_lock<std::mutex> g{mu_};
    while (!wake_.wait_for(g, std::chrono::milliseconds(beat_ms), [this] { return stop_; })) {
      g.unlock();
      beat();
      g.lock();
    }
  });
}

void cluster_presence::local_changed(const std::string& hospital,
                                     std::vector<std::string> roles) {
  std::sort(roles.begin(), roles.end());
  auto v = json::value::make_object();
  {
    std::lock_guard<std::mutex> g{mu_};
    if (roles.empty())
      local_.erase(hospital);
    else
      local_[hospital] = roles;
    v.set("v", static_cast<int64_t>(++version_));
  }
  v.set("n", node_);
  v.set("h", hospital);
  v.set("r", role_list(roles));
  send_(json::to_string(v));
}

void cluster_presence::beat() {
  auto v = json::value::make_object();
  v.set("n", node_);
  auto all = json::value::make_object();
  {
    std::lock_guard<std::mutex> g{mu_};
    v.set("v", static_cast<int64_t>(version_));
    for (auto& [h, roles] : local_)
      all.set(h, role_list(roles));
  }
  v.set("all", std::move(all));
  send_(json::to_string(v));
}

void cluster_presence::receive(std::string_view body) {
  std::string err;
  auto m = json::parse(body, &err);
  if (!m || !m->is_object())
    return;
  auto* n = m->find("n");
  if (n == nullptr || !n->is_string() || n->as_string() == node_)
    return;
  if (auto* hello = m->find("hello"); hello != nullptr && hello->as_bool()) {
    beat(); // a node started: it learns this node's roles at once
    return;
  }
  auto* vn = m->find("v");
  auto version = vn != nullptr && vn->is_int() ? static_cast<uint64_t>(vn->as_int()) : 0;
  std::lock_guard<std::mutex> g{mu_};
  auto now = now_();
  // Nodes gone long ago (a restarted node has a new id) are forgotten.
  for (auto i = remote_.begin(); i != remote_.end();)
    i = now - i->second.last_seen > 10 * expire_ms ? remote_.erase(i) : std::next(i);
  auto& e = remote_[n->as_string()];
  e.last_seen = now;
  if (auto* h = m->find("h"); h != nullptr && h->is_string()) {
    auto& hr = e.hospitals[h->as_string()];
    if (hr.version < version)
      hr = {version, roles_of(m->find("r"))};
    return;
  }
  auto* all = m->find("all");
  if (all == nullptr || !all->is_object())
    return;
  // A beat is the node's whole state at `version`; a change newer than it stays.
  for (auto& [h, hr] : e.hospitals)
    if (hr.version < version && all->find(h) == nullptr)
      hr = {version, {}};
  for (auto& [h, roles] : all->as_object()) {
    auto& hr = e.hospitals[h];
    if (hr.version <= version)
      hr = {version, roles_of(&roles)};
  }
}

int64_t cluster_presence::ms_until_trusted() const {
  std::lock_guard<std::mutex> g{mu_};
  return hello_at_ < 0 ? trust_ms : std::max<int64_t>(0, hello_at_ + trust_ms - now_());
}

std::optional<bool> cluster_presence::online_elsewhere(const std::string& hospital,
                                                       const std::string& role) const {
  std::lock_guard<std::mutex> g{mu_};
  auto now = now_();
  if (hello_at_ < 0 || now - hello_at_ < trust_ms)
    return std::nullopt;
  for (auto& [node, e] : remote_) {
    if (now - e.last_seen > expire_ms)
      continue; // gone: its clients reconnect elsewhere
    auto h = e.hospitals.find(hospital);
    if (h != e.hospitals.end()
        && std::find(h->second.roles.begin(), h->second.roles.end(), role)
             != h->second.roles.end())
      return true;
  }
  return false;
}

} // namespace vigil

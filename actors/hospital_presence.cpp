// Presence: who is online in a hospital (every user with a live subscription there), the
// presence items of subscribeToPresence and the staffOnline count of the metrics actor.
#include "actors/hospital_state.hpp"

#include <caf/all.hpp>

#include <algorithm>

#include "actors/cluster_presence.hpp"
#include "domain/trpc.hpp"

namespace vigil {

namespace {

struct online_user {
  std::string user_id;
  std::optional<std::string> name;
  std::string role;
  int64_t since = 0;
};

std::vector<online_user> online_users(const hospital_state& st) {
  std::unordered_map<std::string, online_user> users;
  for (auto& [k, s] : st.subs) {
    auto& who = *s.req->who;
    auto [i, fresh] = users.try_emplace(who.sub);
    if (fresh) {
      i->second.user_id = who.sub;
      i->second.name = who.name;
      i->second.role = role_name(who.user_role);
      i->second.since = s.req->since_ms;
    } else {
      i->second.since = std::min(i->second.since, s.req->since_ms);
    }
  }
  std::vector<online_user> out;
  out.reserve(users.size());
  for (auto& kv : users)
    out.push_back(std::move(kv.second));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.since != b.since ? a.since < b.since : a.user_id < b.user_id;
  });
  return out;
}

} // namespace

json::value hospital_state::presence_json(int64_t now) const {
  auto& st = *this;
  auto users = online_users(st);
  auto list = json::value::make_array();
  for (auto& u : users) {
    auto item = json::value::make_object();
    item.set("userId", u.user_id);
    item.set("name", json::value::string_or_null(u.name));
    item.set("role", u.role);
    item.set("since", json::value::date(u.since));
    list.push(std::move(item));
  }
  auto v = json::value::make_object();
  v.set("hospitalId", st.hospital_id);
  v.set("count", static_cast<int64_t>(users.size()));
  v.set("online", std::move(list));
  v.set("timestamp", json::value::date(now));
  return v;
}

bool hospital_state::role_online(const std::string& role) const {
  auto i = role_refs.find(role);
  if (i != role_refs.end() && i->second > 0)
    return true;
  if (!rt->cluster)
    return false;
  // A cluster node asks the other nodes' presence; while it cannot know (it just started, or
  // presence could not start) the role counts as online: the failsafe then waits for the
  // receipt deadline instead of escalating at once.
  if (!rt->presence)
    return true;
  return rt->presence->online_elsewhere(hospital_id, role).value_or(true);
}

void hospital_state::roles_changed() {
  if (!rt->presence)
    return;
  std::vector<std::string> roles;
  for (auto& [role, n] : role_refs)
    if (n > 0)
      roles.push_back(role);
  rt->presence->local_changed(hospital_id, std::move(roles));
}

int hospital_state::staff_online() const {
  return static_cast<int>(user_refs.size());
}

/// Counts a new subscription of its user; true when presence subscribers must hear of it.
/// Incremental, so a storm of subscriptions costs O(1) each, not a scan of all of them.
bool hospital_state::add_user(const subscribe_request& req) {
  auto& st = *this;
  if (req.kind == stream_kind::presence)
    ++st.presence_subs;
  if (++st.role_refs[role_name(req.who->user_role)] == 1)
    roles_changed();
  return ++st.user_refs[req.who->sub] == 1;
}

/// Uncounts a subscription; true when presence subscribers must hear of it (the user left, or,
/// while anyone follows presence, the user's earliest `since` may have changed).
bool hospital_state::remove_user(const subscribe_request& req) {
  auto& st = *this;
  if (req.kind == stream_kind::presence)
    --st.presence_subs;
  if (auto r = st.role_refs.find(role_name(req.who->user_role));
      r != st.role_refs.end() && --r->second <= 0) {
    st.role_refs.erase(r);
    roles_changed();
  }
  auto i = st.user_refs.find(req.who->sub);
  if (i == st.user_refs.end())
    return false;
  if (--i->second == 0) {
    st.user_refs.erase(i);
    return true;
  }
  return st.presence_subs > 0;
}

/// Sends the current presence to every presence subscriber that has not seen the last change.
void hospital_state::push_presence_now() {
  auto& st = self->state;
  std::optional<json::value> p;
  for (auto& [k, s] : st.subs) {
    if (s.req->kind != stream_kind::presence || s.presence_seen >= st.presence_changes)
      continue;
    if (!p)
      p = presence_json(st.rt->now());
    s.presence_seen = st.presence_changes;
    st.rt->out->push_text(s.req->conn_id, item_frame(*s.req, *p));
  }
}

/// The set of online users changed: the metrics actor learns the new staffOnline at once;
/// presence subscribers get one item after the current burst of messages.
void hospital_state::presence_changed() {
  auto& st = self->state;
  ++st.presence_changes;
  self->send(st.metrics, staff_online_atom::value, static_cast<int64_t>(staff_online()));
  if (st.presence_flush_scheduled)
    return;
  st.presence_flush_scheduled = true;
  self->send(self, presence_flush_atom::value);
}

} // namespace vigil

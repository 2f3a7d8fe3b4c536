// The console commands about connections and actors: `connections [--hospital ID]`,
// `connection ID` and `actors`.
#include "actors/inspector_state.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <unordered_set>

#include "domain/time.hpp"

namespace vigil::inspection {

namespace {

/// One console row for a connection from the registry entry, the outbox and the actor's
/// status (id, user, role, subscriptions, peer).
json::value connection_row(runtime& rt, uint64_t id, const connection_registry::entry& e,
                           const answer<connection_status>& a, int64_t now) {
  auto row = json::value::make_object();
  row.set("id", id);
  bool known = a.value.has_value();
  auto text_or_null = [&](const std::string& text) {
    return known && !text.empty() ? json::value{text} : json::value{};
  };
  row.set("user", text_or_null(known ? a.value->user : std::string{}));
  row.set("role", text_or_null(known ? a.value->role : std::string{}));
  row.set("subscriptions", known ? json::value{a.value->subscriptions} : json::value{});
  row.set("queue_bytes", rt.out->queued_bytes(id));
  row.set("age_s", std::max<int64_t>(0, now - e.opened_ms) / 1000);
  row.set("opened_at", format_iso(e.opened_ms));
  row.set("peer", known ? json::value{a.value->peer} : json::value{});
  if (!known)
    row.set("error", a.error.empty() ? std::string{"unexpected answer"} : a.error);
  return row;
}

/// Answers with the rows of `conns` (sorted by id), asking each connection actor.
void reply_connections(inspector_self self, promise rp,
                       std::vector<std::pair<uint64_t, connection_registry::entry>> conns,
                       bool single) {
  std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<connection_actor> targets;
  for (auto& c : conns)
    targets.push_back(c.second.actor);
  ask_all<connection_status>(
    self, targets,
    [self, rp, conns, single](std::vector<answer<connection_status>>& answers) mutable {
      auto now = now_ms();
      auto& rt = *self->state.rt;
      if (single) {
        rp.deliver(ok(connection_row(rt, conns[0].first, conns[0].second, answers[0], now)));
        return;
      }
      auto rows = json::value::make_array();
      for (size_t i = 0; i < conns.size(); ++i)
        rows.push(connection_row(rt, conns[i].first, conns[i].second, answers[i], now));
      rp.deliver(ok(std::move(rows)));
    },
    status_atom::value);
}

json::value actor_row(const char* kind, const std::string& name, uint64_t id) {
  auto row = json::value::make_object();
  row.set("actor", kind);
  row.set("name", name);
  row.set("id", id);
  row.set("mailbox", json::value{});
  row.set("reply_us", json::value{});
  return row;
}

template <class Handle>
uint64_t id_of(const Handle& a) {
  return a ? static_cast<uint64_t>(a.id()) : uint64_t{0};
}

} // namespace

caf::result<std::string> cmd_connections(inspector_self self,
                                         const std::vector<std::string>& args) {
  std::optional<std::string> hospital;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--hospital" && i + 1 < args.size())
      hospital = args[++i];
    else if (args[i].rfind("--hospital=", 0) == 0 && args[i].size() > 11)
      hospital = args[i].substr(11);
    else
      return fail("usage: connections [--hospital ID]");
  }
  auto rp = self->make_response_promise<std::string>();
  if (!hospital) {
    reply_connections(self, rp, self->state.rt->connections.all(), false);
    return rp;
  }
  auto id = *hospital;
  with_hospitals(self, rp, [self, rp, id](hospital_list& hs) mutable {
    auto* h = find_hospital(hs, id);
    if (h == nullptr) {
      rp.deliver(fail(not_loaded(id)));
      return;
    }
    hospital_list one{{id, *h}};
    with_hospital_details(self, one,
                          [self, rp, id](std::vector<answer<hospital_status>>& d) mutable {
      auto& a = d.front();
      if (!a.value) {
        rp.deliver(fail("hospital \"" + id + "\" did not answer: " + a.error));
        return;
      }
      std::unordered_set<uint64_t> wanted(a.value->connections.begin(),
                                          a.value->connections.end());
      auto all = self->state.rt->connections.all();
      all.erase(std::remove_if(all.begin(), all.end(),
                               [&](auto& c) { return wanted.count(c.first) == 0; }),
                all.end());
      reply_connections(self, rp, std::move(all), false);
    });
  });
  return rp;
}

caf::result<std::string> cmd_connection(inspector_self self, const std::string& arg) {
  auto id = parse_id(arg);
  if (!id)
    return fail("usage: connection ID (a connection id is a number, see `connections`)");
  auto e = self->state.rt->connections.find(*id);
  if (!e)
    return fail("no open connection with id " + arg);
  auto rp = self->make_response_promise<std::string>();
  reply_connections(self, rp, {{*id, *e}}, true);
  return rp;
}

caf::result<std::string> cmd_actors(inspector_self self) {
  // The console listener asks from a short-lived actor of its own: it is alive (and counted in
  // `running`) while this answer is made, so it gets a row too. (Read before the promise is
  // made: the promise takes the sender out of the current message.)
  auto& requester = self->current_sender();
  uint64_t requester_id = requester ? static_cast<uint64_t>(requester->id()) : 0;
  auto rp = self->make_response_promise<std::string>();
  auto started = std::chrono::steady_clock::now();
  with_hospitals(self, rp, [self, rp, started, requester_id](hospital_list& hs) mutable {
    auto directory_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
    std::sort(hs.begin(), hs.end(), [](auto& a, auto& b) { return a.first < b.first; });
    with_hospital_details(self, hs, [self, rp, hs, directory_us, requester_id](
                                      std::vector<answer<hospital_status>>& details) mutable {
      auto conns = self->state.rt->connections.all();
      std::sort(conns.begin(), conns.end(), [](auto& a, auto& b) { return a.first < b.first; });
      std::vector<connection_actor> targets;
      for (auto& c : conns)
        targets.push_back(c.second.actor);
      auto hospital_rows = std::make_shared<std::vector<json::value>>();
      for (size_t i = 0; i < hs.size(); ++i) {
        auto row = actor_row("hospital", hs[i].first, id_of(hs[i].second));
        if (details[i].value) {
          row.set("mailbox", details[i].value->mailbox);
          row.set("reply_us", details[i].reply_us);
        } else {
          row.set("error", details[i].error);
        }
        hospital_rows->push_back(std::move(row));
        // Each hospital has one metrics actor (a linked child); its record names it.
        if (details[i].value && details[i].value->metrics_actor > 0)
          hospital_rows->push_back(
            actor_row("metrics", hs[i].first, details[i].value->metrics_actor));
      }
      ask_all<connection_status>(
        self, targets,
        [self, rp, conns, hospital_rows, directory_us,
         requester_id](std::vector<answer<connection_status>>& answers) mutable {
          auto& st = self->state;
          auto rows = json::value::make_array();
          auto me = actor_row("inspector", "inspector", self->id());
          me.set("mailbox", self->mailbox().size());
          rows.push(std::move(me));
          auto dir = actor_row("directory", "directory", id_of(st.rt->directory));
          dir.set("reply_us", directory_us);
          rows.push(std::move(dir));
          rows.push(actor_row("storage", "storage", id_of(st.rt->storage)));
          if (st.rt->cluster)
            rows.push(actor_row("storage", "follows", id_of(st.rt->cluster)));
          if (st.rt->storage_reader)
            rows.push(actor_row("storage", "reader", id_of(st.rt->storage_reader)));
          for (size_t i = 0; i < st.rt->loaders.size(); ++i)
            rows.push(actor_row("storage", "loader-" + std::to_string(i),
                                id_of(st.rt->loaders[i])));
          for (auto& r : *hospital_rows)
            rows.push(std::move(r));
          for (size_t i = 0; i < conns.size(); ++i) {
            auto row = actor_row("connection", std::to_string(conns[i].first),
                                 id_of(conns[i].second.actor));
            auto& a = answers[i];
            if (a.value) {
              row.set("mailbox", a.value->mailbox);
              row.set("reply_us", a.reply_us);
            } else {
              row.set("error", a.error);
            }
            rows.push(std::move(row));
          }
          if (requester_id != 0)
            rows.push(actor_row("console", "request", requester_id));
          // `running` is CAF's count of every live actor; the rows are the long-lived ones.
          // The difference is short-lived work (HTTP calls, /ready probes) and connection
          // actors finishing after their socket closed; it is named, not hidden.
          auto running = self->system().registry().running();
          auto listed = rows.size();
          auto v = json::value::make_object();
          v.set("running", running);
          v.set("listed", listed);
          v.set("unlisted", running > listed ? running - listed : size_t{0});
          v.set("actors", std::move(rows));
          rp.deliver(ok(std::move(v)));
        },
        status_atom::value);
    });
  });
  return rp;
}

} // namespace vigil::inspection

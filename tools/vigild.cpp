// vigild: the Vigil server. Reads and validates the configuration, opens the event store, starts
// the actor system and the libwebsockets server, and shuts down gracefully on SIGTERM/SIGINT.

#include <caf/all.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "actors/directory.hpp"
#include "actors/inspector.hpp"
#include "actors/jetstream_store.hpp"
#include "actors/messages.hpp"
#include "actors/runtime.hpp"
#include "actors/sessions.hpp"
#include "actors/storage_actor.hpp"
#include "domain/admin_token.hpp"
#include "domain/config.hpp"
#include "domain/log.hpp"
#include "domain/sd_notify.hpp"
#include "domain/time.hpp"
#include "storage/db_lock.hpp"
#include "storage/event_store.hpp"
#include "transport/console_server.hpp"
#include "transport/server.hpp"

using namespace vigil;

namespace {

/// Stops `a` and waits (at most 5 s) until it is gone.
template <class Handle>
void stop_and_wait(caf::scoped_actor& self, const Handle& a) {
  using namespace std::chrono_literals;
  if (!a)
    return;
  self->monitor(a);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {}, caf::after(5s) >> [] {});
}

/// Stops every hospital actor and both storage actors, waiting for the storage actors so that
/// all commits accepted are finished and both SQLite connections are closed.
void stop_actors(caf::actor_system& sys, runtime& rt) {
  using namespace std::chrono_literals;
  caf::scoped_actor self{sys};
  self->request(rt.directory, 2s, hospitals_atom::value)
    .receive(
      [&](const hospital_list& hospitals) {
        for (auto& kv : hospitals)
          self->send_exit(kv.second, caf::exit_reason::user_shutdown);
      },
      [&](caf::error&) {});
  self->send_exit(rt.directory, caf::exit_reason::user_shutdown);
  // Everything sent to storage before this probe is committed when it answers.
  self->request(rt.storage, 5s, status_atom::value)
    .receive([](const storage_status&) {}, [](caf::error&) {});
  // The read-only connection closes first: SQLite checkpoints the WAL into the main file and
  // removes it when the last connection closes, and only a read-write one can. A stopped server
  // thus leaves one self-contained file.
  stop_and_wait(self, rt.storage_reader);
  stop_and_wait(self, rt.storage);
}

/// Spawns the inspector and opens the console listener on 127.0.0.1:admin.port for
/// `vigilctl console` (nothing when admin.port is 0). False (logged) when the admin token or the
/// port cannot be had.
bool start_console(caf::actor_system& sys, const runtime_ptr& rt, uint16_t bound_port,
                   inspector_actor& inspector, std::unique_ptr<console_handler>& handler,
                   std::unique_ptr<console_server>& console) {
  auto& cfg = rt->cfg;
  if (cfg.admin_port == 0)
    return true;
  std::string error;
  auto token = ensure_admin_token(cfg.admin_token_file, &error);
  if (!token) {
    log::error("admin_token_failed", {{"error", error}});
    return false;
  }
  server_identity id;
  id.version = VIGIL_VERSION;
  id.pid = static_cast<int64_t>(::getpid());
  id.port = bound_port;
  id.admin_port = cfg.admin_port;
  id.db = cfg.db_path;
  id.epoch = rt->epoch;
  auto identity = identity_json(id);
  inspector = spawn_inspector(sys, rt, std::move(id));
  handler = make_console_handler(sys, inspector);
  console = console_server::start(*handler, cfg.admin_port, std::move(*token),
                                  std::move(identity), console_limits{}, &error);
  if (!console) {
    log::error("admin_listen_failed", {{"error", error}});
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
    return false;
  }
  log::info("inspector_listening", {{"address", "127.0.0.1"},
                                    {"port", static_cast<unsigned>(console->port())},
                                    {"token_file", cfg.admin_token_file}});
  return true;
}

/// Runs the transport and the console until SIGTERM/SIGINT, then shuts down gracefully; never
/// returns.
[[noreturn]] void serve(caf::actor_system& sys, const runtime_ptr& rt, sigset_t signals,
                        size_t restore_timers, size_t restore_hospitals) {
  auto& cfg = rt->cfg;
  std::string error;
  // The transport reaches the actors only through this factory (delivery/session.hpp).
  auto sessions = make_session_factory(sys, rt);
  server srv{rt->cfg, rt->out, *sessions};
  if (!srv.start(&error)) {
    log::error("listen_failed", {{"error", error}});
    stop_actors(sys, *rt);
    std::fflush(stderr);
    _exit(1);
  }
  // After the main listener, so that the console can name the bound server.port.
  inspector_actor inspector;
  std::unique_ptr<console_handler> console_inspect; // outlives `console`
  std::unique_ptr<console_server> console;
  if (!start_console(sys, rt, srv.port(), inspector, console_inspect, console)) {
    stop_actors(sys, *rt);
    std::fflush(stderr);
    _exit(1);
  }
  log::info("listening", {{"host", cfg.host}, {"port", static_cast<unsigned>(srv.port())},
                          {"db", cfg.jetstream ? "jetstream:" + cfg.cluster_stream : cfg.db_path},
                          {"epoch", rt->epoch},
                          {"last_seq", rt->last_seq.load()},
                          {"alerts", static_cast<uint64_t>(rt->alerts.size())},
                          {"escalation_timers", static_cast<uint64_t>(restore_timers)},
                          {"escalating_hospitals", static_cast<uint64_t>(restore_hospitals)},
                          {"static_dir", cfg.static_dir.empty() ? "(none)" : cfg.static_dir},
                          {"startup_ms", now_ms() - rt->started_ms}});
  srv.run();
  // systemd (Type=notify): the store is restored and both listeners are bound.
  sd_notify_send("READY=1\nSTATUS=listening on port " + std::to_string(srv.port()));

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  sd_notify_send("STOPPING=1\nSTATUS=draining connections");
  srv.request_shutdown();
  srv.join();
  if (console)
    console->stop();
  if (inspector)
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
  stop_actors(sys, *rt);
  log::info("stopped");
  std::fflush(stderr);
  // Every actor that matters has finished; do not wait for stragglers (idle connection actors
  // of already closed sockets) in ~actor_system.
  _exit(0);
}

/// The CAF configuration of vigild.
void configure_caf(caf::actor_system_config& caf_cfg, const config& cfg) {
  caf_cfg.set("scheduler.max-threads", cfg.worker_threads);
  // Work sharing blocks idle workers on a condition variable; CAF's default work stealing polls
  // with 50 µs sleeps, which on a small box takes CPU from the lws thread (measured: 35-46 % CPU
  // at 100 alerts/s with work stealing).
  if (cfg.scheduler_policy == "stealing")
    caf_cfg.set("scheduler.policy", caf::atom("stealing"));
  else
    caf_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf_cfg.set("logger.verbosity", caf::atom("quiet"));
}

/// storage.engine = jetstream: a cluster node. The event stream replaces the SQLite file; the
/// hospitals load from it on first use and follow it.
int run_cluster_node(const runtime_ptr& rt, sigset_t signals) {
  auto& cfg = rt->cfg;
  std::string error;
  auto link = open_jetstream(*rt, 30000, &error);
  if (!link) {
    log::error("cluster_open_failed", {{"stream", cfg.cluster_stream}, {"error", error}});
    return 1;
  }
  rt->out = std::make_shared<outbox>(cfg.outbound_budget);
  caf::actor_system_config caf_cfg;
  configure_caf(caf_cfg, cfg);
  caf::actor_system sys{caf_cfg};
  rt->cluster = spawn_jetstream_store(sys, rt, std::move(link));
  rt->storage = storage_actor{rt->cluster};
  rt->directory = spawn_directory(sys, rt);
  log::info("cluster_node", {{"stream", cfg.cluster_stream}, {"epoch", rt->epoch},
                             {"last_seq", rt->last_seq.load()}});
  serve(sys, rt, signals, 0, 0);
}
} // namespace

int main(int argc, char** argv) {
  auto loaded = load_config(argc, argv, process_env());
  if (auto* err = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "vigild: %s\n", err->c_str());
    return 2;
  }
  auto& result = std::get<config_result>(loaded);
  if (result.help) {
    std::cout << config_help();
    return 0;
  }
  if (result.version) {
    std::cout << "vigild " VIGIL_VERSION "\n";
    return 0;
  }
  if (result.check) {
    // Everything load_config validates (file, environment, flags, key file, static dir) passed.
    std::cout << "configuration OK\n";
    return 0;
  }
  auto rt = std::make_shared<runtime>();
  rt->cfg = std::move(result.cfg);
  auto& cfg = rt->cfg;
  log::set_json(cfg.log_format == "json");
  log::set_journal(log::stderr_is_journal());
  log::set_level(log::parse_level(cfg.log_level).value_or(log::level::info));
  if (cfg.default_secret)
    log::warn("insecure_default_secret",
              {{"hint", "set AUTH_JWT_SECRET or auth.jwt-secret: tokens signed with the built-in "
                        "development secret are accepted"}});

  // Signals are taken by sigwait on the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  rt->started_ms = now_ms();
  std::string error;
  if (cfg.jetstream)
    return run_cluster_node(rt, signals);
  // Before the database is opened (which may migrate it): a second server on the same file would
  // reissue sequence numbers. Held until the process ends.
  auto lock = storage::db_lock::acquire(cfg.db_path, &error);
  if (!lock) {
    log::error("storage_open_failed", {{"path", cfg.db_path}, {"error", error}});
    return 1;
  }
  storage::open_options opts;
  opts.synchronous_full = cfg.synchronous_full;
  std::shared_ptr<storage::event_store> store{storage::event_store::open(cfg.db_path, opts, &error)};
  if (!store) {
    log::error("storage_open_failed", {{"path", cfg.db_path}, {"error", error}});
    return 1;
  }
  rt->epoch = store->epoch();
  rt->last_seq = store->last_seq();
  rt->pruned_through = store->pruned_through();
  {
    auto index = store->load_alert_index();
    rt->alerts.reserve(index.size());
    for (auto& [alert_id, hospital] : index)
      rt->alerts.put(std::move(alert_id), std::move(hospital));
  }
  // Read before the storage actor owns the store (one thread per connection).
  auto restore = plan_escalation_restore(*store);
  if (!restore) {
    log::error("storage_read_failed", {{"path", cfg.db_path}, {"error", store->last_error()}});
    return 1;
  }
  rt->out = std::make_shared<outbox>(cfg.outbound_budget);

  caf::actor_system_config caf_cfg;
  configure_caf(caf_cfg, cfg);
  caf::actor_system sys{caf_cfg};
  storage::open_options reader_opts;
  reader_opts.read_only = true;
  std::shared_ptr<storage::event_store> reader{
    storage::event_store::open(cfg.db_path, reader_opts, &error)};
  if (!reader) {
    log::error("storage_open_failed", {{"path", cfg.db_path}, {"error", error}});
    return 1;
  }
  rt->storage = spawn_storage(sys, rt, std::move(store));
  rt->storage_reader = spawn_storage_reader(sys, rt, std::move(reader));
  rt->directory = spawn_directory(sys, rt);
  // Every hospital with a running escalation timer starts now, not when a client first uses it:
  // its timers (overdue ones fire at once) must not wait for a call. /ready is 503 until done.
  auto restore_timers = restore->timers;
  auto restore_hospitals = restore->hospitals.size();
  restore_escalation_timers(rt->directory, std::move(*restore));

  serve(sys, rt, signals, restore_timers, restore_hospitals);
}

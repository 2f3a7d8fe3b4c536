// vigild: the Vigil server. Reads and validates the configuration, opens the event store, starts
// the actor system and the libwebsockets server, reloads what it can on SIGHUP and shuts down
// gracefully on SIGTERM/SIGINT.

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
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
#include "domain/reload.hpp"
#include "domain/sd_notify.hpp"
#include "domain/time.hpp"
#include "storage/db_lock.hpp"
#include "storage/event_store.hpp"
#include "transport/console_server.hpp"
#include "transport/server.hpp"
#include "transport/tls.hpp"

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

/// The alert index's fallback (actors/runtime.hpp): the hospital of an alert no hospital holds in
/// memory, by an indexed point read on a read-only connection of its own. Connections call it
/// from any worker; the mutex serialises them (one SQLite connection per thread at a time).
class alert_lookup_store {
public:
  explicit alert_lookup_store(std::unique_ptr<storage::event_store> store)
    : store_(std::move(store)) {}
  std::optional<std::string> hospital_of(const std::string& alert_id) {
    std::lock_guard<std::mutex> g{mu_};
    if (!store_)
      return std::nullopt;
    return store_->hospital_of_alert(alert_id);
  }
  /// Closes the connection (before the read-write one: see stop_actors); later lookups find
  /// nothing.
  void close() {
    std::lock_guard<std::mutex> g{mu_};
    if (store_) {
      std::string err;
      store_->close(&err);
      store_.reset();
    }
  }

private:
  std::mutex mu_;
  std::unique_ptr<storage::event_store> store_;
};

std::shared_ptr<alert_lookup_store> alert_lookups;

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
  if (alert_lookups)
    alert_lookups->close();
  // The read-only connections close first: SQLite checkpoints the WAL into the main file and
  // removes it when the last connection closes, and only a read-write one can. A stopped server
  // thus leaves one self-contained file.
  for (auto& l : rt.loaders)
    stop_and_wait(self, l);
  stop_and_wait(self, rt.storage_reader);
  stop_and_wait(self, rt.storage);
  stop_and_wait(self, rt.cluster);
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

/// Logs the configuration's warnings (e.g. a secret file other users can read).
void log_config_warnings(const config& cfg) {
  for (const std::string& w : cfg.warnings)
    log::warn("config_warning", {{"warning", w}});
}

/// Comma-separated keys, or "none".
std::string key_list(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys)
    out += (out.empty() ? "" : ",") + k;
  return out.empty() ? "none" : out;
}

/// Where a reload's reloadable settings go. Each step takes the new (validated) configuration
/// and applies its part; steps run in order on the main thread and must be thread-safe towards
/// the threads that read the setting. The TLS certificate reload joins the transport step
/// (server::apply_reload).
struct reload_targets {
  runtime& rt;
  server& srv;
  void apply(const config& next) const {
    // Token verification (actors): calls verifying after this use the new keys.
    rt.set_jwt(std::make_shared<const jwt_config>(next.jwt));
    // The transport: CORS origins (and TLS certificates).
    srv.apply_reload(next);
  }
};

/// SIGHUP: loads the configuration again exactly as at start-up (the same command line and
/// environment, so flags and environment variables still win over the file; the config file
/// and the files it names are read anew), applies the reloadable settings, warns once per
/// other setting that changed (restart needed) and logs `event=reloaded` with what changed. An
/// invalid configuration changes nothing and logs why. Never ends the process.
void reload(int argc, char** argv, config& running, const reload_targets& targets) {
  auto loaded = load_config(argc, argv, process_env());
  if (auto* err = std::get_if<std::string>(&loaded)) {
    log::error("reload_failed", {{"error", *err}, {"kept", "the running configuration"}});
    return;
  }
  const config& next = std::get<config_result>(loaded).cfg;
  if (auto why = refuse_reload(running, next)) {
    log::error("reload_failed", {{"error", *why}, {"kept", "the running configuration"}});
    return;
  }
  auto diff = diff_for_reload(running, next);
  log_config_warnings(next);
  for (const std::string& key : diff.restart_needed)
    log::warn("reload_restart_needed",
              {{"key", key}, {"hint", "changed in the configuration; takes effect after a restart"}});
  targets.apply(next);
  // The line is written at the more verbose of the old and new levels, so that it shows
  // whichever way the level moved.
  auto before = log::current_level();
  auto after = log::parse_level(next.log_level).value_or(before);
  log::set_level(std::min(before, after));
  log::info("reloaded", {{"changed", key_list(diff.reloaded)},
                         {"restart_needed", key_list(diff.restart_needed)}});
  log::set_level(after);
  running = apply_reloadable(running, next);
}

/// Runs the transport and the console until SIGTERM/SIGINT (SIGHUP reloads the configuration,
/// see reload()), then shuts down gracefully; never returns.
[[noreturn]] void serve(caf::actor_system& sys, const runtime_ptr& rt, sigset_t signals,
                        size_t restore_timers, size_t restore_hospitals, int argc, char** argv) {
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
                          {"tls", cfg.tls() ? "on" : "off"},
                          {"plain_port", static_cast<unsigned>(srv.plain_port())},
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

  // The configuration running now: the start-up one plus what reloads applied (rt->cfg stays
  // the start-up one; other threads read it).
  config running = rt->cfg;
  reload_targets targets{*rt, srv};
  int sig = 0;
  while (true) {
    sig = 0;
    if (sigwait(&signals, &sig) != 0)
      continue;
    if (sig != SIGHUP)
      break;
    log::info("signal", {{"signal", "SIGHUP"}});
    sd_notify_send("RELOADING=1");
    reload(argc, argv, running, targets);
    sd_notify_send("READY=1");
  }
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
/// How long a cluster node waits at start for its alert index to reach the stream's newest
/// message before it listens anyway (then with a warning).
constexpr int64_t alert_index_wait_ms = 30000;
/// How long a call naming an alert the alert index does not hold waits for the index to catch
/// up with the stream (alerts created on other nodes a moment ago) before it is NOT_FOUND.
constexpr int64_t unknown_alert_wait_ms = 500;

int run_cluster_node(const runtime_ptr& rt, sigset_t signals, int argc, char** argv) {
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
  // Every alert stored before the start must route before a client can name it (after a
  // restart, a getAlert of an acknowledged alert must not be NOT_FOUND): the alert index reads
  // the stream's headers up to its newest message at the start before vigild listens.
  const uint64_t start_seq = rt->last_seq.load();
  auto index_link = link;
  // Presence of the other nodes (the failsafe's "nobody online"): it hears them while the index
  // catches up, and vigild listens only once it can know.
  rt->presence = start_cluster_presence(link);
  auto js = spawn_jetstream_store(sys, rt, std::move(link));
  rt->cluster = js.follows;
  rt->storage = js.store;
  rt->directory = spawn_directory(sys, rt);
  auto t0 = std::chrono::steady_clock::now();
  bool indexed = wait_for_alert_index(*index_link, start_seq, alert_index_wait_ms);
  // As one vigild on SQLite does: every hospital with an open alert starts now, so that its
  // escalation and failsafe timers run without waiting for a client to use it on this node
  // (each node hosting it runs them; the expected-seq check lets one escalation through).
  auto plan = cluster_restore_plan(*index_link);
  // A call naming an alert another node created a moment ago (its client saw it there) finds it
  // here too: an id the index does not hold waits for the index to reach the stream's newest
  // message before it is NOT_FOUND.
  rt->alerts.set_fallback([link = std::weak_ptr<jetstream_link>(index_link),
                           index = &rt->alerts](const std::string& alert_id)
                            -> std::optional<std::string> {
    auto l = link.lock();
    if (!l)
      return std::nullopt;
    return lookup_after_catching_up(*l, *index, alert_id, unknown_alert_wait_ms);
  });
  index_link.reset();
  auto index_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0).count();
  if (!indexed)
    log::warn("cluster_index_behind", {{"last_seq", start_seq}, {"waited_ms", index_ms}});
  log::info("cluster_node", {{"stream", cfg.cluster_stream}, {"epoch", rt->epoch},
                             {"last_seq", start_seq}, {"index_ms", index_ms},
                             {"open_alerts", static_cast<uint64_t>(plan.timers)},
                             {"hospitals_to_start", static_cast<uint64_t>(plan.hospitals.size())}});
  restore_escalation_timers(rt->directory, std::move(plan));
  if (rt->presence)
    std::this_thread::sleep_for(std::chrono::milliseconds(rt->presence->ms_until_trusted()));
  serve(sys, rt, signals, 0, 0, argc, argv);
}
} // namespace

int main(int argc, char** argv) {
  // Signals are taken by sigwait on the main thread (SIGHUP reloads, SIGTERM/SIGINT stop);
  // blocked first, so that every thread inherits the mask and no signal ends the process early.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
  if (result.cfg.tls()) {
    // A certificate that does not load is a configuration error too: refuse now, with one line,
    // not after the database was opened (and --check-config sees it).
    std::string why;
    if (!tls::load(nullptr, result.cfg.tls_cert_file, result.cfg.tls_key_file, &why)) {
      std::fprintf(stderr, "vigild: %s\n", why.c_str());
      return 2;
    }
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
              {{"hint", "set auth.jwt-secret-file (or AUTH_JWT_SECRET): tokens signed with the "
                        "built-in development secret are accepted"}});
  if (cfg.loopback_for_dev_secret)
    log::warn("loopback_only",
              {{"host", cfg.host},
               {"reason", "no JWT secret is configured; set auth.jwt-secret-file (or "
                          "AUTH_JWT_SECRET) and server.host to accept other machines"}});
  log_config_warnings(cfg);
  std::signal(SIGPIPE, SIG_IGN);

  rt->started_ms = now_ms();
  std::string error;
  if (cfg.jetstream)
    return run_cluster_node(rt, signals, argc, argv);
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
    lock->release_refused(); // a refused database keeps no lock file of ours beside it
    return 1;
  }
  rt->epoch = store->epoch();
  rt->last_seq = store->last_seq();
  rt->pruned_through = store->pruned_through();
  {
    // The alert index holds what hospitals keep in memory; any other id is looked up here.
    storage::open_options lookup_opts;
    lookup_opts.read_only = true;
    std::unique_ptr<storage::event_store> lookup{
      storage::event_store::open(cfg.db_path, lookup_opts, &error)};
    if (!lookup) {
      log::error("storage_open_failed", {{"path", cfg.db_path}, {"error", error}});
      return 1;
    }
    alert_lookups = std::make_shared<alert_lookup_store>(std::move(lookup));
    rt->alerts.set_fallback([lookups = alert_lookups](const std::string& alert_id) {
      return lookups->hospital_of(alert_id);
    });
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
  // Hospital loads on connections of their own (two: on a cold page cache a load waits for the
  // disk, and loads of different hospitals are independent).
  for (int i = 0; i < 2; ++i) {
    std::shared_ptr<storage::event_store> loader{
      storage::event_store::open(cfg.db_path, reader_opts, &error)};
    if (!loader) {
      log::error("storage_open_failed", {{"path", cfg.db_path}, {"error", error}});
      return 1;
    }
    rt->loaders.push_back(spawn_storage_reader(sys, rt, std::move(loader)));
  }
  rt->directory = spawn_directory(sys, rt);
  // Every hospital with an active alert starts shortly before its first escalation or failsafe
  // deadline (at once when that is near or past), not when a client first uses it: its timers
  // must not wait for a call. /ready does not wait for these loads.
  auto restore_timers = restore->timers;
  auto restore_hospitals = restore->hospitals.size();
  restore_escalation_timers(rt->directory, std::move(*restore));

  serve(sys, rt, signals, restore_timers, restore_hospitals, argc, argv);
}

// durable_gen: writes a large, realistic vigild database directly through the event store, for
// the start-up benchmark of bench/durable.sh.
//
// Every alert gets a plausible life, played through the domain's own transitions (createAlert,
// escalation timers at their deadlines, updateAlert, acknowledgeAlert, resolveAlert), so event
// payloads and alert rows are byte for byte what vigild would have stored (encoded as
// actors/storage_actor.cpp does). All events of all alerts are committed in time order (seqs
// follow timestamps, as on a live server), in large transactions.
//
//   resolved alerts      created over the last --days days (but not in the last 5 h)
//   open, acknowledged   70% of --open, created in the last 12 h, acknowledged, never resolved
//   open, active         30% of --open, created in the last hour; escalated by the timers that
//                        are already due (those of the last 5 minutes still have a timer running)
//
// Updates (alert.updated) make up the difference to --events, spread at random over the alerts.
// Creates of the last 24 h carry an idempotency key with probability --idempotent.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "domain/alert.hpp"
#include "domain/json.hpp"
#include "storage/event_store.hpp"

namespace {

using vigil::alert;
using vigil::json::value;

constexpr int64_t second_ms = 1000;
constexpr int64_t minute_ms = 60 * second_ms;
constexpr int64_t hour_ms = 60 * minute_ms;
constexpr int64_t day_ms = 24 * hour_ms;

struct options {
  std::string db;
  int alerts = 200000;
  int hospitals = 20;
  int64_t events = 1000000;
  int open = 10000;
  int days = 20;
  double idempotent = 0.5;
  unsigned seed = 1;
  std::string hospital_prefix = "gen-h";
  size_t batch = 10000;
};

enum class action : uint8_t { create, escalate, update, acknowledge, resolve };

/// One step in the life of one alert. 16 bytes: a million of them sort quickly.
struct step {
  int64_t at;
  uint32_t alert;
  action what;
  uint8_t order; // position in the alert's own life (ties at the same millisecond)
};

/// The times of one alert's life, decided up front.
struct life {
  int64_t created = 0;
  std::optional<int64_t> acknowledged;
  std::optional<int64_t> resolved;
  int updates = 0;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// A lowercase UUID v4 whose first 48 bits are `ms`, like vigild's time-ordered alert ids.
std::string uuid_at(int64_t ms, std::mt19937_64& rng) {
  uint64_t hi = (static_cast<uint64_t>(ms) << 16) | (rng() & 0xFFFFull);
  uint64_t lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    const uint64_t word = i < 16 ? hi : lo;
    out += digits[(word >> (60 - 4 * (i % 16))) & 0xF];
  }
  return out;
}

/// The timer escalations due before `until` for an alert created at `created` (tier 1 → 2 after
/// the tier-1 timeout, 2 → 3 after the tier-2 timeout).
std::vector<int64_t> timer_escalations(int64_t created, int64_t until,
                                       const vigil::escalation_policy& policy) {
  std::vector<int64_t> out;
  int64_t deadline = created;
  for (int tier = 1; tier < policy.max_tier(); ++tier) {
    auto timeout = policy.timeout_of(tier);
    if (!timeout) break;
    deadline += *timeout;
    if (deadline >= until) break;
    out.push_back(deadline);
  }
  return out;
}

class generator {
public:
  explicit generator(options o) : o_(std::move(o)), rng_(o_.seed) {}
  int run();

private:
  void plan();
  void plan_alert(uint32_t index, int64_t created, bool acknowledge, bool resolve);
  bool play();
  bool apply(const step& s, std::vector<vigil::storage::write_item>* items, uint64_t seq);
  vigil::transition create(uint32_t index, int64_t at);
  std::string hospital_of(uint32_t index) const {
    return o_.hospital_prefix + std::to_string(index % static_cast<uint32_t>(o_.hospitals));
  }
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  int64_t exponential(double mean_ms) {
    return static_cast<int64_t>(std::exponential_distribution<double>(1.0 / mean_ms)(rng_));
  }

  options o_;
  std::mt19937_64 rng_;
  int64_t now_ = now_ms();
  vigil::escalation_policy policy_;
  std::vector<life> lives_;
  std::vector<step> steps_;
  std::vector<std::optional<alert>> state_;
  std::unique_ptr<vigil::storage::event_store> store_;
  int64_t counts_[5] = {};
  int64_t idempotency_rows_ = 0;
};

void generator::plan_alert(uint32_t index, int64_t created, bool acknowledge, bool resolve) {
  life& l = lives_[index];
  l.created = created;
  int64_t end = now_;
  if (acknowledge) {
    // Most alerts are answered within a few minutes; some wait past one or both timers.
    l.acknowledged = created + 10 * second_ms + std::min(exponential(100.0 * second_ms), 15 * minute_ms);
    end = *l.acknowledged;
    if (resolve) l.resolved = *l.acknowledged + minute_ms + std::min(exponential(20.0 * minute_ms), 3 * hour_ms);
  }
  steps_.push_back({created, index, action::create, 0});
  uint8_t order = 1;
  for (int64_t at : timer_escalations(created, end, policy_))
    steps_.push_back({at, index, action::escalate, order++});
  if (l.acknowledged) steps_.push_back({*l.acknowledged, index, action::acknowledge, 200});
  if (l.resolved) steps_.push_back({*l.resolved, index, action::resolve, 201});
}

void generator::plan() {
  lives_.assign(static_cast<size_t>(o_.alerts), life{});
  const int open = std::min(o_.open, o_.alerts);
  const int active = open * 3 / 10;
  const int resolved = o_.alerts - open;
  uint32_t index = 0;
  for (int i = 0; i < resolved; ++i, ++index)
    plan_alert(index, uniform(now_ - o_.days * day_ms, now_ - 5 * hour_ms), true, true);
  for (int i = 0; i < open - active; ++i, ++index)
    plan_alert(index, uniform(now_ - 12 * hour_ms, now_ - 20 * minute_ms), true, false);
  for (int i = 0; i < active; ++i, ++index)
    plan_alert(index, uniform(now_ - hour_ms, now_ - second_ms), false, false);
  // Updates make up the rest of the events, each at a random time within its alert's open life.
  const int64_t missing = o_.events - static_cast<int64_t>(steps_.size());
  for (int64_t i = 0; i < missing; ++i) {
    auto a = static_cast<uint32_t>(uniform(0, o_.alerts - 1));
    const life& l = lives_[a];
    const int64_t last = l.resolved ? *l.resolved - 1 : now_;
    if (last <= l.created + 1) {
      --i;
      continue;
    }
    steps_.push_back({uniform(l.created + 1, last), a, action::update, 100});
  }
  std::sort(steps_.begin(), steps_.end(), [](const step& x, const step& y) {
    if (x.at != y.at) return x.at < y.at;
    if (x.alert != y.alert) return x.alert < y.alert;
    return x.order < y.order;
  });
}

vigil::transition generator::create(uint32_t index, int64_t at) {
  static const char* const types[] = {"cardiac_arrest", "code_blue", "fire", "security",
                                      "medical_emergency"};
  static const char* const departments[] = {"icu", "emergency", "cardiology", "surgery",
                                            "pediatrics", "neurology"};
  value input = value::make_object();
  input.set("hospitalId", hospital_of(index));
  input.set("roomNumber", std::string("R") + std::to_string(100 + uniform(0, 899)) + "-" +
                            std::to_string(uniform(1, 9)));
  input.set("alertType", types[uniform(0, 4)]);
  input.set("urgencyLevel", static_cast<int>(uniform(1, 5)));
  input.set("description", "Generated alert " + std::to_string(index) +
                             ": patient needs attention, monitor reports abnormal vitals");
  input.set("targetDepartment", departments[uniform(0, 5)]);
  if (uniform(0, 1) == 1) input.set("patientId", "P-" + std::to_string(uniform(10000, 99999)));
  vigil::identity who;
  who.sub = "u-op-" + std::to_string(uniform(1, 40));
  who.user_role = vigil::role::operator_;
  who.hospitals = {hospital_of(index)};
  return vigil::create_alert(input, who, at, policy_, uuid_at(at, rng_));
}

/// Applies one step; on success appends its write item with event `seq`. False on a domain
/// conflict (a planning bug).
bool generator::apply(const step& s, std::vector<vigil::storage::write_item>* items, uint64_t seq) {
  auto& current = state_[s.alert];
  vigil::identity who;
  who.sub = "u-staff-" + std::to_string(uniform(1, 200));
  who.user_role = vigil::role::head_doctor;
  who.hospitals = {hospital_of(s.alert)};
  vigil::transition_result r;
  switch (s.what) {
    case action::create:
      r = create(s.alert, s.at);
      break;
    case action::escalate:
      r = vigil::escalate_alert(*current, policy_, "system", std::string("timeout"), s.at);
      break;
    case action::update: {
      value input = value::make_object();
      input.set("alertId", current->id);
      if (uniform(0, 1) == 0)
        input.set("description", "Update " + std::to_string(uniform(1, 999)) + ": vitals rechecked, situation reassessed");
      else
        input.set("urgencyLevel", static_cast<int>(uniform(1, 5)));
      r = vigil::update_alert(*current, input, who, s.at);
      break;
    }
    case action::acknowledge: {
      static const char* const actions[] = {"responding", "delayed", "monitoring"};
      value input = value::make_object();
      input.set("alertId", current->id);
      input.set("notes", "On my way");
      input.set("responseAction", actions[uniform(0, 2)]);
      input.set("estimatedResponseTime", static_cast<int>(uniform(1, 15)));
      r = vigil::acknowledge_alert(*current, input, who, s.at);
      break;
    }
    case action::resolve: {
      value input = value::make_object();
      input.set("alertId", current->id);
      input.set("resolution", "Patient stabilised and handed over to the ward team");
      r = vigil::resolve_alert(*current, input, who, s.at);
      break;
    }
  }
  auto* t = std::get_if<vigil::transition>(&r);
  if (t == nullptr) return false;
  ++counts_[static_cast<int>(s.what)];

  // Encoded exactly as actors/storage_actor.cpp flush() does.
  vigil::storage::write_item item;
  vigil::storage::stored_event ev;
  ev.seq = seq;
  t->event.seq = seq;
  t->event.id = store_->epoch() + "-" + std::to_string(seq);
  const value v = vigil::to_json(t->event);
  vigil::json::write(ev.payload, v);
  vigil::json::write_meta(ev.meta, v);
  ev.hospital_id = t->event.hospital_id;
  ev.alert_id = t->event.alert_id;
  ev.type = t->event.type;
  ev.ts = t->event.timestamp;
  ev.urgency_level = t->event.urgency_level;
  ev.alert_type = t->event.alert_type;
  vigil::storage::alert_row row;
  row.id = t->next.id;
  row.hospital_id = t->next.hospital_id;
  row.status = vigil::status_name(t->next.status);
  row.created_at = t->next.created_at;
  row.next_escalation_at = t->next.next_escalation_at;
  vigil::json::write(row.json, vigil::to_json(t->next, true));
  if (s.what == action::create && s.at >= now_ - day_ms &&
      std::bernoulli_distribution(o_.idempotent)(rng_)) {
    vigil::storage::idempotency_row idem;
    idem.hospital_id = t->next.hospital_id;
    idem.key = "monitor:" + t->next.id;
    value reply = value::make_object();
    reply.set("success", true);
    reply.set("alert", vigil::to_json(t->next));
    vigil::json::write(idem.reply_json, reply);
    idem.created_at = s.at;
    item.idempotency = std::move(idem);
    ++idempotency_rows_;
  }
  item.event = std::move(ev);
  item.alert = std::move(row);
  items->push_back(std::move(item));
  current = std::move(t->next);
  if (current->status == vigil::alert_status::resolved) current.reset(); // keep memory bounded
  return true;
}

bool generator::play() {
  state_.assign(static_cast<size_t>(o_.alerts), std::nullopt);
  std::vector<vigil::storage::write_item> items;
  items.reserve(o_.batch);
  for (const step& s : steps_) {
    if (!apply(s, &items, store_->next_seq() + items.size())) {
      std::fprintf(stderr, "durable_gen: step %d of alert %u at %lld was refused\n",
                   static_cast<int>(s.what), s.alert, static_cast<long long>(s.at));
      return false;
    }
    if (items.size() >= o_.batch) {
      std::string error;
      if (!store_->commit(items, &error)) {
        std::fprintf(stderr, "durable_gen: commit failed: %s\n", error.c_str());
        return false;
      }
      items.clear();
    }
  }
  std::string error;
  if (!items.empty() && !store_->commit(items, &error)) {
    std::fprintf(stderr, "durable_gen: commit failed: %s\n", error.c_str());
    return false;
  }
  return true;
}

int generator::run() {
  if (std::filesystem::exists(o_.db)) {
    std::fprintf(stderr, "durable_gen: %s exists; remove it first\n", o_.db.c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  plan();
  std::string error;
  store_ = vigil::storage::event_store::open(o_.db, {}, &error);
  if (!store_) {
    std::fprintf(stderr, "durable_gen: %s\n", error.c_str());
    return 1;
  }
  if (!play()) return 1;
  const int64_t active = std::count_if(state_.begin(), state_.end(), [](const auto& a) {
    return a && a->status == vigil::alert_status::active;
  });
  const int64_t acknowledged = std::count_if(state_.begin(), state_.end(), [](const auto& a) {
    return a && a->status == vigil::alert_status::acknowledged;
  });
  const int64_t timers = std::count_if(state_.begin(), state_.end(), [](const auto& a) {
    return a && a->status == vigil::alert_status::active && a->next_escalation_at;
  });
  store_.reset(); // checkpoints the WAL into the database file
  const double seconds =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("gen_db=%s\n", o_.db.c_str());
  std::printf("gen_alerts=%d\ngen_hospitals=%d\n", o_.alerts, o_.hospitals);
  std::printf("gen_events=%zu\n", steps_.size());
  std::printf("gen_events_created=%lld\ngen_events_escalated=%lld\ngen_events_updated=%lld\n"
              "gen_events_acknowledged=%lld\ngen_events_resolved=%lld\n",
              static_cast<long long>(counts_[0]), static_cast<long long>(counts_[1]),
              static_cast<long long>(counts_[2]), static_cast<long long>(counts_[3]),
              static_cast<long long>(counts_[4]));
  std::printf("gen_open_active=%lld\ngen_open_acknowledged=%lld\ngen_active_with_timer=%lld\n",
              static_cast<long long>(active), static_cast<long long>(acknowledged),
              static_cast<long long>(timers));
  std::printf("gen_idempotency_rows=%lld\n", static_cast<long long>(idempotency_rows_));
  std::printf("gen_db_bytes=%llu\n",
              static_cast<unsigned long long>(std::filesystem::file_size(o_.db)));
  std::printf("gen_seconds=%.1f\n", seconds);
  return 0;
}

constexpr const char* usage =
  "Usage: durable_gen --db PATH [--alerts 200000] [--hospitals 20] [--events 1000000]\n"
  "                   [--open 10000] [--days 20] [--idempotent 0.5] [--seed 1]\n"
  "                   [--hospital-prefix gen-h]\n";

bool parse_long(const char* text, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

std::optional<options> parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const char* v = argv[i + 1];
    long long n = 0;
    bool ok = true;
    if (key == "--db") o.db = v;
    else if (key == "--alerts") ok = parse_long(v, 1, 10000000, &n) && (o.alerts = static_cast<int>(n), true);
    else if (key == "--hospitals") ok = parse_long(v, 1, 10000, &n) && (o.hospitals = static_cast<int>(n), true);
    else if (key == "--events") ok = parse_long(v, 1, 100000000, &n) && (o.events = n, true);
    else if (key == "--open") ok = parse_long(v, 0, 10000000, &n) && (o.open = static_cast<int>(n), true);
    else if (key == "--days") ok = parse_long(v, 1, 29, &n) && (o.days = static_cast<int>(n), true);
    else if (key == "--seed") ok = parse_long(v, 0, 1LL << 31, &n) && (o.seed = static_cast<unsigned>(n), true);
    else if (key == "--idempotent") {
      char* end = nullptr;
      o.idempotent = std::strtod(v, &end);
      ok = end != v && *end == '\0' && o.idempotent >= 0 && o.idempotent <= 1;
    } else if (key == "--hospital-prefix") o.hospital_prefix = v;
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "durable_gen: bad option %s %s\n", key.c_str(), v);
      return std::nullopt;
    }
  }
  if ((argc - 1) % 2 != 0 || o.db.empty()) return std::nullopt;
  return o;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse_options(argc, argv);
  if (!o) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  generator g(std::move(*o));
  return g.run();
}

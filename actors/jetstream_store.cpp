#include "actors/jetstream_store.hpp"
#include "actors/jetstream_audit.hpp"
#include "actors/jetstream_common.hpp"

#include <caf/all.hpp>

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <map>

#include "delivery/counters.hpp"
#include "domain/base64url.hpp"
#include "domain/dates.hpp"
#include "domain/event_id.hpp"
#include "domain/log.hpp"
#include "domain/time.hpp"

namespace vigil {

namespace {

constexpr const char* subject_prefix = "vigil.events.";
constexpr const char* epoch_marker = "vigil epoch=";
/// How long a publish waits for JetStream's acknowledgement, and how long a read waits for the
/// next message of a range it knows is there.
constexpr int64_t publish_wait_ms = 5000;
constexpr int64_t read_wait_ms = 5000;
/// Creating a consumer waits at most this long, and a read tries read_attempts times: first
/// with a consumer, then message by message (read_by_get).
constexpr int64_t consumer_wait_ms = 2500;
constexpr int read_attempts = 3;
/// A follower that could not be created is tried again this much later.
constexpr int64_t follow_retry_ms = 1000;
/// Whether JetStream can store is asked (stream info, answered by the stream's leader) at most
/// this often, waiting at most probe_wait_ms: while it cannot (quorum lost, leader election),
/// /ready says not ready and writes fail at once instead of each waiting publish_wait_ms.
constexpr int64_t probe_every_ms = 1000;
constexpr int64_t probe_wait_ms = 500;
/// A stream leader that lost its quorum keeps answering stream info (nats-server 2.9 steps
/// down only after 10 s without a quorum, and was seen still leading after 15 s): the probe
/// also counts the replicas the leader heard from within this long (an idle healthy replica
/// answers the leader's 1 s heartbeats: its `Active` stays under ~1 s).
constexpr int64_t replica_silent_ns = 3000LL * 1000 * 1000;
/// A write that lost its place to other nodes' writes that leave it valid takes the next place
/// (commit) this many times at most before the hospital catches up and validates it again; it
/// waits at most placement_wait_ms for the hospital's follower to deliver those writes.
constexpr int place_attempts = 16;
constexpr int64_t placement_wait_ms = 100;
/// A write's event publish and its audit record together wait about this long at most (the
/// audit append gets what is left, at least audit_min_budget_ms).
constexpr int64_t write_budget_ms = 6000;
constexpr int64_t audit_min_budget_ms = 1000;
/// A write takes another place only while its commit has taken less than this.
constexpr int64_t placement_budget_ms = 1000;
/// Idempotency keys are remembered this long (hospital actors keep them from the stream).
constexpr int64_t idempotency_window_ms = 24LL * 3600 * 1000;

std::string random_epoch() {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string e;
  for (size_t i = 0; i < event_epoch_length; ++i)
    e += alphabet[rd() % 36];
  return e;
}

/// The body of a stream message: the event (its id left empty: the stream seq makes it), the
/// alert after it, its filter attributes and the idempotency record.
std::string encode_body(const pending_write& w) {
  alert_event e = w.event;
  e.id.clear();
  e.seq = 0;
  auto body = json::value::make_object();
  body.set("e", to_json(e));
  body.set("a", to_json(w.next, true));
  body.set("u", e.urgency_level);
  body.set("t", e.alert_type);
  if (w.idempotency_key) {
    body.set("k", *w.idempotency_key);
    body.set("r", w.idempotency_reply);
  }
  std::string out;
  json::write(out, body);
  return out;
}

int64_t steady_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Decodes a stream message at `seq` into the event every node publishes identically;
/// `committed_us` (steady clock) is set on live events (the follower's), 0 on reads of the past.
stream_event_ptr decode_body(const std::string& epoch, uint64_t seq, const char* data, int len,
                             std::string* error, int64_t committed_us = 0) {
  auto body = json::parse(std::string_view(data, static_cast<size_t>(len)), error);
  if (!body || !body->is_object()) {
    if (error->empty())
      *error = "not a JSON object";
    return nullptr;
  }
  auto* e = body->find("e");
  auto* a = body->find("a");
  if (e == nullptr || a == nullptr || !e->is_object()) {
    *error = "event or alert missing";
    return nullptr;
  }
  auto next = alert_from_json(*a);
  if (!next) {
    *error = "alert unreadable";
    return nullptr;
  }
  auto out = std::make_shared<stream_event>();
  auto id = format_event_id(epoch, seq);
  json::value ev = *e;
  ev.set("id", id);
  mark_timestamp_fields(ev);
  std::string plain, meta;
  json::write(plain, ev);
  json::write_meta(meta, ev);
  auto str = [&](const json::value* v, const char* key) -> std::string {
    auto* f = v->find(key);
    return f != nullptr && f->is_string() ? f->as_string() : std::string{};
  };
  auto* u = body->find("u");
  auto* ts = e->find("timestamp");
  if (ts != nullptr && ts->is_string()) {
    if (auto ms = parse_iso(ts->as_string()))
      out->timestamp = *ms;
  }
  auto enc = make_encoded_event(seq, id, str(e, "type"), str(e, "alertId"),
                                u != nullptr ? static_cast<int>(u->as_int()) : 0,
                                str(body.operator->(), "t"), std::move(plain), std::move(meta));
  // vigil_publish_to_write_seconds: a live event counts from when this node got it stored.
  enc->committed_us = committed_us;
  out->event = std::move(enc);
  out->next = std::move(*next);
  if (auto* k = body->find("k"); k != nullptr && k->is_string()) {
    out->idempotency_key = k->as_string();
    out->idempotency_reply = str(body.operator->(), "r");
  }
  return out;
}

/// Standard padded base64 (the data of a JetStream API message) decoded; nullopt when it is not.
std::optional<std::string> base64_decode(const std::string& in) {
  if (in.size() % 4 != 0)
    return std::nullopt;
  std::string url;
  url.reserve(in.size());
  for (char c : in) {
    if (c == '=')
      break;
    url += c == '+' ? '-' : c == '/' ? '_' : c == '-' || c == '_' ? '!' : c;
  }
  return base64url_decode(url);
}

void raise_last_seq(runtime& rt, uint64_t seq) {
  auto cur = rt.last_seq.load();
  while (seq > cur && !rt.last_seq.compare_exchange_weak(cur, seq)) {
  }
}

} // namespace

std::string hospital_subject(const std::string& hospital) {
  static const char hex[] = "0123456789ABCDEF";
  std::string s = subject_prefix;
  for (unsigned char c : hospital) {
    if (std::isalnum(c) || c == '_' || c == '-') {
      s += static_cast<char>(c);
    } else {
      s += '%';
      s += hex[c >> 4];
      s += hex[c & 15];
    }
  }
  return s;
}

/// The connection, the JetStream context and the stream's identity. Its followers live as long
/// as it does.
/// The alert-index follower's closure: the runtime it fills and how far it has read.
struct index_follower {
  runtime* rt = nullptr;
  std::atomic<uint64_t> seq{0};
  /// The open alerts of the stream (alert id -> hospital), by the Vigil-Open header of each
  /// alert's newest message: what a node starting up must host for the alerts' timers to run.
  std::mutex open_mu;
  std::unordered_map<std::string, std::string> open_alerts;
};

/// What other nodes wrote to one hospital, as this node's follower of the hospital delivered
/// it: for each alert (and idempotency key) the newest seq another node wrote it at. A write
/// validated on the hospital's view V whose alert (or key) no other node wrote after V is still
/// valid after their writes: the store then places it after them (commit).
struct foreign_writes {
  std::mutex mu;
  bool followed = false;
  uint64_t from = 0;      // complete for the seqs after this one
  uint64_t delivered = 0; // the newest seq delivered
  std::unordered_map<std::string, uint64_t> alerts;
  std::unordered_map<std::string, uint64_t> keys;
  /// This node's writes the store was acknowledged and the follower has not delivered yet.
  std::unordered_set<uint64_t> own_acked;
  /// This node's messages delivered before (or without) their acknowledgement: a publish that
  /// failed (a timeout, say) may have been stored all the same, and no write of this node was
  /// validated on it, so it counts as another node's until acknowledged.
  struct unacked {
    std::string alert;
    std::optional<std::string> key;
  };
  std::map<uint64_t, unacked> own_unacked;

  void clear_from(uint64_t seq) {
    alerts.clear();
    keys.clear();
    own_acked.clear();
    own_unacked.clear();
    from = seq;
  }
};
using foreign_writes_ptr = std::shared_ptr<foreign_writes>;

class jetstream_link {
public:
  ~jetstream_link() {
    audit.reset(); // its follower before the connection
    for (auto* s : subs_) {
      natsSubscription_Unsubscribe(s);
      natsSubscription_Destroy(s);
    }
    if (js_ != nullptr)
      jsCtx_Destroy(js_);
    if (nc_ != nullptr) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
  }

  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::string stream;
  std::string epoch;
  std::vector<natsSubscription*> subs_; // followers (the follows' thread; destroyed with the link)
  std::mutex foreign_mu_;
  std::unordered_map<std::string, foreign_writes_ptr> foreign_;
  index_follower index;
  std::unique_ptr<jetstream_audit> audit; // the audit trail's stream
  /// This node's writes carry it (header Vigil-Node), so that followers tell them apart.
  std::string node_id = random_epoch() + random_epoch();

  /// The other nodes' writes to `hospital` (made on first use).
  foreign_writes_ptr foreign_of(const std::string& hospital) {
    std::lock_guard<std::mutex> g{foreign_mu_};
    auto& p = foreign_[hospital];
    if (!p)
      p = std::make_shared<foreign_writes>();
    return p;
  }

  jsOptions options() const {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = publish_wait_ms;
    return o;
  }

  /// The newest seq of `subject`, 0 when it has none, nullopt on an error.
  std::optional<uint64_t> last_subject_seq(const std::string& subject, std::string* error,
                                           int64_t wait_ms = publish_wait_ms) {
    natsMsg* m = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    auto o = options();
    o.Wait = wait_ms;
    auto s = js_GetLastMsg(&m, js_, stream.c_str(), subject.c_str(), &o, &code);
    if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr)
      return uint64_t{0};
    if (s != NATS_OK) {
      *error = status_text(s, code);
      return std::nullopt;
    }
    auto seq = natsMsg_GetSequence(m);
    natsMsg_Destroy(m);
    return seq;
  }

  /// Reads the messages of `subject` after `after_seq` up to `last` (inclusive) in order, at
  /// most `limit` accepted by `take` (which returns whether it kept the message). A consumer
  /// that cannot be created or stops delivering (e.g. the NATS cluster placed it on a server
  /// that just died) is not made again: the read goes on from the last message read with
  /// read_by_get, at most read_attempts - 1 times.
  template <class Take>
  bool read_range(const std::string& subject, uint64_t after_seq, uint64_t last, size_t limit,
                  Take&& take, std::string* error) {
    if (last <= after_seq)
      return true;
    uint64_t done = after_seq; // the newest seq handled
    size_t taken = 0;
    for (int attempt = 1;; ++attempt) {
      std::string failure;
      if (attempt == 1 ? read_once(subject, done, last, limit, taken, take, &failure)
                       : read_by_get(subject, done, last, limit, taken, take, &failure))
        return true;
      if (attempt >= read_attempts) {
        *error = failure;
        return false;
      }
      log::info("cluster_read_retry", {{"subject", subject}, {"after", done},
                                       {"attempt", attempt}, {"error", failure}});
    }
  }

  /// read_range without a consumer: asks the stream's leader for each next message of `subject`
  /// after `done` (advancing it) until `last` or `limit`. One request per message, so slower than
  /// a consumer, but nothing is placed: after a NATS server dies the meta leader still counts it
  /// as a live peer for a while and places ephemeral (R1) consumers on it, whose creation is then
  /// never answered, while the stream's leader (a live server whenever writes succeed) answers.
  template <class Take>
  bool read_by_get(const std::string& subject, uint64_t& done, uint64_t last, size_t limit,
                   size_t& taken, Take& take, std::string* error) {
    const std::string api = "$JS.API.STREAM.MSG.GET." + stream;
    while (taken < limit && done < last) {
      // The subject is escaped by hospital_subject: nothing in it needs JSON escaping.
      std::string req = "{\"seq\":" + std::to_string(done + 1) + ",\"next_by_subj\":\""
                        + subject + "\"}";
      natsMsg* reply = nullptr;
      auto s = natsConnection_Request(&reply, nc_, api.c_str(), req.data(),
                                      static_cast<int>(req.size()), read_wait_ms);
      if (s != NATS_OK) {
        *error = "getting the message of " + subject + " after " + std::to_string(done) + ": "
                 + status_text(s);
        return false;
      }
      std::string perr;
      auto body = json::parse(std::string_view(natsMsg_GetData(reply),
                                               static_cast<size_t>(natsMsg_GetDataLength(reply))),
                              &perr);
      natsMsg_Destroy(reply);
      const json::value* msg = body ? body->find("message") : nullptr;
      const json::value* seq_v = msg != nullptr ? msg->find("seq") : nullptr;
      const json::value* data_v = msg != nullptr ? msg->find("data") : nullptr;
      if (seq_v == nullptr || !seq_v->is_int()) {
        // A missing message before `last` (which exists) is an error too: never a silent gap.
        const json::value* e = body ? body->find("error") : nullptr;
        const json::value* d = e != nullptr ? e->find("description") : nullptr;
        *error = "getting the message of " + subject + " after " + std::to_string(done) + ": "
                 + (d != nullptr && d->is_string() ? d->as_string()
                                                   : perr.empty() ? "unexpected reply" : perr);
        return false;
      }
      auto seq = static_cast<uint64_t>(seq_v->as_int());
      if (seq <= done || seq > last) { // nothing more up to `last`
        done = last;
        break;
      }
      std::optional<std::string> data = std::string{};
      if (data_v != nullptr && data_v->is_string())
        data = base64_decode(data_v->as_string());
      if (!data) {
        *error = "message " + std::to_string(seq) + " of " + subject + ": data not base64";
        return false;
      }
      natsMsg* m = nullptr;
      if (natsMsg_Create(&m, subject.c_str(), nullptr, data->data(),
                         static_cast<int>(data->size())) != NATS_OK) {
        *error = "out of memory";
        return false;
      }
      done = seq;
      if (take(seq, m))
        ++taken;
      natsMsg_Destroy(m);
    }
    return true;
  }

  /// One consumer of read_range: reads after `done` (advancing it) until `last` or `limit`.
  template <class Take>
  bool read_once(const std::string& subject, uint64_t& done, uint64_t last, size_t limit,
                 size_t& taken, Take& take, std::string* error) {
    jsSubOptions so;
    ordered_consumer(so, stream, done, false);
    auto o = options();
    o.Wait = consumer_wait_ms;
    natsSubscription* sub = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    auto s = js_SubscribeSync(&sub, js_, subject.c_str(), &o, &so, &code);
    if (s != NATS_OK) {
      *error = "creating a consumer of " + subject + ": " + status_text(s, code);
      return false;
    }
    bool ok = true;
    while (taken < limit && done < last) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, read_wait_ms);
      if (s != NATS_OK) {
        *error = "reading " + subject + ": " + status_text(s);
        ok = false;
        break;
      }
      auto seq = stream_seq_of(m);
      if (seq == 0 || seq <= done) { // a status message (heartbeat, flow control), or again
        natsMsg_Destroy(m);
        continue;
      }
      done = seq;
      if (take(seq, m))
        ++taken;
      natsMsg_Destroy(m);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return ok;
  }
};

jetstream_link_ptr open_jetstream(runtime& rt, int64_t wait_ms, std::string* error) {
  auto& cfg = rt.cfg;
  auto link = std::make_shared<jetstream_link>();
  link->stream = cfg.cluster_stream;
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (auto& u : cfg.nats_urls)
    urls.push_back(u.c_str());
  natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  natsOptions_SetName(opts, "vigild");
  // Never give up on the cluster: while it is unreachable mutations fail (503-like errors), and
  // the node heals by itself when a NATS server is back.
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 250);
  natsOptions_SetTimeout(opts, 2000);
  // One pool of delivery threads for every follower instead of a thread per subscription.
  natsOptions_UseGlobalMessageDelivery(opts, true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  natsStatus s = NATS_OK;
  for (;;) {
    s = natsConnection_Connect(&link->nc_, opts);
    if (s == NATS_OK || std::chrono::steady_clock::now() > deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    *error = "cannot connect to cluster.nats-urls: " + status_text(s);
    return nullptr;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = publish_wait_ms;
  s = natsConnection_JetStream(&link->js_, link->nc_, &jo);
  if (s != NATS_OK) {
    *error = "JetStream context: " + status_text(s);
    return nullptr;
  }
  auto description = std::string(epoch_marker) + random_epoch();
  const char* subjects[] = {"vigil.events.>"};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = link->stream.c_str();
  sc.Description = description.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = cfg.cluster_replicas;
  sc.MaxAge = static_cast<int64_t>(cfg.retention_days) * 86400LL * 1000000000LL;
  sc.Duplicates = 2LL * 60 * 1000000000LL;
  sc.DenyDelete = true;
  // An existing stream (another node made it) is looked up, never changed.
  jsStreamInfo* si = find_or_create_stream(link->js_, sc, publish_wait_ms, deadline, error);
  if (si == nullptr)
    return nullptr;
  std::string desc = si->Config != nullptr && si->Config->Description != nullptr
                       ? si->Config->Description : "";
  rt.last_seq = si->State.LastSeq;
  rt.pruned_through = si->State.FirstSeq > 0 ? si->State.FirstSeq - 1 : 0;
  jsStreamInfo_Destroy(si);
  if (desc.rfind(epoch_marker, 0) != 0
      || !is_valid_epoch(desc.substr(std::string(epoch_marker).size()))) {
    *error = "stream " + link->stream + " is not a Vigil event stream (description \"" + desc
             + "\")";
    return nullptr;
  }
  link->epoch = desc.substr(std::string(epoch_marker).size());
  rt.epoch = link->epoch;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
  link->audit = jetstream_audit::open(link->js_, link->stream, cfg.cluster_replicas,
                                      cfg.audit_retention_days, std::max<int64_t>(left, 2500),
                                      error);
  if (!link->audit)
    return nullptr;
  return link;
}

namespace {

/// The alerts of one hospital whose last write of this node failed (commit). The writes that
/// were validated on top of a failed one were sent before the hospital learned of the failure,
/// so they reach the store soon after it; an entry no such write came for (an alert not written
/// again, a create's id that its retry replaced) is forgotten after failed_write_memory.
class failed_writes {
public:
  void mark(const std::string& alert_id) {
    auto now = std::chrono::steady_clock::now();
    if (at_.size() >= prune_above) {
      for (auto i = at_.begin(); i != at_.end();)
        i = now - i->second > failed_write_memory ? at_.erase(i) : std::next(i);
    }
    at_[alert_id] = now;
  }
  void clear(const std::string& alert_id) { at_.erase(alert_id); }
  bool has(const std::string& alert_id) const { return at_.count(alert_id) > 0; }

private:
  static constexpr size_t prune_above = 1024;
  static constexpr auto failed_write_memory = std::chrono::minutes(10);
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> at_;
};

struct js_state {
  static inline const char* name = "vigil.jetstream";
  runtime_ptr rt;
  jetstream_link_ptr link;
  /// hospital -> seq of this node's newest write: a write validated on top of this node's
  /// writes still in flight expects it (the hospital has not applied them yet).
  std::unordered_map<std::string, uint64_t> own_last;
  /// hospital -> alerts with a write of this node that failed: the writes validated on top of
  /// it (`chained`) fail too, until one validated without it comes.
  std::unordered_map<std::string, failed_writes> failed_alerts;
  /// Whether the stream answered the last probe (or the last publish succeeded), and when it
  /// was last probed.
  bool stream_ok = true;
  std::chrono::steady_clock::time_point probed_at{};
};

using js_self = jetstream_actor::stateful_pointer<js_state>;

/// A follower's closure: where the events of one hospital go.
struct follower {
  hospital_actor hospital;
  std::string epoch;
  runtime_ptr rt;
  foreign_writes_ptr foreign;
  std::string node_id;
};

/// How many alerts and keys a hospital's foreign_writes holds before it starts again from the
/// newest seq delivered (older views then go back to the hospital on a conflict).
constexpr size_t foreign_writes_max = 100000;

void note_delivered(foreign_writes& fw, natsMsg* m, const stream_event& ev,
                    const std::string& node_id) {
  const char* node = nullptr;
  bool own = natsMsgHeader_Get(m, "Vigil-Node", &node) == NATS_OK && node != nullptr
             && node_id == node;
  auto seq = ev.event->seq;
  std::lock_guard<std::mutex> g{fw.mu};
  // A follower delivers a subject in order with no gap: a seq at or below `delivered` was seen
  // (a second follower of a restarted hospital delivers again from its snapshot).
  if (seq <= fw.delivered)
    return;
  fw.delivered = seq;
  if (fw.alerts.size() + fw.keys.size() + fw.own_acked.size() + fw.own_unacked.size()
      >= foreign_writes_max)
    fw.clear_from(seq - 1);
  if (own) {
    if (fw.own_acked.erase(seq) == 0)
      fw.own_unacked[seq] = {ev.next.id, ev.idempotency_key};
    return;
  }
  fw.alerts[ev.next.id] = seq;
  if (ev.idempotency_key)
    fw.keys[*ev.idempotency_key] = seq;
}

/// The store's acknowledgement of this node's write at `seq` (before or after its delivery).
void note_acknowledged(foreign_writes& fw, uint64_t seq) {
  std::lock_guard<std::mutex> g{fw.mu};
  if (fw.own_unacked.erase(seq) == 0 && seq > fw.delivered)
    fw.own_acked.insert(seq);
}

void on_follow_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  auto* f = static_cast<follower*>(closure);
  auto seq = stream_seq_of(m);
  if (seq != 0) {
    std::string err;
    auto ev = decode_body(f->epoch, seq, natsMsg_GetData(m), natsMsg_GetDataLength(m), &err,
                          steady_now_us());
    if (ev) {
      raise_last_seq(*f->rt, seq);
      note_delivered(*f->foreign, m, *ev, f->node_id);
      caf::anon_send(f->hospital, stream_event_ptr{ev});
    } else {
      log::error("cluster_event_unreadable", {{"seq", seq}, {"error", err}});
    }
  }
  natsMsg_Destroy(m);
}

/// The alert index follower: every message's headers only (alert id, hospital).
void on_index_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  auto* f = static_cast<index_follower*>(closure);
  const char* alert_id = nullptr;
  const char* hospital = nullptr;
  if (natsMsgHeader_Get(m, "Vigil-Alert", &alert_id) == NATS_OK
      && natsMsgHeader_Get(m, "Vigil-Hospital", &hospital) == NATS_OK) {
    f->rt->alerts.put(alert_id, hospital);
    // A message without Vigil-Open (written before it existed) counts as open: starting a
    // hospital needlessly costs a load, missing one would leave its timers unarmed.
    const char* open = nullptr;
    bool resolved = natsMsgHeader_Get(m, "Vigil-Open", &open) == NATS_OK && open != nullptr
                    && open[0] == '0';
    std::lock_guard<std::mutex> g{f->open_mu};
    if (resolved)
      f->open_alerts.erase(alert_id);
    else
      f->open_alerts[alert_id] = hospital;
  }
  if (auto seq = stream_seq_of(m)) {
    raise_last_seq(*f->rt, seq);
    f->seq.store(seq);
  }
  natsMsg_Destroy(m);
}

/// How many of the stream's replicas (the leader included) the leader heard from lately.
struct replica_count {
  int heard = 1;
  int total = 1;
  bool quorum() const { return 2 * heard > total; }
};

replica_count replicas_heard(const jsStreamInfo* si) {
  replica_count n;
  if (si == nullptr || si->Cluster == nullptr)
    return n; // a stream of one replica, or a NATS server outside a cluster
  for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
    auto* r = si->Cluster->Replicas[i];
    ++n.total;
    if (r != nullptr && !r->Offline && r->Active < replica_silent_ns)
      ++n.heard;
  }
  return n;
}

/// Whether JetStream can store: the stream's info answered within probe_wait_ms by a leader
/// that heard from a quorum of replicas within replica_silent_ns. Probes at
/// most every probe_every_ms (else the last answer).
bool stream_available(js_state& st) {
  auto now = std::chrono::steady_clock::now();
  if (now - st.probed_at < std::chrono::milliseconds(probe_every_ms))
    return st.stream_ok;
  st.probed_at = now;
  bool ok = false;
  std::string err = "not connected to NATS";
  if (natsConnection_Status(st.link->nc_) == NATS_CONN_STATUS_CONNECTED) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    auto o = st.link->options();
    o.Wait = probe_wait_ms;
    auto s = js_GetStreamInfo(&si, st.link->js_, st.link->stream.c_str(), &o, &code);
    ok = s == NATS_OK;
    if (!ok)
      err = status_text(s, code);
    else if (auto q = replicas_heard(si); !q.quorum()) {
      ok = false;
      err = "stream quorum lost: the leader heard from " + std::to_string(q.heard) + " of "
            + std::to_string(q.total) + " replicas (itself included) within "
            + std::to_string(replica_silent_ns / 1000000) + " ms";
    }
    if (si != nullptr)
      jsStreamInfo_Destroy(si);
  }
  if (ok && !st.stream_ok)
    log::info("cluster_stream_available", {{"stream", st.link->stream}});
  else if (!ok && st.stream_ok)
    log::error("cluster_stream_unavailable", {{"stream", st.link->stream}, {"error", err}});
  st.stream_ok = ok;
  return ok;
}

/// Whether write `w` of `hospital`, validated on the hospital's view `view`, is still valid
/// after the stream's seq `upto`: no other node wrote its alert (nor, for a create, its
/// idempotency key) after `view`, by what this node's follower of the hospital delivered (waited
/// for until `deadline`), nor did a write of this node that was not acknowledged. false when
/// that cannot be told.
bool still_valid(jetstream_link& link, const std::string& hospital, const pending_write& w,
                 uint64_t view, uint64_t upto,
                 std::chrono::steady_clock::time_point deadline) {
  auto fw = link.foreign_of(hospital);
  for (;;) {
    {
      std::lock_guard<std::mutex> g{fw->mu};
      if (!fw->followed || view < fw->from)
        return false;
      if (fw->delivered >= upto) {
        auto newer = [view](const auto& map, const std::string& k) {
          auto i = map.find(k);
          return i != map.end() && i->second > view;
        };
        if (newer(fw->alerts, w.next.id)
            || (w.idempotency_key && newer(fw->keys, *w.idempotency_key)))
          return false;
        for (auto i = fw->own_unacked.upper_bound(view); i != fw->own_unacked.end(); ++i)
          if (i->second.alert == w.next.id
              || (w.idempotency_key && i->second.key == w.idempotency_key))
            return false;
        return true;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

commit_reply_ptr commit(js_self self, const commit_request& req) {
  auto& st = self->state;
  auto reply = std::make_shared<commit_reply>();
  auto& link = *st.link;
  // After a failed publish, writes fail at once until a probe finds the stream writable again
  // (a lost quorum must not queue every write behind another's publish timeout).
  // One write per request on a cluster (hospital_state::commit_to_stream).
  if (req.writes.size() != 1) {
    reply->error = "a cluster commit holds one write";
    return reply;
  }
  const auto& alert_id = req.writes.front().next.id;
  // Every way this write fails below fails the writes validated on top of it too.
  auto& failed = st.failed_alerts[req.hospital_id];
  if (!req.chained)
    failed.clear(alert_id);
  else if (failed.has(alert_id)) {
    reply->conflict = true;
    reply->error = "an earlier write of this alert failed";
    return reply;
  }
  if (!st.stream_ok && !stream_available(st)) {
    counters::get().storage_commit_failures++;
    failed.mark(alert_id);
    reply->error = "JetStream cannot store (no quorum or no stream leader)";
    return reply;
  }
  // How long this write may wait in all for the hospital's follower (the store's one thread
  // waits meanwhile), and until when it may take another place: a write that lost while
  // JetStream is slow (a leader election) goes back to the hospital instead of publishing
  // again, each publish waiting up to publish_wait_ms.
  auto commit_start = std::chrono::steady_clock::now();
  auto wait_until = commit_start + std::chrono::milliseconds(placement_wait_ms);
  auto place_until = commit_start + std::chrono::milliseconds(placement_budget_ms);
  auto& own_last = st.own_last[req.hospital_id];
  uint64_t expected = std::max(req.expected_last_seq, own_last);
  // Expecting this node's newest write, not yet applied by the hospital (the write's view):
  // other nodes may have written in between (the write that lost its place, or one that came
  // after this node's write), which the validation did not see. It stands only when they left
  // its alert (and key) alone; a new alert without a key nobody else can have written.
  const auto& first = req.writes.front();
  const bool new_alert = first.event.type == "alert.created" && !first.idempotency_key;
  if (expected > req.expected_last_seq && !new_alert
      && !still_valid(link, req.hospital_id, first, req.expected_last_seq, expected,
                      wait_until)) {
    failed.mark(alert_id);
    reply->conflict = true;
    reply->stream_last_seq = expected;
    reply->error = "another node wrote first";
    return reply;
  }
  auto subject = hospital_subject(req.hospital_id);
  for (auto& w : req.writes) {
    auto body = encode_body(w);
    // A message per attempt: a publish sets its expectation headers on the message.
    auto make_msg = [&] {
      natsMsg* m = nullptr;
      natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
      natsMsgHeader_Set(m, "Vigil-Alert", w.next.id.c_str());
      natsMsgHeader_Set(m, "Vigil-Hospital", req.hospital_id.c_str());
      natsMsgHeader_Set(m, "Vigil-Node", link.node_id.c_str());
      // Whether the alert is open after this event: a restarting node reads it (headers only)
      // to start the hospitals whose escalation and failsafe timers must run.
      natsMsgHeader_Set(m, "Vigil-Open", w.next.status == alert_status::resolved ? "0" : "1");
      return m;
    };
    auto& c = counters::get();
    natsStatus s = NATS_OK;
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    for (int attempt = 1;; ++attempt) {
      // "The write after seq `expected` of this hospital": of two nodes writing on the same
      // view, JetStream keeps the first.
      auto t0 = std::chrono::steady_clock::now();
      auto* m = make_msg();
      s = publish_after(link.js_, m, subject, expected, false, publish_wait_ms, &ack, &code);
      natsMsg_Destroy(m);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - t0).count();
      c.storage_commits++;
      c.storage_commit_items++;
      c.storage_commit_us_total += static_cast<uint64_t>(us);
      c.storage_commit.observe_us(us);
      bool lost = s == NATS_OK ? ack->Duplicate : code == JSStreamWrongLastSequenceErr;
      if (!lost || attempt >= place_attempts || std::chrono::steady_clock::now() >= place_until)
        break;
      // Another node wrote first. When it did not write this alert (or this create's key)
      // since the view the write was validated on, the write is as valid after it: take the
      // next place here, without a round through the hospital, which could lose again and
      // again while other nodes write.
      std::string err;
      auto last = link.last_subject_seq(subject, &err, placement_budget_ms);
      if (!last
          || !still_valid(link, req.hospital_id, w, req.expected_last_seq, *last, wait_until))
        break;
      if (ack != nullptr) {
        jsPubAck_Destroy(ack);
        ack = nullptr;
      }
      log::debug("cluster_write_placed_again", {{"hospital", req.hospital_id},
                                                {"alert", w.next.id}, {"expected", expected},
                                                {"last", *last}});
      expected = *last;
    }
    if (s != NATS_OK) {
      failed.mark(alert_id);
      std::string err;
      log::debug("cluster_write_refused", {{"hospital", req.hospital_id}, {"alert", w.next.id},
                                           {"expected", expected}, {"chained", req.chained},
                                           {"code", static_cast<int>(code)}});
      if (code == JSStreamWrongLastSequenceErr) {
        reply->conflict = true;
        // Where the hospital catches up to (0 when JetStream does not say within a second:
        // then it validates again at once, and the publish decides).
        reply->stream_last_seq =
          link.last_subject_seq(subject, &err, placement_budget_ms).value_or(0);
        reply->error = "another node wrote first";
      } else {
        c.storage_commit_failures++;
        reply->error = status_text(s, code);
        st.stream_ok = false; // the next write probes first
        st.probed_at = {};
        log::error("cluster_publish_failed", {{"hospital", req.hospital_id},
                                              {"error", reply->error}});
      }
      reply->events.clear();
      return reply;
    }
    uint64_t seq = ack->Sequence;
    bool duplicate = ack->Duplicate;
    jsPubAck_Destroy(ack);
    log::debug("cluster_write", {{"hospital", req.hospital_id}, {"alert", w.next.id},
                                 {"expected", expected}, {"chained", req.chained},
                                 {"seq", seq}, {"duplicate", duplicate}});
    if (duplicate) {
      // Another node's write took this place (seq): catch up to it and validate again.
      failed.mark(alert_id);
      reply->conflict = true;
      reply->stream_last_seq = seq;
      reply->error = "another node wrote first";
      raise_last_seq(*st.rt, seq);
      return reply;
    }
    own_last = std::max(own_last, seq);
    note_acknowledged(*link.foreign_of(req.hospital_id), seq);
    expected = seq;
    st.stream_ok = true;
    raise_last_seq(*st.rt, seq);
    // The action's audit record, before the reply: a change a client is told about is in the
    // trail. (Two streams, so not one transaction: if this fails the event stays stored.)
    if (w.audit) {
      std::string err;
      // Within what is left of write_budget_ms (at least 1 s): while the NATS servers elect
      // a leader the event's publish may have waited its 5 s already, and a reply after 10 s
      // is one the client has given up on.
      auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - commit_start).count();
      auto budget = std::max<int64_t>(audit_min_budget_ms, write_budget_ms - spent);
      if (!link.audit->append({*w.audit}, &err, budget))
        log::error("audit_records_dropped", {{"records", 1}, {"hospital", req.hospital_id},
                                             {"alert", w.next.id}, {"reason", err}});
    }
    // The hospital publishes the event when its follower delivers it; the reply only says where.
    reply->events.push_back(make_encoded_event(seq, format_event_id(st.link->epoch, seq),
                                               w.event.type, w.event.alert_id,
                                               w.event.urgency_level, w.event.alert_type, {},
                                               {}));
    reply->last_seq = seq;
  }
  reply->ok = true;
  return reply;
}

/// A hospital's snapshot: the newest state of each alert and the recent idempotency records,
/// read from its subject.
hospital_snapshot_ptr load_snapshot(js_self self, const std::string& hospital) {
  auto& st = self->state;
  auto snap = std::make_shared<hospital_snapshot>();
  snap->hospital_id = hospital;
  auto subject = hospital_subject(hospital);
  std::string err;
  auto last = st.link->last_subject_seq(subject, &err);
  if (!last) {
    snap->error = err;
    return snap;
  }
  std::unordered_map<std::string, size_t> at;
  auto cutoff = st.rt->now() - idempotency_window_ms;
  bool ok = st.link->read_range(subject, 0, *last, SIZE_MAX, [&](uint64_t seq, natsMsg* m) {
    std::string e;
    auto ev = decode_body(st.link->epoch, seq, natsMsg_GetData(m), natsMsg_GetDataLength(m), &e);
    if (!ev) {
      log::error("cluster_event_unreadable", {{"seq", seq}, {"error", e}});
      return false;
    }
    auto i = at.find(ev->next.id);
    if (i == at.end()) {
      at.emplace(ev->next.id, snap->alerts.size());
      snap->alerts.push_back(ev->next);
    } else {
      snap->alerts[i->second] = ev->next;
    }
    if (ev->idempotency_key && ev->timestamp >= cutoff)
      snap->idempotency[*ev->idempotency_key] = {ev->idempotency_reply, ev->timestamp};
    return true;
  }, &err);
  if (!ok) {
    snap->error = err;
    return snap;
  }
  snap->last_seq_of_hospital = *last;
  // The stream has at least this seq: a resume with an id up to it is valid here even while the
  // alert-index follower lags (after a NATS server died, for instance).
  raise_last_seq(*st.rt, *last);
  return snap;
}

event_page_ptr read_page(js_self self, const read_request& req) {
  auto& st = self->state;
  auto page = std::make_shared<event_page>();
  auto hospital = req.hospital_id;
  if (hospital.empty() && !req.alert_id.empty())
    hospital = st.rt->alerts.hospital_of(req.alert_id).value_or("");
  if (hospital.empty())
    return page;
  auto subject = hospital_subject(hospital);
  std::string err;
  auto last = st.link->last_subject_seq(subject, &err);
  if (!last) {
    page->error = err;
    return page;
  }
  raise_last_seq(*st.rt, *last);
  st.link->read_range(subject, req.after_seq, *last, req.limit, [&](uint64_t seq, natsMsg* m) {
    std::string e;
    auto ev = decode_body(st.link->epoch, seq, natsMsg_GetData(m), natsMsg_GetDataLength(m), &e);
    if (!ev || (!req.alert_id.empty() && ev->event->alert_id != req.alert_id))
      return false;
    page->events.push_back(ev->event);
    return true;
  }, &err);
  if (!err.empty())
    log::error("cluster_read_failed", {{"hospital", hospital}, {"after", req.after_seq},
                                       {"read", page->events.size()}, {"error", err}});
  page->error = err;
  return page;
}

/// Follows `subject` of the event stream (jetstream_common follow); the link owns the consumer.
bool subscribe(jetstream_link& link, const std::string& subject, uint64_t after_seq,
               bool headers_only, natsMsgHandler cb, void* closure, std::string* error) {
  auto* sub = follow(link.js_, link.stream, subject, after_seq, headers_only, cb, closure,
                     consumer_wait_ms, error);
  if (sub == nullptr)
    return false;
  link.subs_.push_back(sub);
  return true;
}

/// The follows' actor: consumers are made here, not on the store's thread: making one waits
/// for JetStream (seconds while the NATS cluster elects a stream leader), and commits must not
/// wait behind it.
struct follows_state {
  static inline const char* name = "vigil.jetstream-follows";
  runtime_ptr rt;
  jetstream_link_ptr link;
};

jetstream_follow_actor::behavior_type
follows_behavior(jetstream_follow_actor::stateful_pointer<follows_state> self, runtime_ptr rt,
                 jetstream_link_ptr link) {
  self->state.rt = std::move(rt);
  self->state.link = std::move(link);
  self->state.link->index.rt = self->state.rt.get();
  self->send(self, follow_atom::value);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    self->state.link.reset();
    self->quit(msg.reason);
  });
  return {
    [=](follow_atom) {
      // Without the index, calls naming an alert of a hospital not hosted here are NOT_FOUND
      // and a restart starts no hospital: try again until a consumer is made (its creation
      // times out while the JetStream cluster elects a stream leader, for instance).
      auto& link = *self->state.link;
      std::string err;
      if (subscribe(link, "vigil.events.>", 0, true, on_index_msg, &link.index, &err))
        return;
      log::error("cluster_index_follow_failed", {{"error", err}, {"retry_ms", follow_retry_ms}});
      self->delayed_send(self, std::chrono::milliseconds(follow_retry_ms), follow_atom::value);
    },
    [=](follow_atom, const std::string& hospital, const hospital_actor& h, uint64_t after) {
      auto& st = self->state;
      // Owned by the link: freed after its subscriptions are destroyed.
      static std::mutex mu;
      static std::vector<std::unique_ptr<follower>> followers;
      std::unique_lock<std::mutex> g{mu};
      auto fw = st.link->foreign_of(hospital);
      followers.push_back(
        std::make_unique<follower>(follower{h, st.link->epoch, st.rt, fw, st.link->node_id}));
      std::string err;
      if (subscribe(*st.link, hospital_subject(hospital), after, false, on_follow_msg,
                    followers.back().get(), &err)) {
        std::lock_guard<std::mutex> fg{fw->mu};
        if (!fw->followed) {
          fw->followed = true;
          fw->from = after;
          fw->delivered = std::max(fw->delivered, after);
          // Acknowledged before the follow's start: never delivered.
          for (auto i = fw->own_acked.begin(); i != fw->own_acked.end();)
            i = *i <= after ? fw->own_acked.erase(i) : std::next(i);
        }
      } else {
        // Without its follower the hospital would never see another event: try again (from
        // the same seq, so nothing is skipped) until a consumer is made.
        followers.pop_back();
        log::error("cluster_follow_failed", {{"hospital", hospital}, {"error", err}});
        self->delayed_send(self, std::chrono::milliseconds(follow_retry_ms), follow_atom::value,
                           hospital, h, after);
      }
    },
  };
}

jetstream_actor::behavior_type jetstream_behavior(js_self self, runtime_ptr rt,
                                                 jetstream_link_ptr link) {
  self->state.rt = std::move(rt);
  self->state.link = std::move(link);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    self->state.link.reset();
    self->quit(msg.reason);
  });
  return {
    [=](commit_atom, const commit_request_ptr& req) { return commit(self, *req); },
    [=](flush_atom) {},
    // Retention is the stream's MaxAge (retention.days): JetStream prunes.
    [=](prune_atom) {},
    [=](load_atom, const std::string& hospital) { return load_snapshot(self, hospital); },
    [=](read_atom, const read_request_ptr& req) { return read_page(self, *req); },
    // Lazy loading reads SQLite's alerts table; a cluster hospital keeps every alert in memory
    // (hospital_state::trim_window), so this answers only a query sent by mistake.
    [=](const alert_query_ptr&) {
      auto rows = std::make_shared<alert_rows>();
      rows->ok = false;
      rows->error = "not supported with storage.engine = jetstream";
      return alert_rows_ptr{rows};
    },
    // The audit trail: its own stream, one global chain (actors/jetstream_audit.hpp).
    [=](audit_atom, const audit_records_ptr& records) {
      std::string err;
      if (!self->state.link->audit->append(*records, &err))
        log::error("audit_records_dropped", {{"records", records->size()}, {"reason", err}});
    },
    [=](audit_page_atom, const audit_page_request_ptr& req) {
      auto page = self->state.link->audit->page(*req);
      if (!page->error.empty())
        log::error("audit_read_failed", {{"error", page->error}});
      return page;
    },
    [=](status_atom) {
      auto& st = self->state;
      storage_status s;
      s.writer = true;
      // Ready only while JetStream can store (a quorum of NATS servers and a stream leader).
      s.ok = st.link && stream_available(st);
      s.last_seq = st.rt->last_seq.load();
      return s;
    },
  };
}

} // namespace

namespace {

void on_presence_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  static_cast<cluster_presence*>(closure)->receive(
    std::string_view(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))));
  natsMsg_Destroy(m);
}

} // namespace

cluster_presence_ptr start_cluster_presence(const jetstream_link_ptr& link) {
  auto subject = "vigil.presence." + link->stream;
  natsConnection* nc = link->nc_;
  auto send = [nc, subject](const std::string& m) {
    // At most once: a lost message is healed by the next beat.
    natsConnection_Publish(nc, subject.c_str(), m.data(), static_cast<int>(m.size()));
  };
  auto p = std::make_shared<cluster_presence>(random_epoch() + random_epoch(), send, [] {
    return steady_now_us() / 1000;
  });
  natsSubscription* sub = nullptr;
  auto s = natsConnection_Subscribe(&sub, nc, subject.c_str(), on_presence_msg, p.get());
  if (s != NATS_OK) {
    log::error("cluster_presence_failed", {{"subject", subject}, {"error", status_text(s)}});
    return nullptr;
  }
  // The link (its connection) lives as long as the subscription.
  p->on_close = [sub, link] {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  };
  p->start();
  return p;
}

jetstream_actors spawn_jetstream_store(caf::actor_system& sys, runtime_ptr rt,
                                       jetstream_link_ptr link) {
  jetstream_actors out;
  out.follows = sys.spawn<caf::detached>(follows_behavior, rt, link);
  out.store = sys.spawn<caf::detached>(jetstream_behavior, std::move(rt), std::move(link));
  // The follows end with the store.
  out.store->attach_functor([follows = out.follows] {
    caf::anon_send_exit(follows, caf::exit_reason::user_shutdown);
  });
  return out;
}

restore_plan cluster_restore_plan(jetstream_link& link) {
  restore_plan plan;
  std::lock_guard<std::mutex> g{link.index.open_mu};
  std::unordered_map<std::string, size_t> seen;
  for (auto& [alert_id, hospital] : link.index.open_alerts) {
    ++plan.timers;
    if (seen.emplace(hospital, plan.hospitals.size()).second) {
      plan.hospitals.push_back(hospital);
      // The stream's headers carry no deadlines: 1 (long past) loads the hospital at once.
      plan.deadlines.push_back(1);
    }
  }
  return plan;
}

bool wait_for_alert_index(const jetstream_link& link, uint64_t seq, int64_t wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (link.index.seq.load() < seq) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::optional<std::string> lookup_after_catching_up(const jetstream_link& link,
                                                    const alert_index& index,
                                                    const std::string& alert_id,
                                                    int64_t wait_ms) {
  auto t0 = std::chrono::steady_clock::now();
  if (natsConnection_Status(link.nc_) != NATS_CONN_STATUS_CONNECTED)
    return std::nullopt;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  auto o = link.options();
  o.Wait = wait_ms;
  if (js_GetStreamInfo(&si, link.js_, link.stream.c_str(), &o, &code) != NATS_OK)
    return std::nullopt;
  uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0).count();
  wait_for_alert_index(link, last, std::max<int64_t>(wait_ms - spent, 0));
  return index.held(alert_id);
}

} // namespace vigil

#include "actors/jetstream_audit.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "actors/jetstream_common.hpp"
#include "domain/json.hpp"
#include "domain/log.hpp"

namespace vigil {

namespace {

/// A page waits at most this long for the index to read the records stored before the call.
constexpr int64_t index_wait_ms = 2000;
/// Appending one record gives up after losing the race to other nodes this often.
constexpr int max_append_attempts = 8;

void on_audit_index(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  auto* ix = static_cast<jetstream_audit::index*>(closure);
  auto seq = stream_seq_of(m);
  const char* hospital = nullptr;
  if (seq != 0) { // else a status message (heartbeat, flow control)
    std::lock_guard<std::mutex> g{ix->mu};
    if (natsMsgHeader_Get(m, "Vigil-Hospital", &hospital) == NATS_OK && hospital != nullptr
        && seq > ix->seq)
      ix->by_hospital[hospital].push_back(seq);
    ix->seq = std::max(ix->seq, seq);
  }
  natsMsg_Destroy(m);
  if (seq != 0)
    ix->grew.notify_all();
}

/// The record a message holds (the message is destroyed).
std::optional<audit_record> record_of(natsMsg* m) {
  std::string err;
  auto v = json::parse(std::string_view(natsMsg_GetData(m),
                                        static_cast<size_t>(natsMsg_GetDataLength(m))), &err);
  natsMsg_Destroy(m);
  return v ? audit_from_json(*v) : std::nullopt;
}

} // namespace

jsOptions jetstream_audit::options() const {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = wait_ms_;
  return o;
}

std::unique_ptr<jetstream_audit> jetstream_audit::open(jsCtx* js, const std::string& stream,
                                                      int replicas, int retention_days,
                                                      int64_t wait_ms, std::string* error) {
  std::unique_ptr<jetstream_audit> a{new jetstream_audit()};
  a->js_ = js;
  a->stream_ = stream + "_AUDIT";
  a->subject_ = "vigil.audit." + stream;
  a->last_hash_ = audit_genesis_hash;
  const char* subjects[] = {a->subject_.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = a->stream_.c_str();
  sc.Description = "vigil audit trail";
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = replicas;
  sc.MaxAge = static_cast<int64_t>(retention_days) * 86400LL * 1000000000LL;
  sc.Duplicates = 2LL * 60 * 1000000000LL;
  // A record is never removed but by its age: removing one must not be possible from a client.
  sc.DenyDelete = true;
  sc.DenyPurge = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  auto* si = find_or_create_stream(js, sc, jetstream_audit::default_wait_ms, deadline, error);
  if (si == nullptr)
    return nullptr;
  jsStreamInfo_Destroy(si);
  // The newest record, and the follower that indexes them (both retried while JetStream elects
  // the new stream's leader).
  std::string err;
  for (;;) {
    if (a->read_head(&err)) {
      a->sub_ = follow(js, a->stream_, a->subject_, 0, true, on_audit_index, &a->index_,
                       jetstream_audit::default_wait_ms, &err);
      if (a->sub_ != nullptr)
        break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      *error = "cannot read or follow the audit stream " + a->stream_ + ": " + err;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return a;
}

jetstream_audit::~jetstream_audit() {
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
}

bool jetstream_audit::read_head(std::string* error) {
  natsMsg* m = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  auto o = options();
  auto s = js_GetLastMsg(&m, js_, stream_.c_str(), subject_.c_str(), &o, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
    // Empty, or every record aged out (MaxAge): the chain starts again from the genesis hash,
    // its seqs going on from the stream's (a record's seq is its message's sequence).
    jsStreamInfo* si = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&si, js_, stream_.c_str(), &o, &code);
    if (s != NATS_OK) {
      *error = "reading the audit stream: " + status_text(s, code);
      return false;
    }
    last_seq_ = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    last_hash_ = audit_genesis_hash;
    return true;
  }
  if (s != NATS_OK) {
    *error = "reading the newest audit record: " + status_text(s, code);
    return false;
  }
  auto r = record_of(m);
  if (!r) {
    *error = "the newest audit record is unreadable";
    return false;
  }
  last_seq_ = r->seq;
  last_hash_ = r->hash;
  return true;
}

std::optional<audit_record> jetstream_audit::get(uint64_t seq, std::string* error,
                                                 bool* missing) {
  natsMsg* m = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  auto o = options();
  auto s = js_GetMsg(&m, js_, stream_.c_str(), seq, &o, &code);
  if (missing != nullptr)
    *missing = s == NATS_NOT_FOUND || code == JSNoMessageFoundErr;
  if (s != NATS_OK) {
    *error = "reading audit record " + std::to_string(seq) + ": " + status_text(s, code);
    return std::nullopt;
  }
  auto r = record_of(m);
  if (!r)
    *error = "audit record " + std::to_string(seq) + " is unreadable";
  return r;
}

bool jetstream_audit::append(std::vector<audit_record> records, std::string* error,
                             int64_t budget_ms) {
  // Each NATS request below waits what is left of the budget (at least min_wait_ms).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  struct wait_within {
    jetstream_audit& a;
    std::chrono::steady_clock::time_point deadline;
    void next() {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
      a.wait_ms_ = std::max<int64_t>(min_wait_ms, std::min<int64_t>(left, default_wait_ms));
    }
    ~wait_within() { a.wait_ms_ = default_wait_ms; }
  } waits{*this, deadline};
  waits.next();
  if (head_stale_) {
    if (!read_head(error))
      return false;
    head_stale_ = false;
  }
  for (auto& rec : records) {
    bool stored = false;
    for (int attempt = 0; attempt < max_append_attempts && !stored; ++attempt) {
      waits.next();
      auto r = rec;
      r.seq = last_seq_ + 1;
      audit_seal(r, last_hash_);
      auto body = json::to_string(to_json(r));
      natsMsg* m = nullptr;
      natsMsg_Create(&m, subject_.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
      if (!r.hospital_id.empty())
        natsMsgHeader_Set(m, "Vigil-Hospital", r.hospital_id.c_str());
      // "The record after seq N": of two nodes sealing onto the same record, JetStream keeps
      // the first. Stream-wide: after every record aged out the subject has none, the stream
      // still its last sequence.
      jsPubAck* ack = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      auto s = publish_after(js_, m, subject_, last_seq_, true, wait_ms_, &ack, &code);
      natsMsg_Destroy(m);
      if (s == NATS_OK) {
        uint64_t seq = ack->Sequence;
        bool duplicate = ack->Duplicate;
        jsPubAck_Destroy(ack);
        if (duplicate) {
          // Either this very record (an earlier attempt whose answer was lost) or another
          // node's: only the hash tells.
          std::string err;
          waits.next();
          auto there = get(seq, &err);
          if (there && there->hash == r.hash) {
            stored = true;
          } else if (waits.next(), !read_head(error)) {
            return false;
          }
        } else {
          stored = true;
        }
        if (stored) {
          last_seq_ = r.seq;
          last_hash_ = r.hash;
        }
        continue;
      }
      if (code == JSStreamWrongLastSequenceErr) {
        waits.next();
        if (!read_head(error)) // another node appended first: seal onto its record
          return false;
        continue;
      }
      // It may be stored after all (a lost answer): the next append starts from the stream.
      // Read then, not now: a mutation's reply waits for this append, and while the stream has
      // no leader a read would wait as long again (a write once took 10 s after a kill -9).
      head_stale_ = true;
      *error = "storing an audit record: " + status_text(s, code);
      return false;
    }
    if (!stored) {
      *error = "storing an audit record: other nodes kept appending first";
      return false;
    }
  }
  return true;
}

audit_page_ptr jetstream_audit::page(const audit_page_request& req) {
  auto page = std::make_shared<audit_page>();
  // Read your writes: every record stored before the call (this node's and, as far as the
  // stream's newest record says, every other node's) is in the index first.
  std::string err;
  read_head(&err);
  std::vector<uint64_t> seqs;
  {
    std::unique_lock<std::mutex> g{index_.mu};
    if (!index_.grew.wait_for(g, std::chrono::milliseconds(index_wait_ms),
                              [&] { return index_.seq >= last_seq_; }))
      log::warn("cluster_audit_index_behind", {{"indexed", index_.seq}, {"last", last_seq_}});
    auto i = index_.by_hospital.find(req.hospital_id);
    if (i != index_.by_hospital.end()) {
      auto& all = i->second;
      auto end = std::lower_bound(all.begin(), all.end(), req.before_seq);
      for (auto it = end; it != all.begin() && seqs.size() < req.limit;)
        seqs.push_back(*--it);
    }
  }
  for (auto seq : seqs) {
    bool missing = false;
    auto r = get(seq, &page->error, &missing);
    if (!r) {
      if (missing) { // aged out meanwhile (MaxAge)
        page->error.clear();
        continue;
      }
      page->records.clear();
      return page;
    }
    page->records.push_back(std::move(*r));
  }
  return page;
}

} // namespace vigil

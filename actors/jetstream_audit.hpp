#pragma once
// The audit trail of a cluster node (storage.engine = jetstream; docs/operations.md "Running a
// cluster"). One JetStream stream, <cluster.stream>_AUDIT with the one subject
// vigil.audit.<cluster.stream>, holds one message per record (its JSON; header Vigil-Hospital),
// so the message's sequence is the record's seq. The chain is global, as on SQLite: a record is
// published expecting the newest record this node knows as the last one, with seq = its seq + 1
// and prev_hash = its hash; when another node appended first, this node reads the newest record
// and seals again. Each node follows the stream (headers only) to know the records of each
// hospital, and reads a getAuditLog page record by record (one direct get each).
//
// Not thread-safe: the JetStream store's thread calls it; the follower fills its index from
// libnats's thread.

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/messages.hpp"
#include "domain/audit.hpp"

namespace vigil {

class jetstream_audit {
public:
  /// Finds or creates the audit stream (retrying while JetStream elects leaders, at most
  /// `wait_ms`), reads its newest record and follows it. nullptr with `*error` when it cannot.
  static std::unique_ptr<jetstream_audit> open(jsCtx* js, const std::string& stream,
                                               int replicas, int retention_days,
                                               int64_t wait_ms, std::string* error);
  ~jetstream_audit();
  jetstream_audit(const jetstream_audit&) = delete;
  jetstream_audit& operator=(const jetstream_audit&) = delete;

  /// Seals and stores `records` in order, each chained onto the stream's newest record. false
  /// with `*error` at the first that could not be stored (those before it are). Every read and
  /// publish of it waits within `budget_ms` in all (at least min_wait_ms each).
  bool append(std::vector<audit_record> records, std::string* error,
              int64_t budget_ms = default_wait_ms);
  /// How long a publish or a read waits for JetStream, unless an append's budget says less.
  static constexpr int64_t default_wait_ms = 5000;
  static constexpr int64_t min_wait_ms = 200;
  /// One hospital's records with seq < req.before_seq, newest first, at most req.limit, after
  /// the index has read every record stored before the call (at most index_wait_ms).
  audit_page_ptr page(const audit_page_request& req);

  /// The index of the records per hospital, filled by the follower.
  struct index {
    std::mutex mu;
    std::condition_variable grew;
    std::unordered_map<std::string, std::vector<uint64_t>> by_hospital;
    uint64_t seq = 0; // the newest record read
  };

private:
  jetstream_audit() = default;
  /// Reads the newest record into last_seq_ / last_hash_ (the genesis when there is none).
  bool read_head(std::string* error);
  /// The record at `seq`; `*missing` says it is not in the stream (aged out).
  std::optional<audit_record> get(uint64_t seq, std::string* error, bool* missing = nullptr);
  jsOptions options() const;

  /// What options() waits: default_wait_ms, or what is left of an append's budget.
  int64_t wait_ms_ = default_wait_ms;
  jsCtx* js_ = nullptr;
  std::string stream_;
  std::string subject_;
  uint64_t last_seq_ = 0;
  std::string last_hash_;
  /// An append's answer was lost (timeout, no leader): the record may be stored, so the next
  /// append reads the newest record first. Not read at once: the caller waits for this append.
  bool head_stale_ = false;
  natsSubscription* sub_ = nullptr;
  index index_;
};

} // namespace vigil

#pragma once
// The audit trail's table (schema version 4) on the event store's connection: appends sealed,
// hash-chained records inside the event store's write transactions, reads pages, prunes a prefix
// of the chain (keeping an anchor), and hands `vigilctl audit --verify` the chain.
// docs/operations.md "Audit trail".

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/audit.hpp"

struct sqlite3;

namespace vigil::storage {

/// Where verification starts and where it must end.
struct audit_bounds {
  uint64_t anchor_seq = 0;        // the last pruned record (0: nothing pruned)
  std::string anchor_hash;        // its hash (the genesis hash when nothing was pruned)
  uint64_t last_seq = 0;          // the writer's high-water mark
};

/// The outcome of walking the whole chain.
struct audit_verify_report {
  audit_bounds bounds;                  // where the walk started and had to end
  uint64_t checked = 0;                 // records that verified
  std::string head_hash;                // hash of the last verified record (or the anchor's)
  std::optional<audit_problem> problem; // the first broken record
  std::string error;                    // reading failed (then nothing is claimed)
  bool ok() const { return error.empty() && !problem; }
};

/// Used by the event store only from its own thread; every call runs on the store's connection.
class audit_store {
public:
  /// Prepares the statements and reads the chain's head. nullptr with *error on failure.
  static std::unique_ptr<audit_store> open(sqlite3* db, std::string* error);
  ~audit_store();

  /// Inside the caller's open write transaction: gives each record the next seq, seals it onto
  /// the chain (prev_hash, hash) and inserts it, then stores the high-water mark. The in-memory
  /// head moves only with committed(); after a rollback call rolled_back().
  bool append(std::vector<audit_record>& records, std::string* error);
  void committed();
  void rolled_back();

  /// Newest seq on the chain (0 when none was ever written).
  uint64_t last_seq() const { return head_seq_; }
  const std::string& last_hash() const { return head_hash_; }

  /// Records (any hospital) with seq > after_seq, oldest first, at most `limit`.
  std::vector<audit_record> after(uint64_t after_seq, size_t limit, std::string* error);
  /// A hospital's records with seq < before_seq, newest first, at most `limit`.
  std::vector<audit_record> hospital_page(const std::string& hospital_id, uint64_t before_seq,
                                          size_t limit, std::string* error);
  /// The anchor and the high-water mark, as stored.
  bool bounds(audit_bounds* out, std::string* error);

  /// Walks the chain from the anchor to the high-water mark in one read transaction (one
  /// consistent snapshot, even while vigild writes and prunes), `page` records at a time.
  audit_verify_report verify(size_t page = 1000);

  /// Deletes up to `max_rows` of the oldest records whose time is before `before_ms`, stopping at
  /// the first newer one (so only a prefix of the chain goes), and stores the last deleted
  /// record as the anchor; in its own transaction. The number deleted; 0 with *error on failure.
  size_t prune(int64_t before_ms, size_t max_rows, std::string* error);

private:
  audit_store() = default;
  bool set_meta(const char* key, const std::string& value, std::string* error);
  struct statements;
  sqlite3* db_ = nullptr;
  std::unique_ptr<statements> st_;
  uint64_t head_seq_ = 0;
  std::string head_hash_;
  uint64_t pending_seq_ = 0;      // head after append(), until committed() / rolled_back()
  std::string pending_hash_;
};

} // namespace vigil::storage

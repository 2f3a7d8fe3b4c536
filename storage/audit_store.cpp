#include "storage/audit_store.hpp"

#include <sqlite3.h>

#include "storage/rows.hpp"
#include "storage/schema.hpp"
#include "storage/statement.hpp"

namespace vigil::storage {

struct audit_store::statements {
  statement insert, after, hospital_page, head, oldest, prune, get_meta, set_meta, begin, commit,
    rollback, begin_read;
};

namespace {

std::string sqlite_error(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db) + " (sqlite code " +
         std::to_string(sqlite3_extended_errcode(db)) + ")";
}

void set_error(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
}

bool bind_record(sqlite3_stmt* s, const audit_record& r) {
  return bind_int(s, 1, to_sql_int(r.seq)) && bind_int(s, 2, r.ts) && bind_text(s, 3, r.user_id) &&
         bind_text(s, 4, r.role) && bind_text(s, 5, r.hospital_id) && bind_text(s, 6, r.alert_id) &&
         bind_text(s, 7, r.action) && bind_text(s, 8, r.outcome) &&
         bind_int(s, 9, to_sql_int(r.conn_id)) && bind_text(s, 10, r.remote) &&
         bind_text(s, 11, r.prev_hash) && bind_text(s, 12, r.hash);
}

audit_record read_record(sqlite3_stmt* s) {
  audit_record r;
  r.seq = column_seq(s, 0);
  r.ts = sqlite3_column_int64(s, 1);
  r.user_id = column_text(s, 2);
  r.role = column_text(s, 3);
  r.hospital_id = column_text(s, 4);
  r.alert_id = column_text(s, 5);
  r.action = column_text(s, 6);
  r.outcome = column_text(s, 7);
  r.conn_id = column_seq(s, 8);
  r.remote = column_text(s, 9);
  r.prev_hash = column_text(s, 10);
  r.hash = column_text(s, 11);
  return r;
}

/// Steps a bound query to its end; false (and `out` cleared) on failure.
bool read_records(sqlite3_stmt* s, std::vector<audit_record>* out) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out->push_back(read_record(s));
  if (rc == SQLITE_DONE) return true;
  out->clear();
  return false;
}

} // namespace

std::unique_ptr<audit_store> audit_store::open(sqlite3* db, std::string* error) {
  std::unique_ptr<audit_store> a(new audit_store());
  a->db_ = db;
  a->st_ = std::make_unique<statements>();
  auto& st = *a->st_;
  const std::pair<statement*, const char*> all[] = {
      {&st.insert, sql::insert_audit},     {&st.after, sql::audit_after},
      {&st.hospital_page, sql::audit_of_hospital_before},
      {&st.head, sql::audit_head},         {&st.oldest, sql::audit_oldest},
      {&st.prune, sql::prune_audit},       {&st.get_meta, sql::get_meta},
      {&st.set_meta, sql::set_meta},       {&st.begin, sql::begin_immediate},
      {&st.commit, sql::commit},           {&st.rollback, sql::rollback},
      {&st.begin_read, "BEGIN"},
  };
  for (const auto& [stmt, text] : all) {
    if (!stmt->prepare(db, text)) {
      set_error(error, sqlite_error(db, std::string("prepare \"") + text + "\""));
      return nullptr;
    }
  }
  // The head: the newest record, else the anchor (everything pruned, or nothing written yet).
  audit_bounds b;
  if (!a->bounds(&b, error)) return nullptr;
  a->head_seq_ = b.anchor_seq;
  a->head_hash_ = b.anchor_hash;
  use_of u(st.head);
  const int rc = sqlite3_step(u.get());
  if (rc == SQLITE_ROW) {
    a->head_seq_ = column_seq(u.get(), 0);
    a->head_hash_ = column_text(u.get(), 1);
  } else if (rc != SQLITE_DONE) {
    set_error(error, sqlite_error(db, "read the audit head"));
    return nullptr;
  }
  // Seqs are never reused, even when the newest records were pruned.
  if (b.last_seq > a->head_seq_) a->head_seq_ = b.last_seq;
  a->pending_seq_ = a->head_seq_;
  a->pending_hash_ = a->head_hash_;
  return a;
}

audit_store::~audit_store() = default;

bool audit_store::append(std::vector<audit_record>& records, std::string* error) {
  if (records.empty()) return true;
  pending_seq_ = head_seq_;
  pending_hash_ = head_hash_;
  for (auto& r : records) {
    r.seq = ++pending_seq_;
    audit_seal(r, pending_hash_);
    pending_hash_ = r.hash;
    use_of u(st_->insert);
    if (!bind_record(u.get(), r) || !step_done(u.get())) {
      set_error(error, sqlite_error(db_, "insert audit record"));
      return false;
    }
  }
  return set_meta(meta_key::audit_last_seq, std::to_string(pending_seq_), error);
}

void audit_store::committed() {
  head_seq_ = pending_seq_;
  head_hash_ = pending_hash_;
}

void audit_store::rolled_back() {
  pending_seq_ = head_seq_;
  pending_hash_ = head_hash_;
}

bool audit_store::set_meta(const char* key, const std::string& value, std::string* error) {
  use_of u(st_->set_meta);
  if (bind_text(u.get(), 1, key) && bind_text(u.get(), 2, value) && step_done(u.get()))
    return true;
  set_error(error, sqlite_error(db_, std::string("store meta ") + key));
  return false;
}

std::vector<audit_record> audit_store::after(uint64_t after_seq, size_t limit,
                                             std::string* error) {
  std::vector<audit_record> out;
  use_of u(st_->after);
  if (!bind_int(u.get(), 1, to_sql_int(after_seq)) || !bind_int(u.get(), 2, to_sql_int(limit)) ||
      !read_records(u.get(), &out))
    set_error(error, sqlite_error(db_, "read audit records"));
  return out;
}

std::vector<audit_record> audit_store::hospital_page(const std::string& hospital_id,
                                                     uint64_t before_seq, size_t limit,
                                                     std::string* error) {
  std::vector<audit_record> out;
  use_of u(st_->hospital_page);
  if (!bind_text(u.get(), 1, hospital_id) || !bind_int(u.get(), 2, to_sql_int(before_seq)) ||
      !bind_int(u.get(), 3, to_sql_int(limit)) || !read_records(u.get(), &out))
    set_error(error, sqlite_error(db_, "read audit records"));
  return out;
}

bool audit_store::bounds(audit_bounds* out, std::string* error) {
  auto read = [&](const char* key, std::string* value) {
    use_of u(st_->get_meta);
    if (!bind_text(u.get(), 1, key)) return false;
    const int rc = sqlite3_step(u.get());
    if (rc == SQLITE_ROW) *value = column_text(u.get(), 0);
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
  };
  std::string anchor_seq = "0", anchor_hash = audit_genesis_hash, last_seq = "0";
  if (!read(meta_key::audit_anchor_seq, &anchor_seq) ||
      !read(meta_key::audit_anchor_hash, &anchor_hash) ||
      !read(meta_key::audit_last_seq, &last_seq)) {
    set_error(error, sqlite_error(db_, "read the audit anchor"));
    return false;
  }
  if (!parse_u64(anchor_seq, &out->anchor_seq) || !parse_u64(last_seq, &out->last_seq)) {
    set_error(error, "meta audit_anchor_seq or audit_last_seq is not a non-negative integer");
    return false;
  }
  out->anchor_hash = anchor_hash;
  return true;
}

audit_verify_report audit_store::verify(size_t page) {
  audit_verify_report report;
  {
    use_of u(st_->begin_read);
    if (!step_done(u.get())) {
      report.error = sqlite_error(db_, "verify audit: begin");
      return report;
    }
  }
  if (bounds(&report.bounds, &report.error)) {
    audit_chain_checker checker(report.bounds.anchor_seq, report.bounds.anchor_hash);
    uint64_t after = report.bounds.anchor_seq;
    while (!report.problem) {
      auto rows = this->after(after, page, &report.error);
      if (!report.error.empty()) break;
      for (const auto& r : rows)
        if ((report.problem = checker.check(r))) break;
      if (rows.size() < page) break;
      after = rows.back().seq;
    }
    if (report.error.empty() && !report.problem)
      report.problem = checker.finish(report.bounds.last_seq);
    report.checked = checker.checked();
    report.head_hash = checker.last_hash();
  }
  use_of u(st_->commit);
  sqlite3_step(u.get());
  return report;
}

size_t audit_store::prune(int64_t before_ms, size_t max_rows, std::string* error) {
  auto give_up = [&](const std::string& what) -> size_t {
    set_error(error, sqlite_error(db_, "prune audit: " + what));
    if (sqlite3_get_autocommit(db_) == 0) {
      use_of u(st_->rollback);
      sqlite3_step(u.get());
    }
    return 0;
  };
  {
    use_of u(st_->begin);
    if (!step_done(u.get())) return give_up("begin");
  }
  uint64_t last = 0;
  std::string last_hash;
  size_t count = 0;
  {
    use_of u(st_->oldest);
    if (!bind_int(u.get(), 1, to_sql_int(max_rows))) return give_up("bind");
    int rc;
    while ((rc = sqlite3_step(u.get())) == SQLITE_ROW) {
      if (sqlite3_column_int64(u.get(), 1) >= before_ms) break;
      last = column_seq(u.get(), 0);
      last_hash = column_text(u.get(), 2);
      ++count;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return give_up("read the oldest records");
  }
  if (count > 0) {
    use_of u(st_->prune);
    if (!bind_int(u.get(), 1, to_sql_int(last)) || !step_done(u.get()))
      return give_up("delete");
    std::string ignored;
    if (!set_meta(meta_key::audit_anchor_seq, std::to_string(last), &ignored) ||
        !set_meta(meta_key::audit_anchor_hash, last_hash, &ignored))
      return give_up("store the anchor");
  }
  use_of u(st_->commit);
  if (!step_done(u.get())) return give_up("commit");
  return count;
}

} // namespace vigil::storage

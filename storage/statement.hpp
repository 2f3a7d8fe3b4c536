#pragma once
// Prepared statements and binding helpers shared by the stores of one SQLite connection
// (event_store.cpp, audit_store.cpp). Internal to storage/.

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace vigil::storage {

/// A statement prepared once (SQLITE_PREPARE_PERSISTENT) and finalized with its owner.
class statement {
public:
  statement() = default;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  bool prepare(sqlite3* db, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) ==
           SQLITE_OK;
  }
  sqlite3_stmt* get() const { return stmt_; }

private:
  sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement and drops its bindings when a use of it ends (text is bound without a
/// copy, so no binding may outlive the strings it points to).
class use_of {
public:
  explicit use_of(const statement& s) : stmt_(s.get()) {}
  use_of(const use_of&) = delete;
  use_of& operator=(const use_of&) = delete;
  ~use_of() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  sqlite3_stmt* get() const { return stmt_; }

private:
  sqlite3_stmt* stmt_;
};

inline int64_t to_sql_int(uint64_t v) {
  constexpr auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min(v, max));
}

// Bind helpers return true on success so binds chain with &&.
inline bool bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  return sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8) ==
         SQLITE_OK;
}
// For string literals (meta keys): static storage, so no copy is needed either.
inline bool bind_text(sqlite3_stmt* s, int index, const char* text) {
  return sqlite3_bind_text64(s, index, text, std::strlen(text), SQLITE_STATIC, SQLITE_UTF8) ==
         SQLITE_OK;
}
inline bool bind_int(sqlite3_stmt* s, int index, int64_t value) {
  return sqlite3_bind_int64(s, index, value) == SQLITE_OK;
}
inline bool bind_null(sqlite3_stmt* s, int index) {
  return sqlite3_bind_null(s, index) == SQLITE_OK;
}

/// Runs a statement that returns no rows; false when it does not reach SQLITE_DONE.
inline bool step_done(sqlite3_stmt* s) { return sqlite3_step(s) == SQLITE_DONE; }

} // namespace vigil::storage

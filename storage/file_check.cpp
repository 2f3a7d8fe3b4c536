#include "storage/file_check.hpp"

#include <sqlite3.h>

namespace vigil::storage {

std::string check_file(const std::string& path, const char* pragma) {
  sqlite3* db = nullptr;
  std::string problem;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    problem = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close_v2(db);
    return problem;
  }
  sqlite3_stmt* s = nullptr;
  const std::string sql = std::string("PRAGMA ") + pragma;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    problem = sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      std::string line = text != nullptr ? text : "";
      if (line != "ok")
        problem += (problem.empty() ? "" : "; ") + line;
    }
    if (rc != SQLITE_DONE)
      problem = sqlite3_errmsg(db);
  }
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return problem;
}

} // namespace vigil::storage

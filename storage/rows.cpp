// Reading rows of the event store's tables. See rows.hpp.

#include "storage/rows.hpp"

#include <sqlite3.h>

#include <charconv>
#include <system_error>

namespace vigil::storage {

std::string column_text(sqlite3_stmt* s, int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, index));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(s, index)));
}

uint64_t column_seq(sqlite3_stmt* s, int index) {
  const int64_t v = sqlite3_column_int64(s, index);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

stored_event read_event(sqlite3_stmt* s) {
  stored_event e;
  e.seq = column_seq(s, 0);
  e.hospital_id = column_text(s, 1);
  e.alert_id = column_text(s, 2);
  e.type = column_text(s, 3);
  e.ts = sqlite3_column_int64(s, 4);
  e.payload = column_text(s, 5);
  e.meta = column_text(s, 6);
  e.urgency_level = sqlite3_column_int(s, 7);  // NULL reads as 0
  e.alert_type = column_text(s, 8);
  return e;
}

alert_row read_alert(sqlite3_stmt* s) {
  alert_row a;
  a.id = column_text(s, 0);
  a.hospital_id = column_text(s, 1);
  a.status = column_text(s, 2);
  a.created_at = sqlite3_column_int64(s, 3);
  if (sqlite3_column_type(s, 4) != SQLITE_NULL) a.next_escalation_at = sqlite3_column_int64(s, 4);
  a.json = column_text(s, 5);
  return a;
}

bool parse_u64(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

} // namespace vigil::storage

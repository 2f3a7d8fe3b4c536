#pragma once
// Reading rows of the event store's tables: one reader per SELECT column list in schema.hpp
// (`VIGIL_EVENT_COLUMNS`, `VIGIL_ALERT_COLUMNS`), shared by the event store and the read-only
// snapshot of `vigilctl replay --verify`, so both read a row the same way.

#include <cstdint>
#include <string>

#include "storage/event_store.hpp"

namespace vigil::storage {

/// Column `index` as text ("" for NULL).
std::string column_text(sqlite3_stmt* s, int index);
/// Column `index` as a seq (negative values read as 0).
uint64_t column_seq(sqlite3_stmt* s, int index);

/// The current row of a statement selecting the event columns (events_after & co.).
stored_event read_event(sqlite3_stmt* s);
/// The current row of a statement selecting the alert columns (load_alerts & co.).
alert_row read_alert(sqlite3_stmt* s);

/// A meta value holding a non-negative decimal integer; false when `text` is not one.
bool parse_u64(const std::string& text, uint64_t* out);

} // namespace vigil::storage

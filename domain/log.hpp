#pragma once
// One line per event on stderr, logfmt (default) or JSON, filtered by level. Callers pass an
// event name and key/value fields; never pass tokens or alert free text.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<level> parse_level(std::string_view s);
const char* level_name(level l);
void set_level(level l);
level current_level();
inline bool enabled(level l) { return static_cast<int>(l) >= static_cast<int>(current_level()); }
void set_json(bool on);
/// Prefix every line with its syslog priority ("<3>" error, "<4>" warn, "<6>" info, "<7>" debug)
/// so that journald files it under the right priority.
void set_journal(bool on);
/// True when stderr is connected to the journal: $JOURNAL_STREAM ("device:inode", set by
/// systemd) names stderr itself, not a pipe or file a wrapper put in between.
bool stderr_is_journal();
/// The priority prefix of level `l` ("<6>" for info).
const char* journal_prefix(level l);

struct field {
  std::string_view key;
  std::string value;
  bool quoted_always = false;
  field(std::string_view k, std::string v) : key(k), value(std::move(v)), quoted_always(true) {}
  field(std::string_view k, const char* v) : key(k), value(v), quoted_always(true) {}
  field(std::string_view k, std::string_view v) : key(k), value(v), quoted_always(true) {}
  field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
  field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
  field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
  field(std::string_view k, double v);
  field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
};

void write(level l, std::string_view event, std::initializer_list<field> fields);

inline void debug(std::string_view e, std::initializer_list<field> f = {}) {
  if (enabled(level::debug)) write(level::debug, e, f);
}
inline void info(std::string_view e, std::initializer_list<field> f = {}) {
  if (enabled(level::info)) write(level::info, e, f);
}
inline void warn(std::string_view e, std::initializer_list<field> f = {}) {
  if (enabled(level::warn)) write(level::warn, e, f);
}
inline void error(std::string_view e, std::initializer_list<field> f = {}) {
  if (enabled(level::error)) write(level::error, e, f);
}

} // namespace vigil::log

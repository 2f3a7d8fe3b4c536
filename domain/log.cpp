#include "domain/log.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "domain/json.hpp"
#include "domain/time.hpp"

namespace vigil::log {

namespace {
std::atomic<int> g_level{static_cast<int>(level::info)};
std::atomic<bool> g_json{false};
std::atomic<bool> g_journal{false};
std::mutex g_mu;

bool needs_quotes(std::string_view v) {
  if (v.empty())
    return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  return false;
}
} // namespace

field::field(std::string_view k, double v) : key(k) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

std::optional<level> parse_level(std::string_view s) {
  if (s == "debug" || s == "trace")
    return level::debug;
  if (s == "info")
    return level::info;
  if (s == "warn" || s == "warning")
    return level::warn;
  if (s == "error")
    return level::error;
  return std::nullopt;
}

const char* level_name(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

void set_level(level l) { g_level = static_cast<int>(l); }
level current_level() { return static_cast<level>(g_level.load(std::memory_order_relaxed)); }
void set_json(bool on) { g_json = on; }
void set_journal(bool on) { g_journal = on; }

bool stderr_is_journal() {
  const char* v = std::getenv("JOURNAL_STREAM");
  if (v == nullptr) return false;
  uintmax_t dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(v, "%ju:%ju%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == dev && static_cast<uintmax_t>(st.st_ino) == ino;
}

const char* journal_prefix(level l) {
  switch (l) {
    case level::debug: return "<7>";
    case level::info: return "<6>";
    case level::warn: return "<4>";
    case level::error: return "<3>";
  }
  return "<6>";
}

void write(level l, std::string_view event, std::initializer_list<field> fields) {
  std::string line;
  line.reserve(128);
  auto ts = format_iso(now_ms());
  if (g_journal) line += journal_prefix(l);
  if (g_json) {
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += level_name(l);
    line += "\",\"event\":";
    json::write_string(line, event);
    for (auto& f : fields) {
      line += ',';
      json::write_string(line, f.key);
      line += ':';
      if (f.quoted_always)
        json::write_string(line, f.value);
      else
        line += f.value;
    }
    line += '}';
  } else {
    line += "ts=";
    line += ts;
    line += " level=";
    line += level_name(l);
    line += " event=";
    line += event;
    for (auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      if (needs_quotes(f.value))
        json::write_string(line, f.value);
      else
        line += f.value;
    }
  }
  line += '\n';
  std::lock_guard<std::mutex> g{g_mu};
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace vigil::log

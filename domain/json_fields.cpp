// Reading typed members of stored JSON objects. See json_fields.hpp.

#include "domain/json_fields.hpp"

#include <cmath>

#include "domain/time.hpp"

namespace vigil::json {

bool read_string(const value& v, std::string_view key, std::string& out) {
  const value* m = v.find(key);
  if (!m || !m->is_string()) return false;
  out = m->as_string();
  return true;
}

bool read_opt_string(const value& v, std::string_view key, std::optional<std::string>& out) {
  const value* m = v.find(key);
  if (!m || m->is_null()) {
    out.reset();
    return true;
  }
  if (!m->is_string()) return false;
  out = m->as_string();
  return true;
}

bool read_int(const value& v, std::string_view key, int& out) {
  const value* m = v.find(key);
  if (!m || !m->is_number()) return false;
  double d = m->as_double();
  if (std::floor(d) != d || d < -2147483648.0 || d > 2147483647.0) return false;
  out = static_cast<int>(m->as_int());
  return true;
}

bool read_time(const value& v, std::string_view key, int64_t& out) {
  const value* m = v.find(key);
  if (!m || !m->is_string()) return false;
  auto ms = parse_iso(m->as_string());
  if (!ms) return false;
  out = *ms;
  return true;
}

bool read_opt_time(const value& v, std::string_view key, std::optional<int64_t>& out) {
  const value* m = v.find(key);
  if (!m || m->is_null()) {
    out.reset();
    return true;
  }
  int64_t ms = 0;
  if (!read_time(v, key, ms)) return false;
  out = ms;
  return true;
}

} // namespace vigil::json

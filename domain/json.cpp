// JSON document model, simdjson-based parser and our own escaping writer (plain and superjson).

#include "domain/json.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <simdjson.h>

#include "domain/time.hpp"

namespace vigil::json {

// ---- value ---------------------------------------------------------------------------------------

value::value(bool b) : kind_(kind::boolean), b_(b) {}
value::value(int i) : kind_(kind::integer), i_(i) {}
value::value(int64_t i) : kind_(kind::integer), i_(i) {}

value::value(uint64_t i) {
  if (i <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    kind_ = kind::integer;
    i_ = static_cast<int64_t>(i);
  } else {
    kind_ = kind::number;
    d_ = static_cast<double>(i);
  }
}

value::value(double d) : kind_(kind::number), d_(d) {}

value::value(const char* s) {
  if (s != nullptr) {
    kind_ = kind::string;
    s_ = s;
  }
}

value::value(std::string s) : kind_(kind::string), s_(std::move(s)) {}
value::value(std::string_view s) : kind_(kind::string), s_(s) {}
value::value(array_t a) : kind_(kind::array), a_(std::make_unique<array_t>(std::move(a))) {}
value::value(object_t o) : kind_(kind::object), o_(std::make_unique<object_t>(std::move(o))) {}

value::value(const value& other)
    : kind_(other.kind_), date_(other.date_), b_(other.b_), i_(other.i_), d_(other.d_),
      s_(other.s_) {
  if (other.a_) a_ = std::make_unique<array_t>(*other.a_);
  if (other.o_) o_ = std::make_unique<object_t>(*other.o_);
}

value::value(value&& other) noexcept
    : kind_(other.kind_), date_(other.date_), b_(other.b_), i_(other.i_), d_(other.d_),
      s_(std::move(other.s_)), a_(std::move(other.a_)), o_(std::move(other.o_)) {
  // Leave the source a valid null rather than an array/object without storage.
  other.kind_ = kind::null;
  other.date_ = false;
}

value& value::operator=(const value& other) {
  if (this != &other) {
    value copy(other);
    *this = std::move(copy);
  }
  return *this;
}

value& value::operator=(value&& other) noexcept {
  if (this != &other) {
    kind_ = other.kind_;
    date_ = other.date_;
    b_ = other.b_;
    i_ = other.i_;
    d_ = other.d_;
    s_ = std::move(other.s_);
    a_ = std::move(other.a_);
    o_ = std::move(other.o_);
    other.kind_ = kind::null;
    other.date_ = false;
  }
  return *this;
}

value::~value() = default;

value value::make_array() { return value(array_t{}); }
value value::make_object() { return value(object_t{}); }

value value::date(int64_t ms) {
  value v(format_iso(ms));
  v.date_ = true;
  return v;
}

value value::date_or_null(const std::optional<int64_t>& ms) {
  return ms ? date(*ms) : value();
}

value value::string_or_null(const std::optional<std::string>& s) {
  return s ? value(*s) : value();
}

bool value::as_bool() const { return kind_ == kind::boolean && b_; }

int64_t value::as_int() const {
  if (kind_ == kind::integer) return i_;
  if (kind_ != kind::number || !std::isfinite(d_)) return 0;
  // Saturate instead of invoking undefined behaviour on out-of-range casts.
  if (d_ >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
  if (d_ <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d_);
}

double value::as_double() const {
  if (kind_ == kind::integer) return static_cast<double>(i_);
  if (kind_ == kind::number) return d_;
  return 0;
}

const std::string& value::as_string() const {
  static const std::string empty;
  return kind_ == kind::string ? s_ : empty;
}

const array_t& value::as_array() const {
  static const array_t empty;
  return kind_ == kind::array ? *a_ : empty;
}

array_t& value::as_array() {
  if (kind_ != kind::array) *this = make_array();
  return *a_;
}

const object_t& value::as_object() const {
  static const object_t empty;
  return kind_ == kind::object ? *o_ : empty;
}

object_t& value::as_object() {
  if (kind_ != kind::object) *this = make_object();
  return *o_;
}

const value* value::find(std::string_view key) const {
  if (kind_ != kind::object) return nullptr;
  for (const auto& m : *o_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

value* value::find(std::string_view key) {
  return const_cast<value*>(static_cast<const value*>(this)->find(key));
}

value& value::set(std::string key, value v) {
  if (kind_ != kind::object) *this = make_object();
  for (auto& m : *o_) {
    if (m.first == key) {
      m.second = std::move(v);
      return *this;
    }
  }
  o_->emplace_back(std::move(key), std::move(v));
  return *this;
}

bool value::erase(std::string_view key) {
  if (kind_ != kind::object) return false;
  for (auto it = o_->begin(); it != o_->end(); ++it) {
    if (it->first == key) {
      o_->erase(it);
      return true;
    }
  }
  return false;
}

value& value::push(value v) {
  if (kind_ != kind::array) *this = make_array();
  a_->push_back(std::move(v));
  return *this;
}

size_t value::size() const {
  if (kind_ == kind::array) return a_->size();
  if (kind_ == kind::object) return o_->size();
  return 0;
}

bool operator==(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.i_ == b.i_;
    return a.as_double() == b.as_double();
  }
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
  case value::kind::null: return true;
  case value::kind::boolean: return a.b_ == b.b_;
  case value::kind::string: return a.s_ == b.s_;
  case value::kind::array: return *a.a_ == *b.a_;
  case value::kind::object: {
    if (a.o_->size() != b.o_->size()) return false;
    for (const auto& m : *a.o_) {
      const value* other = b.find(m.first);
      if (other == nullptr || !(m.second == *other)) return false;
    }
    return true;
  }
  default: return false; // numbers handled above
  }
}

// ---- parse ---------------------------------------------------------------------------------------

namespace {

constexpr size_t max_nesting = 256;

simdjson::dom::parser* thread_parser() {
  // One parser per thread: it allocates on first use and is reused afterwards. Its own depth
  // limit (kept when it grows) only needs to be a little above ours: convert() enforces the exact one.
  thread_local simdjson::dom::parser parser;
  thread_local bool ready = false;
  if (!ready) {
    if (parser.allocate(64 * 1024, max_nesting + 2) != simdjson::SUCCESS) return nullptr;
    ready = true;
  }
  return &parser;
}

/// Gives duplicate keys JavaScript semantics: the last value wins, at the first key's position.
void dedupe_keys(object_t& members) {
  if (members.size() < 2) return;
  std::unordered_map<std::string_view, size_t> first_index;
  first_index.reserve(members.size());
  bool duplicates = false;
  for (size_t i = 0; i < members.size(); ++i) {
    auto inserted = first_index.emplace(members[i].first, i);
    if (!inserted.second) duplicates = true;
  }
  if (!duplicates) return;
  object_t unique;
  unique.reserve(first_index.size());
  std::unordered_map<std::string, size_t> position;
  for (auto& m : members) {
    auto it = position.find(m.first);
    if (it == position.end()) {
      position.emplace(m.first, unique.size());
      unique.push_back(std::move(m));
    } else {
      unique[it->second].second = std::move(m.second);
    }
  }
  members = std::move(unique);
}

/// Converts a DOM element; `depth` counts the arrays/objects enclosing `el`. Returns false when a
/// container would exceed max_nesting (simdjson treats empty containers specially, so the limit is
/// enforced here to make it exact).
bool convert(simdjson::dom::element el, size_t depth, value& out) {
  using simdjson::dom::element_type;
  switch (el.type()) {
  case element_type::ARRAY: {
    if (depth >= max_nesting) return false;
    array_t items;
    simdjson::dom::array arr = el.get_array().value_unsafe();
    items.reserve(arr.size());
    for (simdjson::dom::element child : arr) {
      items.emplace_back();
      if (!convert(child, depth + 1, items.back())) return false;
    }
    out = value(std::move(items));
    return true;
  }
  case element_type::OBJECT: {
    if (depth >= max_nesting) return false;
    object_t members;
    simdjson::dom::object obj = el.get_object().value_unsafe();
    members.reserve(obj.size());
    for (simdjson::dom::key_value_pair kv : obj) {
      members.emplace_back(std::string(kv.key), value());
      if (!convert(kv.value, depth + 1, members.back().second)) return false;
    }
    dedupe_keys(members);
    out = value(std::move(members));
    return true;
  }
  case element_type::INT64: out = value(el.get_int64().value_unsafe()); return true;
  case element_type::UINT64: out = value(el.get_uint64().value_unsafe()); return true;
  case element_type::DOUBLE: out = value(el.get_double().value_unsafe()); return true;
  case element_type::STRING: out = value(el.get_string().value_unsafe()); return true;
  case element_type::BOOL: out = value(el.get_bool().value_unsafe()); return true;
  case element_type::NULL_VALUE: out = value(); return true;
  }
  out = value();
  return true;
}

} // namespace

std::optional<value> parse(std::string_view text, std::string* error) {
  simdjson::dom::parser* parser = thread_parser();
  if (parser == nullptr) {
    if (error) *error = "JSON parser unavailable";
    return std::nullopt;
  }
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  static const char* const too_deep =
      "The JSON document was too deep (more than 256 nested objects and arrays)";
  simdjson::error_code code = parser->parse(padded).get(root);
  if (code != simdjson::SUCCESS) {
    if (error) *error = code == simdjson::DEPTH_ERROR ? too_deep : simdjson::error_message(code);
    return std::nullopt;
  }
  value out;
  if (!convert(root, 0, out)) {
    if (error) *error = too_deep;
    return std::nullopt;
  }
  return out;
}

// ---- write ---------------------------------------------------------------------------------------

namespace {

void write_integer(std::string& out, int64_t i) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

void write_double(std::string& out, double d) {
  // JSON has no NaN/Infinity; -0 is written as 0 like JSON.stringify does.
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == 0) {
    out += '0';
    return;
  }
  char buf[32];
  // Shortest round-trip form. A whole number of 2^63 or more in magnitude would come out as
  // plain digits that can exceed uint64 (1.8446744073709552e19 -> "18446744073709551616"),
  // which JSON parsers that read such text as an integer refuse, ours included: give it an
  // exponent so it reads back as the same double.
  const auto format = std::fabs(d) >= 9223372036854775808.0 ? std::chars_format::scientific
                                                             : std::chars_format::general;
  auto res = format == std::chars_format::general ? std::to_chars(buf, buf + sizeof buf, d)
                                                  : std::to_chars(buf, buf + sizeof buf, d, format);
  out.append(buf, res.ptr);
}

} // namespace

void write_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  size_t run_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  out.append(s.data() + run_start, s.size() - run_start);
  out += '"';
}

void write(std::string& out, const value& v) {
  switch (v.type()) {
  case value::kind::null: out += "null"; break;
  case value::kind::boolean: out += v.as_bool() ? "true" : "false"; break;
  case value::kind::integer: write_integer(out, v.as_int()); break;
  case value::kind::number: write_double(out, v.as_double()); break;
  case value::kind::string: write_string(out, v.as_string()); break;
  case value::kind::array: {
    out += '[';
    bool first = true;
    for (const auto& item : v.as_array()) {
      if (!first) out += ',';
      first = false;
      write(out, item);
    }
    out += ']';
    break;
  }
  case value::kind::object: {
    out += '{';
    bool first = true;
    for (const auto& m : v.as_object()) {
      if (!first) out += ',';
      first = false;
      write_string(out, m.first);
      out += ':';
      write(out, m.second);
    }
    out += '}';
    break;
  }
  }
}

std::string to_string(const value& v) {
  std::string out;
  write(out, v);
  return out;
}

// ---- superjson -----------------------------------------------------------------------------------

namespace {

/// Appends a path segment with superjson's escaping (`\` -> `\\`, `.` -> `\.`).
void append_segment(std::string& path, std::string_view key) {
  for (char c : key) {
    if (c == '\\' || c == '.') path += '\\';
    path += c;
  }
}

/// Appends `"<path>":["Date"]` for every date below `v` (document order); `path` is v's own path
/// (`root`: v is the document itself, so its children get no leading dot; keys may be empty).
void collect_dates(std::string& entries, std::string& path, const value& v, bool root) {
  const size_t base = path.size();
  auto descend = [&](const value& child, auto&& append_key) {
    if (!root) path += '.';
    append_key();
    collect_dates(entries, path, child, false);
    path.resize(base);
  };
  if (v.is_date()) {
    if (!entries.empty()) entries += ',';
    write_string(entries, path);
    entries += ":[\"Date\"]";
  } else if (v.is_array()) {
    const array_t& items = v.as_array();
    for (size_t i = 0; i < items.size(); ++i) {
      descend(items[i], [&] { path += std::to_string(i); });
    }
  } else if (v.is_object()) {
    for (const auto& m : v.as_object()) {
      descend(m.second, [&] { append_segment(path, m.first); });
    }
  }
}

} // namespace

void append_date_entries(std::string& entries, const value& v, std::string_view path) {
  std::string p(path);
  collect_dates(entries, p, v, path.empty());
}

bool write_meta(std::string& out, const value& v) {
  if (v.is_date()) {
    out += "{\"values\":[\"Date\"],\"v\":1}";
    return true;
  }
  std::string entries;
  std::string path;
  collect_dates(entries, path, v, true);
  if (entries.empty()) return false;
  out += "{\"values\":{";
  out += entries;
  out += "},\"v\":1}";
  return true;
}

void write_superjson(std::string& out, const value& v) {
  out += "{\"json\":";
  write(out, v);
  std::string meta;
  if (write_meta(meta, v)) {
    out += ",\"meta\":";
    out += meta;
  }
  out += '}';
}

void wrap_superjson(std::string& out, std::string_view plain, std::string_view meta) {
  out += "{\"json\":";
  out += plain;
  if (!meta.empty()) {
    out += ",\"meta\":";
    out += meta;
  }
  out += '}';
}

} // namespace vigil::json

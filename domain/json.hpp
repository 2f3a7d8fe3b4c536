#pragma once
// A small JSON document model used for inputs and outputs. Parsing is done by simdjson (DOM);
// writing is our own escaping writer. A string value may be flagged as a *date* (an ISO-8601
// timestamp): the superjson writer annotates every such value with ["Date"].

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace vigil::json {

class value;
using array_t = std::vector<value>;
using member_t = std::pair<std::string, value>;
using object_t = std::vector<member_t>;

/// A JSON value. Objects keep insertion order (output key order is the order of `set`).
class value {
public:
  enum class kind : uint8_t { null, boolean, integer, number, string, array, object };

  value() = default;
  value(std::nullptr_t) {}
  value(bool b);
  value(int i);
  value(int64_t i);
  value(uint64_t i);
  /// Any other integer type (`long long`, `unsigned`, `size_t`, …): stored like int64_t/uint64_t.
  template <typename T,
            typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, bool>::value,
                                    int>::type = 0>
  value(T i) : value(to_wide(i)) {}
  value(double d);
  value(const char* s);
  value(std::string s);
  value(std::string_view s);
  value(array_t a);
  value(object_t o);
  value(const value&);
  value(value&&) noexcept;
  value& operator=(const value&);
  value& operator=(value&&) noexcept;
  ~value();

  static value make_array();
  static value make_object();
  /// A timestamp (milliseconds since the epoch) written as ISO-8601 UTC with milliseconds and
  /// flagged as a date.
  static value date(int64_t ms);
  /// `date(*ms)` or null.
  static value date_or_null(const std::optional<int64_t>& ms);
  /// A string or null.
  static value string_or_null(const std::optional<std::string>& s);

  kind type() const { return kind_; }
  bool is_null() const { return kind_ == kind::null; }
  bool is_bool() const { return kind_ == kind::boolean; }
  /// True for integers (JSON numbers without fraction or exponent that fit int64).
  bool is_int() const { return kind_ == kind::integer; }
  /// True for any number, integer or not.
  bool is_number() const { return kind_ == kind::integer || kind_ == kind::number; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_array() const { return kind_ == kind::array; }
  bool is_object() const { return kind_ == kind::object; }
  bool is_date() const { return kind_ == kind::string && date_; }
  void set_date_flag(bool on) { date_ = on; }

  // Accessors on the wrong kind do not throw: the const ones return false/0/an empty value, the
  // non-const `as_array`/`as_object` first turn the value into an empty array/object.
  bool as_bool() const;
  int64_t as_int() const;        // integer value (a number is truncated)
  double as_double() const;      // any number
  const std::string& as_string() const;
  const array_t& as_array() const;
  array_t& as_array();
  const object_t& as_object() const;
  object_t& as_object();

  /// Object member lookup; nullptr when absent or not an object.
  const value* find(std::string_view key) const;
  value* find(std::string_view key);
  /// Sets (replaces or appends) an object member; turns a null into an object. Returns *this.
  value& set(std::string key, value v);
  /// Removes an object member; returns whether it was there.
  bool erase(std::string_view key);
  /// Appends to an array; turns a null into an array. Returns *this.
  value& push(value v);
  /// Number of array elements or object members; 0 otherwise.
  size_t size() const;

  /// Structural equality: object member order, the date flag and the integer/number distinction
  /// of an equal numeric value do not matter.
  friend bool operator==(const value& a, const value& b);
  friend bool operator!=(const value& a, const value& b) { return !(a == b); }

private:
  template <typename T>
  static typename std::conditional<std::is_signed<T>::value, int64_t, uint64_t>::type to_wide(T i) {
    return i;
  }

  kind kind_ = kind::null;
  bool date_ = false;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::unique_ptr<array_t> a_;
  std::unique_ptr<object_t> o_;
};

/// Parses JSON text. On failure returns nullopt and sets *error to a human-readable message
/// (the parser's). Limits nesting depth to 256.
std::optional<value> parse(std::string_view text, std::string* error);

/// Appends the plain JSON text of `v`.
void write(std::string& out, const value& v);
std::string to_string(const value& v);
/// Appends a quoted, escaped JSON string.
void write_string(std::string& out, std::string_view s);
/// Appends the superjson `meta` object for `v`: `{"values":{"a.b":["Date"],…},"v":1}` (or
/// `{"values":["Date"],"v":1}` when the root is a date). Returns false and appends nothing when
/// `v` holds no date. Path segments escape `.` as `\.` and `\` as `\\`.
bool write_meta(std::string& out, const value& v);
/// Appends the meta entries (`"<path>":["Date"]`, comma-separated, document order) of the dates
/// in `v`, where `v` sits at `path` (already escaped; empty: `v` is the root), after a comma when
/// `entries` is not empty. write_meta is `{"values":{<entries>},"v":1}` of the root's entries.
void append_date_entries(std::string& entries, const value& v, std::string_view path);
/// Appends `{"json":<v>,"meta":<meta>}` (meta left out when there is no date).
void write_superjson(std::string& out, const value& v);
/// Wraps already-encoded plain JSON text and meta text (may be empty) as a superjson envelope.
void wrap_superjson(std::string& out, std::string_view plain, std::string_view meta);

} // namespace vigil::json

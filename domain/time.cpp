// Wall-clock time and ISO-8601 conversion with plain proleptic-Gregorian arithmetic (no libc
// time zone or locale functions, so the result never depends on TZ and works before 1970).

#include "domain/time.hpp"

#include <chrono>

namespace vigil {

namespace {

constexpr int64_t ms_per_day = 86400000;

/// Floor division (rounds towards negative infinity, unlike `/`).
constexpr int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Days since 1970-01-01 of a civil date. Counts in 400-year eras (146097 days) that start on
/// March 1st, so the leap day is the last day of an era-year.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = floor_div(y, 400);
  const auto year_of_era = static_cast<unsigned>(y - era * 400);                  // [0, 399]
  const unsigned month_from_march = m > 2 ? m - 3 : m + 9;                         // [0, 11]
  const unsigned day_of_year = (153 * month_from_march + 2) / 5 + d - 1;           // [0, 365]
  const unsigned day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;       // [0, 146096]
  return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

struct civil_date {
  int64_t year;
  unsigned month;
  unsigned day;
};

/// Inverse of days_from_civil.
civil_date civil_from_days(int64_t days) {
  days += 719468;
  const int64_t era = floor_div(days, 146097);
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);              // [0, 146096]
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);      // [0, 365]
  const unsigned month_from_march = (5 * day_of_year + 2) / 153;                   // [0, 11]
  const unsigned day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  const unsigned month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  const int64_t year = static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month, day};
}

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants format_iso writes with
/// a four-digit year.
constexpr int64_t first_four_digit_ms = -62167219200000;
constexpr int64_t last_four_digit_ms = 253402300799999;

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/// A small cursor over the text being parsed.
struct scanner {
  std::string_view text;
  size_t pos = 0;

  bool at_end() const { return pos >= text.size(); }

  bool accept(char c) {
    if (at_end() || text[pos] != c) return false;
    ++pos;
    return true;
  }

  /// Reads exactly `n` decimal digits.
  bool digits(size_t n, unsigned& out) {
    if (text.size() - pos < n) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    out = v;
    return true;
  }

  bool is_digit() const { return !at_end() && text[pos] >= '0' && text[pos] <= '9'; }
};

/// Parses `.fff…` (one or more digits, truncated to milliseconds); absent means 0.
bool parse_fraction(scanner& s, unsigned& ms) {
  ms = 0;
  if (!s.accept('.')) return true;
  if (!s.is_digit()) return false;
  unsigned scale = 100;
  while (s.is_digit()) {
    ms += static_cast<unsigned>(s.text[s.pos] - '0') * scale;
    scale /= 10;
    ++s.pos;
  }
  return true;
}

/// Parses `Z` or `±HH:MM` / `±HHMM`; returns the offset east of UTC in minutes.
bool parse_zone(scanner& s, int64_t& offset_minutes) {
  if (s.accept('Z') || s.accept('z')) {
    offset_minutes = 0;
    return true;
  }
  int sign = 0;
  if (s.accept('+')) sign = 1;
  else if (s.accept('-')) sign = -1;
  else return false;
  unsigned hh = 0, mm = 0;
  if (!s.digits(2, hh)) return false;
  s.accept(':');
  if (!s.digits(2, mm)) return false;
  if (hh > 23 || mm > 59) return false;
  offset_minutes = sign * static_cast<int64_t>(hh * 60 + mm);
  return true;
}

} // namespace

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

/// Writes `v` (0 <= v < 10^n) as exactly n decimal digits at `p`.
void put_digits(char* p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

} // namespace

void append_iso(std::string& out, int64_t ms) {
  // Clamp to the range of a JavaScript Date (±100,000,000 days), which also keeps the arithmetic
  // below free of overflow.
  constexpr int64_t js_limit = 8640000000000000;
  if (ms > js_limit) ms = js_limit;
  if (ms < -js_limit) ms = -js_limit;
  const int64_t days = floor_div(ms, ms_per_day);
  const auto in_day = static_cast<unsigned>(ms - days * ms_per_day);
  const civil_date date = civil_from_days(days);
  // No snprintf: this runs for every timestamp of every alert written (several per mutation).
  char buf[32];
  char* p = buf;
  if (date.year >= 0 && date.year <= 9999) {
    put_digits(p, static_cast<unsigned>(date.year), 4);
    p += 4;
  } else {
    // Extended years, as JavaScript's toISOString writes them: sign and six digits.
    *p++ = date.year < 0 ? '-' : '+';
    put_digits(p, static_cast<unsigned>(date.year < 0 ? -date.year : date.year), 6);
    p += 6;
  }
  *p++ = '-';
  put_digits(p, date.month, 2);
  p[2] = '-';
  put_digits(p + 3, date.day, 2);
  p[5] = 'T';
  put_digits(p + 6, in_day / 3600000, 2);
  p[8] = ':';
  put_digits(p + 9, in_day / 60000 % 60, 2);
  p[11] = ':';
  put_digits(p + 12, in_day / 1000 % 60, 2);
  p[14] = '.';
  put_digits(p + 15, in_day % 1000, 3);
  p[18] = 'Z';
  p += 19;
  out.append(buf, static_cast<size_t>(p - buf));
}

std::string format_iso(int64_t ms) {
  std::string out;
  append_iso(out, ms);
  return out;
}

std::optional<int64_t> parse_iso(std::string_view text) {
  scanner s{text};
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, milli = 0;
  if (!s.digits(4, year) || !s.accept('-') || !s.digits(2, month) || !s.accept('-') ||
      !s.digits(2, day)) {
    return std::nullopt;
  }
  if (!(s.accept('T') || s.accept('t') || s.accept(' '))) return std::nullopt;
  if (!s.digits(2, hour) || !s.accept(':') || !s.digits(2, minute)) return std::nullopt;
  if (s.accept(':')) {
    if (!s.digits(2, second) || !parse_fraction(s, milli)) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (!parse_zone(s, offset_minutes) || !s.at_end()) return std::nullopt;

  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;

  const int64_t days = days_from_civil(year, month, day);
  const int64_t local_ms =
      days * ms_per_day + ((hour * 60 + minute) * 60 + second) * int64_t{1000} + milli;
  const int64_t ms = local_ms - offset_minutes * 60000;
  // Only four-digit years are read, so an instant the offset moves outside 0000..9999 (which
  // format_iso would write with an extended year) is refused: every accepted text formats to
  // text that is accepted again.
  if (ms < first_four_digit_ms || ms > last_four_digit_ms) return std::nullopt;
  return ms;
}

} // namespace vigil

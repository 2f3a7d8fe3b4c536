#pragma once
// Wall-clock time as milliseconds since the Unix epoch, and ISO-8601 conversion.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

/// Milliseconds since the Unix epoch (system clock).
int64_t now_ms();
/// `2026-01-05T10:00:00.000Z`.
std::string format_iso(int64_t ms);
/// Appends format_iso(ms) to `out`.
void append_iso(std::string& out, int64_t ms);
/// Parses ISO-8601 date-time: `YYYY-MM-DDTHH:MM[:SS[.fff…]]` followed by `Z` or `±HH:MM`/`±HHMM`
/// (a lowercase `t`/`z` and a space instead of `T` are accepted). Returns milliseconds since the
/// epoch, or nullopt when the text is not such a timestamp, a field is out of range, or the
/// instant (after the offset) is outside 0000-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z, so
/// that `format_iso` of any accepted instant is accepted again.
std::optional<int64_t> parse_iso(std::string_view text);

} // namespace vigil

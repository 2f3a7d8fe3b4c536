#pragma once
// Reading typed members of stored JSON objects (an alert's JSON, an event's data): the readers
// that alert_from_json and `vigilctl replay --verify` share, so a stored value is accepted or
// refused the same way by both. Each returns false on a missing member or a wrong type and then
// leaves `out` unspecified.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/json.hpp"

namespace vigil::json {

/// A required string member.
bool read_string(const value& v, std::string_view key, std::string& out);
/// A nullable string member: absent or null -> nullopt. False on a wrong type.
bool read_opt_string(const value& v, std::string_view key, std::optional<std::string>& out);
/// A required integral number that fits an int (2 and 2.0 both read as 2).
bool read_int(const value& v, std::string_view key, int& out);
/// A required timestamp: an ISO string, date-flagged (in memory) or plain (after a text round
/// trip), as ms since the epoch.
bool read_time(const value& v, std::string_view key, int64_t& out);
/// A nullable timestamp: absent or null -> nullopt.
bool read_opt_time(const value& v, std::string_view key, std::optional<int64_t>& out);

} // namespace vigil::json

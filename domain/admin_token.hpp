#pragma once
// The admin token: the shared secret `vigilctl console` presents to vigild's console listener
// (transport/console_server.hpp). vigild creates it on first start in admin.token-file (mode 0600,
// 32 random bytes as 64 hex digits); vigilctl reads the same file. Whoever can read the file may
// use the console, so its permissions are the console's access control.

#include <optional>
#include <string>
#include <string_view>

namespace vigil {

/// Tokens are printable ASCII without blanks, this many bytes at most (the console's
/// `AUTH <token>\n` line must fit its 512-byte bound).
inline constexpr size_t admin_token_max = 256;
/// Shorter tokens are refused: a hand-written "secret" must not pass for a random one.
inline constexpr size_t admin_token_min = 16;

/// Reads the token in `path` (one line; surrounding blanks ignored). On failure nullopt and
/// *error says why, naming the file (never the token).
std::optional<std::string> read_admin_token(const std::string& path, std::string* error);

/// vigild's start-up: reads the token in `path`, creating the file (mode 0600, a fresh random
/// token) when it does not exist. Refuses a file that group or others may read or write.
std::optional<std::string> ensure_admin_token(const std::string& path, std::string* error);

/// Checks a token given in the environment or on a command line (same rules as the file).
std::optional<std::string> check_admin_token(std::string_view token);

/// Compares without an early exit, so the time taken does not tell how much of a guess matched.
bool admin_token_matches(std::string_view expected, std::string_view given);

} // namespace vigil

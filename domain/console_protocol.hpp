#pragma once
// The wire format of `vigilctl console` <-> vigild's console listener, shared by both ends
// (the exchange itself is described in transport/console_server.hpp).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::console_protocol {

/// The server's first line on an accepted socket, without the newline.
inline constexpr std::string_view greeting_ready = "vigil-console 1 ready";
/// Sent instead of greeting_ready when too many console sockets are open; then closed.
inline constexpr std::string_view greeting_busy = "vigil-console 1 busy";
/// The client's first line starts with this, followed by the token.
inline constexpr std::string_view auth_prefix = "AUTH ";
/// The most bytes the server reads for the AUTH line, newline included, before it closes.
inline constexpr size_t auth_line_max = 512;
/// The longest request line, newline included (longer ones close the session).
inline constexpr size_t request_line_max = 4096;
/// The client refuses replies longer than this (a listing of 100k connections is about 20 MB).
inline constexpr size_t reply_max = 64 * 1024 * 1024;

/// One console command: its name and whether it changes the running server. Read-only commands
/// only look; mutating ones act on clients or on the process (the listener logs each use).
struct command {
  const char* name;
  bool mutating;
};

/// Every command the inspector answers, for help texts, completion and the log (`help` itself
/// is answered by `vigilctl console` without asking the server).
inline constexpr command commands[] = {
  {"stats", false},       {"hospitals", false},    {"hospital", false},
  {"connections", false}, {"connection", false},   {"actors", false},
  {"escalations", false}, {"kick", true},          {"reconnect-all", true},
  {"log-level", true},    {"help", false},
};

/// True for a command of `commands` marked mutating.
inline bool is_mutating(std::string_view name) {
  for (auto& c : commands)
    if (name == c.name)
      return c.mutating;
  return false;
}

/// One request line without its newline: a JSON array of strings, command first.
std::string encode_request(const std::vector<std::string>& words);

/// Reads a request line; nullopt with *error unless it is a non-empty JSON array of strings.
std::optional<std::vector<std::string>> decode_request(std::string_view line, std::string* error);

/// A reply on the wire: "<byte length>\n" then the JSON text.
std::string frame_reply(const std::string& json);

/// Parses the length line of a reply (digits only, at most reply_max); nullopt otherwise.
std::optional<size_t> parse_reply_length(std::string_view line);

} // namespace vigil::console_protocol

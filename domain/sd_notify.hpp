#pragma once
// The systemd readiness protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET. Outside systemd (no variable)
// every call is a no-op, so vigild behaves the same under any supervisor.

#include <string>
#include <string_view>

namespace vigil {

/// Sends `state` (e.g. "READY=1\nSTATUS=listening on 3001") to $NOTIFY_SOCKET. True when sent;
/// false when the variable is unset (nothing to do) or the send failed (`error` then says why).
/// A leading '@' names a Linux abstract socket.
bool sd_notify_send(std::string_view state, std::string* error = nullptr);

/// The same to an explicit socket path (for tests).
bool sd_notify_to(const std::string& socket_path, std::string_view state, std::string* error);

} // namespace vigil

#pragma once
// What a SIGHUP reload changes: vigild re-loads its configuration (the same way as at start-up)
// and compares it with the running one. Reloadable settings are taken; every other changed
// setting is named so that vigild can say it needs a restart. docs/operations.md "Reloading".

#include <optional>
#include <string>
#include <vector>

#include "domain/config.hpp"

namespace vigil {

/// The option keys a reload applies while vigild runs: log.level, http.cors-origins and the
/// token keys (auth.jwt-secret[-file], auth.jwt-previous-secret[-file], auth.public-key-file,
/// auth.algorithm).
const std::vector<std::string>& reloadable_keys();

/// The difference between the running configuration and a newly loaded one.
struct reload_diff {
  /// Reloadable settings whose value changed, by option key, in option order. The token keys
  /// are named by their value, not their source: a new secret in the same file is
  /// "auth.jwt-secret", a removed previous secret "auth.jwt-previous-secret".
  std::vector<std::string> reloaded;
  /// Settings that changed but take effect only after a restart, by option key.
  std::vector<std::string> restart_needed;
};

reload_diff diff_for_reload(const config& running, const config& next);

/// Why `next` must not be applied to a server started with `running`, or nullopt. Today: the
/// new configuration falls back to the built-in development secret while the server listens
/// on a non-loopback address (the start-up rule, which the reload cannot escape).
std::optional<std::string> refuse_reload(const config& running, const config& next);

/// The configuration that runs after the reload: `running` with the reloadable settings (and
/// the warnings) of `next`. Everything else stays as it was started.
config apply_reloadable(const config& running, const config& next);

} // namespace vigil

#pragma once
// Retention horizons derived from the configuration: what the storage actor prunes and what a
// hospital stops holding in memory use the same instant.

#include <cstdint>
#include <optional>

#include "domain/config.hpp"

namespace vigil {

constexpr int64_t retention_day_ms = 86400000LL;

/// Resolved alerts whose resolvedAt is before this instant are deleted
/// (retention.resolved-alert-days); nullopt when they are kept forever (0).
inline std::optional<int64_t> resolved_alert_horizon(const config& cfg, int64_t now_ms) {
  if (cfg.resolved_alert_retention_days <= 0)
    return std::nullopt;
  return now_ms - static_cast<int64_t>(cfg.resolved_alert_retention_days) * retention_day_ms;
}

} // namespace vigil

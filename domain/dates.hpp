#pragma once
// Re-flags timestamps in JSON read back from storage, where they are plain strings, so that the
// superjson writer annotates them as Dates again.

#include "domain/json.hpp"

namespace vigil {

/// Flags, at any depth, every string under a timestamp key (docs/api.md "Data types": `timestamp`,
/// `createdAt`, `updatedAt`, `nextEscalationAt`, `acknowledgedAt`, `resolvedAt`, `escalatedAt`,
/// `since`) that parses as ISO-8601.
void mark_timestamp_fields(json::value& v);

} // namespace vigil

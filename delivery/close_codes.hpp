#pragma once
// WebSocket close codes Vigil sends.

#include <cstdint>

namespace vigil {

/// Close codes (docs/api.md "Close codes").
namespace close_code {
constexpr uint16_t going_away = 1001;      // server shutdown
constexpr uint16_t too_big = 1009;         // frame too big
constexpr uint16_t unauthenticated = 4001;
constexpr uint16_t token_expired = 4003;
constexpr uint16_t slow_consumer = 4008;
constexpr uint16_t kicked = 4000;          // operator kick
} // namespace close_code

} // namespace vigil

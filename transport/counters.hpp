#pragma once
// Process-wide counters for /metrics and the console. Relaxed atomics: exact enough for
// monitoring, free on the hot path.

#include <atomic>
#include <cstdint>

namespace vigil {

struct counters {
  std::atomic<uint64_t> connections_current{0};
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> ws_writes{0};        // coalesced writes (frames_out / ws_writes = frames per send)
  std::atomic<uint64_t> subscriptions_current{0};
  std::atomic<uint64_t> events_published{0};
  std::atomic<uint64_t> events_delivered{0};
  std::atomic<uint64_t> slow_consumer_closes{0};
  std::atomic<uint64_t> closed_frame_too_big{0};
  std::atomic<uint64_t> closed_unauthenticated{0};
  std::atomic<uint64_t> closed_token_expired{0};
  std::atomic<uint64_t> closed_keepalive{0};
  std::atomic<uint64_t> closed_by_peer{0};
  std::atomic<uint64_t> auth_failures_missing{0};
  std::atomic<uint64_t> auth_failures_invalid{0};
  std::atomic<uint64_t> auth_failures_expired{0};
  std::atomic<uint64_t> rejected_by_code[16] = {};
  std::atomic<uint64_t> storage_commits{0};
  std::atomic<uint64_t> storage_commit_items{0};
  std::atomic<uint64_t> storage_commit_us_total{0};
  std::atomic<uint64_t> storage_commit_failures{0};
  std::atomic<uint64_t> escalations_fired{0};

  static counters& get() {
    static counters instance;
    return instance;
  }
};

} // namespace vigil

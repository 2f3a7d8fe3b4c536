#pragma once
// Process-wide counters for /metrics and the console. Relaxed atomics: exact enough for
// monitoring, free on the hot path.

#include <atomic>
#include <cstdint>

namespace vigil {

/// A Prometheus histogram with fixed buckets (seconds), updated with relaxed atomics.
struct latency_histogram {
  static constexpr double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
  static constexpr size_t bucket_count = sizeof(bounds) / sizeof(bounds[0]);
  std::atomic<uint64_t> buckets[bucket_count + 1] = {}; // last: +Inf
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_us{0};
  void observe_us(int64_t us) {
    if (us < 0)
      us = 0;
    double s = static_cast<double>(us) / 1e6;
    size_t i = 0;
    while (i < bucket_count && s > bounds[i])
      ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  }
};

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
  std::atomic<uint64_t> failsafe_escalations{0}; // failsafe steps (no recipient online, no receipt)
  std::atomic<uint64_t> alerts_unattended{0};    // failsafe at the last tier: hospital-wide call
  std::atomic<uint64_t> delivery_receipts{0};    // receipts recorded (new user per alert)
  std::atomic<uint64_t> accept_pauses{0};    // accepting stopped: descriptors near the limit
  /// From the commit of an event to the write of its frame to a subscriber's socket.
  latency_histogram publish_to_write;
  /// Duration of each SQLite group commit (storage actor), failed ones included.
  latency_histogram storage_commit;

  static counters& get() {
    static counters instance;
    return instance;
  }
};

} // namespace vigil

#pragma once
// The per-connection request rate limit (limits.rate, limits.rate-burst): a token bucket.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "domain/errors.hpp"

namespace vigil {

class rate_limiter {
public:
  /// `rate` requests per second (0 = unlimited), bursts up to `burst`.
  rate_limiter(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  /// Takes one token at time `now_ms`. nullopt when allowed; otherwise the TOO_MANY_REQUESTS
  /// error ("Rate limit exceeded. Please try again in <n> seconds.").
  std::optional<call_error> take(int64_t now_ms) {
    if (rate_ <= 0)
      return std::nullopt;
    std::lock_guard<std::mutex> g{mu_};
    if (last_ms_ == 0)
      last_ms_ = now_ms;
    if (now_ms > last_ms_) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_ / 1000.0);
      last_ms_ = now_ms;
    }
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return std::nullopt;
    }
    auto wait = (1 - tokens_) / rate_;
    auto secs = static_cast<int64_t>(wait);
    if (static_cast<double>(secs) < wait)
      ++secs;
    if (secs < 1)
      secs = 1;
    return call_error{trpc_code::too_many_requests,
                      "Rate limit exceeded. Please try again in " + std::to_string(secs)
                        + " seconds."};
  }

private:
  std::mutex mu_; // HTTP requests of one keep-alive connection may be handled by several actors
  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ms_ = 0;
};

} // namespace vigil

#pragma once
// Progress of long `vigilctl` work (backup, replay --verify, bench) on stderr, only when stderr
// is a terminal: one line rewritten in place ("\r…", at most 5 times a second), erased when the
// work ends. Scripts and pipes (stderr not a terminal) see nothing, so reports stay clean.

#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>

namespace vigil::ctl {

class progress_line {
public:
  /// Shown when stderr is a terminal (`force` for tests of the drawing itself).
  explicit progress_line(bool force = false) : on_(force || ::isatty(STDERR_FILENO) != 0) {}
  ~progress_line() { clear(); }
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

  bool enabled() const { return on_; }

  /// True when a redraw would show: lets callers skip computing figures in a hot loop.
  bool due() const {
    return on_ && (!drawn_ || std::chrono::steady_clock::now() - last_ >= interval);
  }

  /// Redraws the line with printf-style text, unless the last draw was under 200 ms ago.
  void update(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < interval) return;
    last_ = now;
    drawn_ = true;
    std::fputs("\r\033[K", stderr);
    va_list args;
    va_start(args, fmt);
    std::vfprintf(stderr, fmt, args);
    va_end(args);
    std::fflush(stderr);
  }

  /// Erases the line (before the result is printed, or an error).
  void clear() {
    if (!on_ || !drawn_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }

private:
  static constexpr std::chrono::milliseconds interval{200};
  bool on_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

} // namespace vigil::ctl

// vigilctl bench: latency histogram, fast frame scanning, /proc sampling, and the small
// bookkeeping structures (seen_set, lag_tracker). See vigilctl_bench.hpp.

#include "tools/vigilctl_bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace vigil::ctl::bench {

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- histogram -------------------------------------------------------------------------------------

namespace {
constexpr size_t linear_limit = 128;  // exact below this
constexpr int sub_bits = 6;           // 64 buckets per power of two above it
constexpr int max_magnitude = 62;
constexpr size_t bucket_count = linear_limit + (max_magnitude - sub_bits) * (1u << sub_bits);
} // namespace

histogram::histogram() : buckets_(bucket_count, 0) {}

size_t histogram::index_of(int64_t v) {
  if (v < static_cast<int64_t>(linear_limit)) return static_cast<size_t>(std::max<int64_t>(v, 0));
  const int magnitude = 63 - __builtin_clzll(static_cast<unsigned long long>(v));  // >= 7
  const int shift = magnitude - sub_bits;                                           // >= 1
  const int64_t sub = (v >> shift) - (int64_t{1} << sub_bits);                      // 0..63
  return linear_limit + static_cast<size_t>(shift - 1) * (1u << sub_bits) + static_cast<size_t>(sub);
}

int64_t histogram::upper_edge(size_t index) {
  if (index < linear_limit) return static_cast<int64_t>(index);
  const size_t rel = index - linear_limit;
  const int shift = static_cast<int>(rel >> sub_bits) + 1;
  const int64_t sub = static_cast<int64_t>(rel & ((1u << sub_bits) - 1)) + (int64_t{1} << sub_bits);
  return ((sub + 1) << shift) - 1;
}

void histogram::add(int64_t value) {
  if (value < 0) value = 0;
  const size_t i = std::min(index_of(value), buckets_.size() - 1);
  ++buckets_[i];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
  sum_ += value;
}

void histogram::merge(const histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

int64_t histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(q * static_cast<double>(count_) + 0.999999));
  int64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

// ---- frame scanning ----------------------------------------------------------------------------------

namespace {

/// Parses a decimal integer at the start of `s`; advances *used. -1 when none.
int64_t leading_int(std::string_view s, size_t* used = nullptr) {
  int64_t v = -1;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return -1;
  if (used != nullptr) *used = static_cast<size_t>(ptr - s.data());
  return v;
}

/// The string value after `key` (which ends with the opening quote), up to the next quote.
std::string_view string_after(std::string_view text, std::string_view key, size_t from = 0) {
  const size_t at = text.find(key, from);
  if (at == std::string_view::npos) return {};
  const size_t start = at + key.size();
  const size_t end = text.find('"', start);
  if (end == std::string_view::npos) return {};
  return text.substr(start, end - start);
}

} // namespace

int64_t event_seq(std::string_view event_id) {
  const size_t dash = event_id.rfind('-');
  if (dash == std::string_view::npos) return -1;
  size_t used = 0;
  const int64_t v = leading_int(event_id.substr(dash + 1), &used);
  return used == event_id.size() - dash - 1 ? v : -1;
}

scanned_frame scan_frame(std::string_view text) {
  scanned_frame f;
  if (text == "PING") {
    f.type = scanned_frame::kind::ping;
    return f;
  }
  if (text == "PONG") {
    f.type = scanned_frame::kind::pong;
    return f;
  }
  // Both servers start replies with {"id":<id>, (the ws adapter may add "jsonrpc" later).
  constexpr std::string_view id_key = "{\"id\":";
  if (text.substr(0, id_key.size()) == id_key) f.id = leading_int(text.substr(id_key.size()));
  const size_t result = text.find("\"result\":{");
  if (result == std::string_view::npos) {
    if (text.find("\"error\":") != std::string_view::npos) {
      f.type = scanned_frame::kind::error;
      f.error_code = string_after(text, "\"code\":\"");
      if (f.error_code.empty()) f.error_code = "(no code)";
    } else if (text.find("\"method\":\"reconnect\"") != std::string_view::npos) {
      f.type = scanned_frame::kind::reconnect;
    }
    return f;
  }
  const std::string_view type = string_after(text, "\"type\":\"", result);
  if (type == "started") {
    f.type = scanned_frame::kind::started;
    return f;
  }
  if (type == "stopped") {
    f.type = scanned_frame::kind::stopped;
    return f;
  }
  if (type != "data") return f;
  f.type = scanned_frame::kind::data;
  // vigild: result.id comes right after "type"; tRPC's tracked(): data.id (the same value) comes
  // first. Either way the first string "id" after "result" is the event id.
  f.event_id = string_after(text, "\"id\":\"", result);
  const size_t marker = text.find("bench:", result);
  if (marker != std::string_view::npos) {
    std::string_view rest = text.substr(marker + 6);
    size_t used = 0;
    const int64_t pub = leading_int(rest, &used);
    if (pub >= 0 && used < rest.size() && rest[used] == ':') {
      rest.remove_prefix(used + 1);
      const int64_t seq = leading_int(rest, &used);
      if (seq >= 0 && used < rest.size() && rest[used] == ':') {
        rest.remove_prefix(used + 1);
        const int64_t ns = leading_int(rest, &used);
        if (ns >= 0) {
          f.has_marker = true;
          f.publisher = static_cast<int>(pub);
          f.seq = seq;
          f.send_ns = ns;
        }
      }
    }
  } else if (text.find("\"resync\":true", result) != std::string_view::npos) {
    f.resync = true;
  }
  return f;
}

// ---- /proc --------------------------------------------------------------------------------------------

std::optional<proc_sample> read_proc(int pid) {
  proc_sample s;
  {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    if (!status) return std::nullopt;
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::atoll(line.c_str() + 6);
      else if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::atoll(line.c_str() + 6);
    }
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const size_t paren = all.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(all.substr(paren + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // state is field 3; utime and stime are fields 14 and 15 (1-based, man 5 proc).
  for (int i = 3; i <= 15 && (fields >> field); ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
  return s;
}

proc_sample read_self() {
  proc_sample s;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  s.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  s.hwm_kb = usage.ru_maxrss;
  if (auto own = read_proc(static_cast<int>(getpid()))) s.rss_kb = own->rss_kb;
  return s;
}

// ---- seen_set, lag_tracker ---------------------------------------------------------------------

bool seen_set::insert(int publisher, int64_t seq) {
  if (publisher < 0 || seq < 0) return false;
  if (static_cast<size_t>(publisher) >= bits_.size()) bits_.resize(publisher + 1);
  auto& words = bits_[publisher];
  const size_t word = static_cast<size_t>(seq >> 6);
  if (word >= words.size()) words.resize(std::max(word + 1, words.size() * 2), 0);
  const uint64_t bit = uint64_t{1} << (seq & 63);
  if (words[word] & bit) return false;
  words[word] |= bit;
  return true;
}

bool seen_set::contains(int publisher, int64_t seq) const {
  if (publisher < 0 || seq < 0 || static_cast<size_t>(publisher) >= bits_.size()) return false;
  const auto& words = bits_[publisher];
  const size_t word = static_cast<size_t>(seq >> 6);
  return word < words.size() && (words[word] & (uint64_t{1} << (seq & 63))) != 0;
}

void lag_tracker::add(int64_t count) {
  if (members_ == 0) {
    at_.assign(1, 0);
    base_ = count;
  }
  if (count < base_) {
    at_.insert(at_.begin(), static_cast<size_t>(base_ - count), 0);
    base_ = count;
  }
  const size_t i = static_cast<size_t>(count - base_);
  if (i >= at_.size()) at_.resize(i + 1, 0);
  ++at_[i];
  ++members_;
}

void lag_tracker::remove(int64_t count) {
  if (members_ == 0 || count < base_) return;
  const size_t i = static_cast<size_t>(count - base_);
  if (i >= at_.size() || at_[i] == 0) return;
  --at_[i];
  --members_;
  if (members_ == 0) {
    reset();
    return;
  }
  while (!at_.empty() && at_.front() == 0) {
    at_.pop_front();
    ++base_;
  }
}

void lag_tracker::advance(int64_t from_count) {
  if (members_ == 0 || from_count < base_) return;
  const size_t i = static_cast<size_t>(from_count - base_);
  if (i >= at_.size() || at_[i] == 0) return;
  --at_[i];
  if (i + 1 >= at_.size()) at_.push_back(0);
  ++at_[i + 1];
  while (at_.front() == 0) {
    at_.pop_front();
    ++base_;
  }
}

void lag_tracker::reset() {
  at_.clear();
  base_ = 0;
  members_ = 0;
}

} // namespace vigil::ctl::bench

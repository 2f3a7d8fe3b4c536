// vigilctl bench: latency histogram, fast frame scanning, /proc sampling, and the small
// bookkeeping structures (seen_set, lag_tracker). See vigilctl_bench.hpp.

#include "tools/vigilctl_bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
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

/// Parses a decimal integer at text[*pos] (digits after an optional '-', like std::from_chars)
/// and advances *pos past it. -1 when there is none or it has more than 18 digits (the bench's
/// numbers are far shorter).
inline int64_t digits_at(std::string_view text, size_t* pos) {
  size_t i = *pos;
  const bool negative = i < text.size() && text[i] == '-';
  if (negative) ++i;
  const size_t first = i;
  int64_t v = 0;
  while (i < text.size() && static_cast<unsigned char>(text[i] - '0') < 10) {
    if (i - first == 18) return -1;
    v = v * 10 + (text[i] - '0');
    ++i;
  }
  if (i == first) return -1;
  *pos = i;
  return negative ? -v : v;
}

/// Reads the marker `bench:<publisher>:<seq>:<send_ns>` that starts at text[at] into f.
void read_marker(std::string_view text, size_t at, scanned_frame& f) {
  size_t pos = at + 6;
  const int64_t pub = digits_at(text, &pos);
  if (pub < 0 || pos >= text.size() || text[pos] != ':') return;
  ++pos;
  const int64_t seq = digits_at(text, &pos);
  if (seq < 0 || pos >= text.size() || text[pos] != ':') return;
  ++pos;
  const int64_t ns = digits_at(text, &pos);
  if (ns < 0) return;
  f.has_marker = true;
  f.publisher = static_cast<int>(std::min<int64_t>(pub, INT32_MAX));  // too big: a foreign marker
  f.seq = seq;
  f.send_ns = ns;
}

/// Where "bench:" starts at or after `from`; npos when absent. memchr for its first letter and
/// a fixed-size compare: far fewer calls than string_view::find, which stops at every 'b'
/// with a memcmp call.
size_t find_marker(std::string_view text, size_t from) {
  const char* const end = text.data() + text.size();
  const char* p = text.data() + std::min(from, text.size());
  while (end - p >= 6) {
    p = static_cast<const char*>(std::memchr(p, 'b', static_cast<size_t>(end - p) - 5));
    if (p == nullptr) return std::string_view::npos;
    if (std::memcmp(p + 1, "ench:", 5) == 0) return static_cast<size_t>(p - text.data());
    ++p;
  }
  return std::string_view::npos;
}

/// vigild's data frames, in the order it writes them: `{"id":N,"result":{"type":"data","id":"E",…`.
/// Returns false (f untouched) for any other shape, which the general scan then reads.
bool scan_vigild_data(std::string_view text, scanned_frame& f, size_t* marker_hint) {
  constexpr std::string_view head = "{\"id\":";
  constexpr std::string_view data_head = ",\"result\":{\"type\":\"data\",\"id\":\"";
  if (text.size() < head.size() || std::memcmp(text.data(), head.data(), head.size()) != 0) return false;
  size_t pos = head.size();
  const int64_t id = digits_at(text, &pos);
  if (id < 0 || text.size() - pos < data_head.size() ||
      std::memcmp(text.data() + pos, data_head.data(), data_head.size()) != 0)
    return false;
  const size_t id_start = pos + data_head.size();
  const void* quote = std::memchr(text.data() + id_start, '"', text.size() - id_start);
  if (quote == nullptr) return false;
  const size_t id_end = static_cast<size_t>(static_cast<const char*>(quote) - text.data());
  f.type = scanned_frame::kind::data;
  f.id = id;
  f.event_id = text.substr(id_start, id_end - id_start);
  // The same rules as the general scan: the first "bench:" after the event id (nothing between
  // "result" and here can hold one), else a resync flag. The hint is taken only where the
  // description starts with the marker: nothing the server writes before an alert's description
  // can hold "bench:" (the bench refuses hospital prefixes with it), so that is the first one.
  constexpr std::string_view key = "\"description\":\"";
  size_t marker = std::string_view::npos;
  if (marker_hint != nullptr && *marker_hint >= key.size()) {
    const size_t at = id_end + *marker_hint;
    if (at + 6 <= text.size() && std::memcmp(text.data() + at - key.size(), key.data(), key.size()) == 0 &&
        std::memcmp(text.data() + at, "bench:", 6) == 0)
      marker = at;
  }
  if (marker == std::string_view::npos) {
    marker = find_marker(text, id_end);
    if (marker_hint != nullptr && marker != std::string_view::npos && marker - id_end >= key.size() &&
        std::memcmp(text.data() + marker - key.size(), key.data(), key.size()) == 0)
      *marker_hint = marker - id_end;
  }
  if (marker != std::string_view::npos) read_marker(text, marker, f);
  else f.resync = text.find("\"resync\":true", id_end) != std::string_view::npos;
  return true;
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}

std::string connection_params_frame(std::string_view token) {
  std::string params = "{\"method\":\"connectionParams\",\"data\":{\"authorization\":";
  append_json_string(params, "Bearer " + std::string(token));
  params += "}}";
  return params;
}

std::string subscribe_alerts_frame(std::string_view hospital, std::string_view last_event_id) {
  std::string sub = "{\"id\":1,\"method\":\"subscription\",\"params\":{\"path\":"
                    "\"healthcare.subscribeToAlerts\",\"input\":{\"hospitalId\":";
  append_json_string(sub, hospital);
  sub += '}';
  if (!last_event_id.empty()) {
    sub += ",\"lastEventId\":";
    append_json_string(sub, last_event_id);
  }
  sub += "}}";
  return sub;
}

int64_t event_seq(std::string_view event_id) {
  // The digits after the last '-', up to the end.
  size_t start = event_id.size();
  while (start > 0 && static_cast<unsigned char>(event_id[start - 1] - '0') < 10) --start;
  if (start == event_id.size() || start == 0 || event_id[start - 1] != '-') return -1;
  size_t pos = start;
  const int64_t v = digits_at(event_id, &pos);
  return pos == event_id.size() ? v : -1;
}

scanned_frame scan_frame(std::string_view text, size_t* marker_hint) {
  scanned_frame f;
  if (scan_vigild_data(text, f, marker_hint)) return f;  // nearly every frame of a run
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
  const size_t marker = find_marker(text, result);
  if (marker != std::string_view::npos) {
    read_marker(text, marker, f);
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

void seen_set::widen(size_t stride) {
  size_t wider = std::max<size_t>(stride_, 1);
  while (wider < stride) wider *= 2;
  if (stride_ != 0) {
    std::vector<uint64_t> words(words_.size() / stride_ * wider, 0);
    for (size_t i = 0; i < words_.size(); ++i) words[i / stride_ * wider + i % stride_] = words_[i];
    words_.swap(words);
  }
  stride_ = wider;
}

bool seen_set::insert(int publisher, int64_t seq) {
  if (publisher < 0 || seq < 0) return false;
  if (static_cast<size_t>(publisher) >= stride_) widen(static_cast<size_t>(publisher) + 1);
  const size_t at = static_cast<size_t>(seq >> 6) * stride_ + static_cast<size_t>(publisher);
  if (at >= words_.size()) words_.resize(std::max(at + stride_, words_.size() * 2) / stride_ * stride_, 0);
  const uint64_t bit = uint64_t{1} << (seq & 63);
  if (words_[at] & bit) return false;
  words_[at] |= bit;
  return true;
}

bool seen_set::contains(int publisher, int64_t seq) const {
  if (publisher < 0 || seq < 0 || static_cast<size_t>(publisher) >= stride_) return false;
  const size_t at = static_cast<size_t>(seq >> 6) * stride_ + static_cast<size_t>(publisher);
  return at < words_.size() && (words_[at] & (uint64_t{1} << (seq & 63))) != 0;
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

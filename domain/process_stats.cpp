#include "domain/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace vigil {

namespace {

std::optional<std::string> slurp(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

} // namespace

std::optional<proc_stat_fields> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may contain ") ", so fields start after the LAST ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> f; // f[0] = field 3 (state)
  size_t i = close + 1;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    if (j > i) f.push_back(text.substr(i, j - i));
    i = j;
  }
  // Field n (1-based, man 5 proc) is f[n - 3].
  auto field = [&](size_t n) -> std::optional<uint64_t> {
    if (n - 3 >= f.size()) return std::nullopt;
    return to_u64(f[n - 3]);
  };
  auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return proc_stat_fields{*utime, *stime, *start, *vsize, *rss};
}

std::optional<uint64_t> parse_boot_time(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, 6) == "btime ") return to_u64(line.substr(6));
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<process_stats> read_process_stats() {
  auto stat_text = slurp("/proc/self/stat");
  auto proc_text = slurp("/proc/stat");
  if (!stat_text || !proc_text) return std::nullopt;
  auto f = parse_proc_stat(*stat_text);
  auto btime = parse_boot_time(*proc_text);
  if (!f || !btime) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  process_stats s;
  s.cpu_seconds = static_cast<double>(f->utime_ticks + f->stime_ticks) / ticks;
  s.resident_bytes = f->rss_pages * page;
  s.virtual_bytes = f->vsize_bytes;
  s.start_time_seconds = static_cast<double>(*btime) + static_cast<double>(f->start_ticks) / ticks;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    s.open_fds = n > 0 ? n - 1 : 0; // less the descriptor of the listing itself
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = lim.rlim_cur;
  return s;
}

std::string process_metrics_text(const process_stats& s) {
  std::string out;
  auto add = [&](const char* name, const char* type, const char* help, const std::string& v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + v + "\n";
  };
  add("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
      format_double(s.cpu_seconds));
  add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
      std::to_string(s.resident_bytes));
  add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
      std::to_string(s.virtual_bytes));
  add("process_open_fds", "gauge", "Number of open file descriptors.", std::to_string(s.open_fds));
  add("process_max_fds", "gauge", "Maximum number of open file descriptors (soft limit).",
      std::to_string(s.max_fds));
  add("process_start_time_seconds", "gauge",
      "Start time of the process since unix epoch in seconds.",
      format_double(s.start_time_seconds));
  return out;
}

} // namespace vigil

#pragma once
// The standard Prometheus `process_*` metrics of this process, read from /proc/self (Linux),
// as the official client libraries export them, so that stock dashboards and alerts work.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

struct process_stats {
  double cpu_seconds = 0;        // user + system CPU time
  uint64_t resident_bytes = 0;   // RSS
  uint64_t virtual_bytes = 0;    // VSZ
  uint64_t open_fds = 0;         // entries of /proc/self/fd
  uint64_t max_fds = 0;          // soft RLIMIT_NOFILE
  double start_time_seconds = 0; // Unix time the process started
};

/// The fields of /proc/<pid>/stat that matter here, in the units of the file (clock ticks,
/// bytes, pages). The command name in parentheses may itself hold spaces and parentheses.
struct proc_stat_fields {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;      // since boot
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};
std::optional<proc_stat_fields> parse_proc_stat(std::string_view text);

/// "btime" (boot time, Unix seconds) from the text of /proc/stat.
std::optional<uint64_t> parse_boot_time(std::string_view text);

/// Reads /proc/self/stat, /proc/stat, /proc/self/fd and the fd limit; nullopt off Linux.
std::optional<process_stats> read_process_stats();

/// The Prometheus text of `s` (HELP, TYPE and one sample per metric).
std::string process_metrics_text(const process_stats& s);

} // namespace vigil

// The standard process_* metrics: /proc parsing and the values of this very process.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

#include "domain/process_stats.hpp"

using namespace vigil;

TEST(ProcStat, ParsesFieldsAfterACommandWithSpacesAndParentheses) {
  // 52 fields as in man 5 proc; comm "(a) b)" holds ") " itself.
  const std::string text =
    "1234 ((a) b)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 98765 "
    "123456789 4321 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
  auto f = parse_proc_stat(text);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->utime_ticks, 250u);
  EXPECT_EQ(f->stime_ticks, 50u);
  EXPECT_EQ(f->start_ticks, 98765u);
  EXPECT_EQ(f->vsize_bytes, 123456789u);
  EXPECT_EQ(f->rss_pages, 4321u);
  EXPECT_FALSE(parse_proc_stat("1234 (x) S 1 2"));
  EXPECT_FALSE(parse_proc_stat("garbage"));
}

TEST(ProcStat, BootTime) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1764633600\nprocesses 9\n"), 1764633600u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n"));
}

TEST(ProcessStats, ThisProcessIsSane) {
  auto s = read_process_stats();
  ASSERT_TRUE(s);
  EXPECT_GT(s->resident_bytes, 100u * 1024);
  EXPECT_GE(s->virtual_bytes, s->resident_bytes);
  EXPECT_GE(s->open_fds, 3u); // stdin, stdout, stderr
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  EXPECT_EQ(s->max_fds, lim.rlim_cur);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(s->start_time_seconds, now + 1);
  EXPECT_GT(s->start_time_seconds, now - 3600);
  EXPECT_GE(s->cpu_seconds, 0);
  const std::string text = process_metrics_text(*s);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"})
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name;
}

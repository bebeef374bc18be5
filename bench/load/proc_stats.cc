#include "bench/load/proc_stats.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace weft::bench {

std::optional<ProcStatus> ReadProcStatus(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/status"));
  if (!file) return std::nullopt;
  ProcStatus status;
  bool rss = false;
  bool threads = false;
  std::string line;
  while (std::getline(file, line)) {
    absl::string_view view = line;
    if (absl::ConsumePrefix(&view, "VmRSS:")) {
      view = absl::StripAsciiWhitespace(view);
      absl::ConsumeSuffix(&view, "kB");
      rss = absl::SimpleAtoi(absl::StripAsciiWhitespace(view), &status.rss_kib);
    } else if (absl::ConsumePrefix(&view, "Threads:")) {
      threads = absl::SimpleAtoi(absl::StripAsciiWhitespace(view), &status.threads);
    }
  }
  if (!rss || !threads) return std::nullopt;
  return status;
}

std::optional<double> ProcessCpuSeconds(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  const std::string stat = text.str();
  // The command (field 2) is parenthesised and may contain spaces: split after it.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return std::nullopt;
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  long long utime = 0;
  long long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return std::nullopt;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::optional<double> CpuBusySeconds(int cpu) {
  std::ifstream file("/proc/stat");
  if (!file) return std::nullopt;
  const std::string prefix = absl::StrCat("cpu", cpu, " ");
  std::string line;
  while (std::getline(file, line)) {
    if (!absl::StartsWith(line, prefix)) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(line).substr(prefix.size()), ' ', absl::SkipEmpty());
    // user nice system idle iowait irq softirq steal ...
    long long busy = 0;
    for (std::size_t i = 0; i < fields.size() && i < 8; ++i) {
      long long ticks = 0;
      if (!absl::SimpleAtoi(fields[i], &ticks)) return std::nullopt;
      if (i != 3 && i != 4) busy += ticks;
    }
    return static_cast<double>(busy) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

int PinnedCpu(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(pid, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) return cpu;
  }
  return -1;
}

double SelfCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::int64_t NowNanos() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace weft::bench

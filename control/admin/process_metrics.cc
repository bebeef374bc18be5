#include "control/admin/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "control/auth.h"
#include "weft/base/log.h"
#include "weft/descriptor_limit.h"

namespace weft::control::admin {
namespace {

// ProcStat: the fields of /proc/self/stat the metrics need (proc(5) numbering).
struct ProcStat {
  std::uint64_t utime_ticks = 0;      // field 14
  std::uint64_t stime_ticks = 0;      // field 15
  std::uint64_t starttime_ticks = 0;  // field 22, since boot
  std::uint64_t vsize_bytes = 0;      // field 23
  std::uint64_t rss_pages = 0;        // field 24
};

// ReadProc reads a /proc file through the control plane's one file reader; these are a few
// kilobytes at most (/proc/stat grows with the CPUs).
absl::StatusOr<std::string> ReadProc(const char* path) {
  constexpr std::size_t kMaxProcFileBytes = 1024 * 1024;
  return internal::ReadSmallFile(path, kMaxProcFileBytes, internal::FileAccess::kAny);
}

absl::StatusOr<ProcStat> ReadProcStat() {
  absl::StatusOr<std::string> text = ReadProc("/proc/self/stat");
  if (!text.ok()) return text.status();
  // The command name (field 2) is in parentheses and may itself contain spaces and ')': the
  // fields that follow start after the last ')'.
  const size_t paren = text->rfind(')');
  if (paren == std::string::npos) return absl::InternalError("/proc/self/stat: no ')'");
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(paren + 1), ' ', absl::SkipWhitespace());
  // fields[0] is field 3 (state).
  const auto field = [&fields](size_t number, std::uint64_t& out) {
    return number - 3 < fields.size() && absl::SimpleAtoi(fields[number - 3], &out);
  };
  ProcStat stat;
  if (!field(14, stat.utime_ticks) || !field(15, stat.stime_ticks) ||
      !field(22, stat.starttime_ticks) || !field(23, stat.vsize_bytes) ||
      !field(24, stat.rss_pages)) {
    return absl::InternalError("/proc/self/stat: unexpected format");
  }
  return stat;
}

// ReadBootTimeSeconds returns `btime` of /proc/stat: the boot time since the Unix epoch.
absl::StatusOr<std::uint64_t> ReadBootTimeSeconds() {
  absl::StatusOr<std::string> text = ReadProc("/proc/stat");
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::uint64_t seconds = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &seconds)) {
      return seconds;
    }
  }
  return absl::InternalError("/proc/stat: no btime line");
}

void LogOmitted(const char* metric, const absl::Status& status) {
  LOG_EVERY_N(WARNING, 100) << "metrics: " << metric << " left out: " << status;
}

void AppendSingle(MetricsWriter& writer, const char* name, MetricType type, const char* help,
                  double value) {
  writer.Family(name, type, help);
  writer.Sample(name, {}, value);
}

}  // namespace

void AppendProcessMetrics(MetricsWriter& writer) {
  if (absl::StatusOr<std::uint64_t> fds = CountOpenDescriptors(); fds.ok()) {
    AppendSingle(writer, "process_open_fds", MetricType::kGauge, "Number of open file descriptors.",
                 static_cast<double>(*fds));
  } else {
    LogOmitted("process_open_fds", fds.status());
  }

  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    AppendSingle(writer, "process_max_fds", MetricType::kGauge,
                 "Maximum number of open file descriptors.",
                 limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                                 : static_cast<double>(limit.rlim_cur));
  } else {
    LogOmitted("process_max_fds", absl::ErrnoToStatus(errno, "getrlimit(RLIMIT_NOFILE)"));
  }

  const absl::StatusOr<ProcStat> stat = ReadProcStat();
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (!stat.ok()) {
    LogOmitted(
        "process_{virtual,resident}_memory_bytes, process_cpu_seconds_total, "
        "process_start_time_seconds",
        stat.status());
    return;
  }
  AppendSingle(writer, "process_virtual_memory_bytes", MetricType::kGauge,
               "Virtual memory size in bytes.", static_cast<double>(stat->vsize_bytes));
  if (page_size > 0) {
    AppendSingle(writer, "process_resident_memory_bytes", MetricType::kGauge,
                 "Resident memory size in bytes.",
                 static_cast<double>(stat->rss_pages) * static_cast<double>(page_size));
  } else {
    LogOmitted("process_resident_memory_bytes",
               absl::InternalError("sysconf(_SC_PAGESIZE) failed"));
  }
  if (ticks_per_second <= 0) {
    LogOmitted("process_cpu_seconds_total, process_start_time_seconds",
               absl::InternalError("sysconf(_SC_CLK_TCK) failed"));
    return;
  }
  const double ticks = static_cast<double>(ticks_per_second);
  AppendSingle(writer, "process_cpu_seconds_total", MetricType::kCounter,
               "Total user and system CPU time spent in seconds.",
               static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks);
  if (absl::StatusOr<std::uint64_t> boot = ReadBootTimeSeconds(); boot.ok()) {
    AppendSingle(writer, "process_start_time_seconds", MetricType::kGauge,
                 "Start time of the process since unix epoch in seconds.",
                 static_cast<double>(*boot) + static_cast<double>(stat->starttime_ticks) / ticks);
  } else {
    LogOmitted("process_start_time_seconds", boot.status());
  }
}

}  // namespace weft::control::admin

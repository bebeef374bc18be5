#include "control/cpu_throttle.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "control/auth.h"

namespace weft::control {
namespace {

// The /proc and cgroup files read here are a few hundred bytes.
constexpr std::size_t kMaxFileBytes = 64 * 1024;

// Contents returns the text of `path`, or nullopt if it cannot be read.
std::optional<std::string> Contents(const std::string& path) {
  absl::StatusOr<std::string> text =
      internal::ReadSmallFile(path, kMaxFileBytes, internal::FileAccess::kAny);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

}  // namespace

std::vector<std::string> CpuStatPaths(absl::string_view proc_self_cgroup,
                                      absl::string_view cgroup_root) {
  // The hierarchy's mount and the cgroup's path in it.
  auto paths = [](std::string mount, absl::string_view cgroup) {
    std::vector<std::string> found;
    if (cgroup != "/") found.push_back(absl::StrCat(mount, cgroup, "/cpu.stat"));
    found.push_back(absl::StrCat(mount, "/cpu.stat"));
    return found;
  };
  std::vector<std::string> unified;
  for (absl::string_view line : absl::StrSplit(proc_self_cgroup, '\n', absl::SkipEmpty())) {
    // hierarchy-ID:controller-list:cgroup-path (the path may itself hold ':').
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3 || !absl::StartsWith(fields[2], "/")) continue;
    if (fields[0] == "0" && fields[1].empty()) {
      unified = paths(std::string(cgroup_root), fields[2]);
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(fields[1], ',')) {
      // v1 mounts the controller at its list's name (cpu, or co-mounted cpu,cpuacct).
      if (controller == "cpu") return paths(absl::StrCat(cgroup_root, "/", fields[1]), fields[2]);
    }
  }
  return unified;
}

std::optional<std::uint64_t> NrThrottled(absl::string_view cpu_stat) {
  for (absl::string_view line : absl::StrSplit(cpu_stat, '\n', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&line, "nr_throttled ")) continue;
    std::uint64_t count = 0;
    if (!absl::SimpleAtoi(line, &count)) return std::nullopt;
    return count;
  }
  return std::nullopt;
}

CpuThrottleWatch::CpuThrottleWatch(std::string proc_root, std::string cgroup_root)
    : proc_root_(std::move(proc_root)), cgroup_root_(std::move(cgroup_root)) {}

bool CpuThrottleWatch::Throttled(absl::Time now) {
  if (now - read_at_ >= kReadEvery) {
    read_at_ = now;
    if (now - resolved_at_ >= kResolveEvery) {
      resolved_at_ = now;
      const std::optional<std::string> cgroups = Contents(proc_root_ + "/self/cgroup");
      std::string found;
      if (cgroups.has_value()) {
        for (std::string& path : CpuStatPaths(*cgroups, cgroup_root_)) {
          if (access(path.c_str(), R_OK) != 0) continue;
          found = std::move(path);
          break;
        }
      }
      if (found != stat_path_) {
        stat_path_ = std::move(found);
        last_count_.reset();  // Another cgroup's count: not comparable.
      }
    }
    std::optional<std::uint64_t> count;
    if (!stat_path_.empty()) {
      const std::optional<std::string> stat = Contents(stat_path_);
      if (stat.has_value()) count = NrThrottled(*stat);
    }
    if (count.has_value() && last_count_.has_value() && *count > *last_count_) {
      throttled_at_ = now;
    }
    last_count_ = count;
  }
  return now - throttled_at_ < kRemember;
}

}  // namespace weft::control

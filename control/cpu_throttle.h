// CpuThrottleWatch: tells whether this process's CPU quota (CFS bandwidth control: Kubernetes'
// CPU limit, systemd's CPUQuota=, podman --cpus) has been running out, from its cgroup's
// cpu.stat (nr_throttled), in cgroup v1 (the cpu controller) or v2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace weft::control {

// CpuStatPaths returns the cpu.stat files that may be those of the cgroup `proc_self_cgroup`
// (the text of /proc/self/cgroup) names, under `cgroup_root` (/sys/fs/cgroup), most specific
// first: the v1 cpu controller's hierarchy when there is one, else the v2 unified hierarchy; the
// named cgroup's file, then the hierarchy root's (a container without its own cgroup namespace
// sees the host's path in /proc/self/cgroup, and its own cgroup mounted at the root). Empty when
// it names neither hierarchy. The files may not exist.
std::vector<std::string> CpuStatPaths(absl::string_view proc_self_cgroup,
                                      absl::string_view cgroup_root);

// NrThrottled returns the nr_throttled count (CFS periods in which the cgroup used up its quota
// and was stopped) of a cpu.stat's text; nullopt without one (no cpu controller).
std::optional<std::uint64_t> NrThrottled(absl::string_view cpu_stat);

// CpuThrottleWatch: not thread-safe (one owner: the event hub's delivery thread).
class CpuThrottleWatch {
 public:
  // How long a throttled period counts: a quota's period is 100 ms by default, and an unthrottled
  // turn inside a throttled second says nothing about the next.
  static constexpr absl::Duration kRemember = absl::Seconds(1);
  // How often cpu.stat is read (an open and a read): at most once per period.
  static constexpr absl::Duration kReadEvery = absl::Milliseconds(100);
  // How often the process's cgroup is looked up again (it may be moved to another one).
  static constexpr absl::Duration kResolveEvery = absl::Seconds(5);

  // Reads `proc_root`/self/cgroup and cpu.stat files under `cgroup_root`.
  explicit CpuThrottleWatch(std::string proc_root = "/proc",
                            std::string cgroup_root = "/sys/fs/cgroup");

  // Throttled returns true when the cgroup's nr_throttled grew within kRemember before `now`.
  // False where no quota can be seen (no cgroup cpu.stat, or an unreadable one): then nothing
  // is throttled as far as this process can tell. `now` must not go backwards.
  bool Throttled(absl::Time now);

 private:
  const std::string proc_root_;
  const std::string cgroup_root_;
  std::string stat_path_;  // Empty: none found.
  absl::Time resolved_at_ = absl::InfinitePast();
  absl::Time read_at_ = absl::InfinitePast();
  std::optional<std::uint64_t> last_count_;
  absl::Time throttled_at_ = absl::InfinitePast();
};

}  // namespace weft::control

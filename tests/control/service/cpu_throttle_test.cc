// CpuThrottleWatch: which cgroup's cpu.stat a process reads, and when its quota counts as
// running out.
#include "control/cpu_throttle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace weft::control {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(CpuStatPathsTest, CgroupV1ReadsTheCpuControllersHierarchy) {
  // As on a systemd machine with the v1 controllers mounted one each (and the hybrid 0:: line).
  EXPECT_THAT(CpuStatPaths("9:name=systemd:/\n4:memory:/a\n2:cpuacct:/\n1:cpu:/weft/x\n0::/\n",
                           "/sys/fs/cgroup"),
              ElementsAre("/sys/fs/cgroup/cpu/weft/x/cpu.stat", "/sys/fs/cgroup/cpu/cpu.stat"));
  // Co-mounted controllers: the mount is named by the list.
  EXPECT_THAT(CpuStatPaths("3:cpu,cpuacct:/system.slice/weftd.service\n", "/sys/fs/cgroup"),
              ElementsAre("/sys/fs/cgroup/cpu,cpuacct/system.slice/weftd.service/cpu.stat",
                          "/sys/fs/cgroup/cpu,cpuacct/cpu.stat"));
  EXPECT_THAT(CpuStatPaths("3:cpuacct,cpu:/\n", "/r"), ElementsAre("/r/cpuacct,cpu/cpu.stat"));
}

TEST(CpuStatPathsTest, CgroupV2ReadsTheUnifiedHierarchy) {
  EXPECT_THAT(
      CpuStatPaths("0::/kubepods.slice/pod1/ctr\n", "/sys/fs/cgroup"),
      ElementsAre("/sys/fs/cgroup/kubepods.slice/pod1/ctr/cpu.stat", "/sys/fs/cgroup/cpu.stat"));
  // In a container with its own cgroup namespace, its cgroup is the root.
  EXPECT_THAT(CpuStatPaths("0::/\n", "/sys/fs/cgroup"), ElementsAre("/sys/fs/cgroup/cpu.stat"));
  // A path holding ':' stays whole.
  EXPECT_THAT(CpuStatPaths("0::/a:b\n", "/c"), ElementsAre("/c/a:b/cpu.stat", "/c/cpu.stat"));
}

TEST(CpuStatPathsTest, NoCpuHierarchyIsNone) {
  EXPECT_THAT(CpuStatPaths("", "/sys/fs/cgroup"), IsEmpty());
  EXPECT_THAT(CpuStatPaths("4:memory:/a\n2:cpuacct:/\n", "/sys/fs/cgroup"), IsEmpty());
  EXPECT_THAT(CpuStatPaths("garbage\n1:cpu:relative\n", "/sys/fs/cgroup"), IsEmpty());
}

TEST(NrThrottledTest, ReadsTheCountOrNothing) {
  EXPECT_EQ(NrThrottled("nr_periods 120\nnr_throttled 17\nthrottled_time 99\n"), 17u);
  // v2: usage first, then the bandwidth counters.
  EXPECT_EQ(NrThrottled("usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 0\n"
                        "nr_throttled 0\nthrottled_usec 0\n"),
            0u);
  // v2 without the cpu controller enabled has the usage only.
  EXPECT_EQ(NrThrottled("usage_usec 5\nuser_usec 3\nsystem_usec 2\n"), std::nullopt);
  EXPECT_EQ(NrThrottled("nr_throttled many\n"), std::nullopt);
}

// FakeCgroups: a /proc and a /sys/fs/cgroup of a test's own, in a temporary directory.
class FakeCgroups {
 public:
  FakeCgroups() {
    std::string pattern = ::testing::TempDir() + "cpu_throttle_XXXXXX";
    const char* root = mkdtemp(pattern.data());
    EXPECT_NE(root, nullptr) << "mkdtemp: " << std::strerror(errno);
    if (root == nullptr) return;
    root_ = root;
    for (const char* dir : {"/proc", "/proc/self", "/cg", "/cg/cpu", "/cg/cpu/a", "/cg/cpu/b"}) {
      EXPECT_EQ(mkdir((root_ + dir).c_str(), 0755), 0);
    }
  }
  ~FakeCgroups() {
    std::error_code ignored;
    if (!root_.empty()) std::filesystem::remove_all(root_, ignored);
  }
  FakeCgroups(const FakeCgroups&) = delete;
  FakeCgroups& operator=(const FakeCgroups&) = delete;

  std::string proc() const { return root_ + "/proc"; }
  std::string cgroup() const { return root_ + "/cg"; }
  // MoveTo puts the process in cgroup `name` (v1 cpu controller).
  void MoveTo(const std::string& name) const {
    Write("/proc/self/cgroup", absl::StrCat("2:cpuacct:/\n1:cpu:/", name, "\n0::/\n"));
  }
  void SetThrottled(const std::string& name, std::uint64_t count) const {
    Write(absl::StrCat("/cg/cpu/", name, "/cpu.stat"),
          absl::StrCat("nr_periods 1000\nnr_throttled ", count, "\nthrottled_time 5\n"));
  }

 private:
  void Write(const std::string& path, const std::string& text) const {
    std::ofstream out(root_ + path, std::ios::trunc);
    out << text;
    EXPECT_TRUE(out.good()) << path;
  }

  std::string root_;
};

TEST(CpuThrottleWatchTest, ThrottledWhileTheCountGrowsAndForASecondAfter) {
  FakeCgroups cgroups;
  cgroups.MoveTo("a");
  cgroups.SetThrottled("a", 40);  // Throttled long before: the first look sets the baseline.
  CpuThrottleWatch watch(cgroups.proc(), cgroups.cgroup());
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  EXPECT_FALSE(watch.Throttled(now));

  cgroups.SetThrottled("a", 41);
  // Not read again before kReadEvery.
  EXPECT_FALSE(watch.Throttled(now + CpuThrottleWatch::kReadEvery / 2));
  now += CpuThrottleWatch::kReadEvery;
  EXPECT_TRUE(watch.Throttled(now));
  // No further growth: still throttled for kRemember, then not.
  EXPECT_TRUE(watch.Throttled(now + CpuThrottleWatch::kRemember / 2));
  EXPECT_TRUE(watch.Throttled(now + CpuThrottleWatch::kRemember - absl::Milliseconds(1)));
  EXPECT_FALSE(watch.Throttled(now + CpuThrottleWatch::kRemember));
}

TEST(CpuThrottleWatchTest, AnotherCgroupsCountIsABaselineNotGrowth) {
  FakeCgroups cgroups;
  cgroups.MoveTo("a");
  cgroups.SetThrottled("a", 5);
  cgroups.SetThrottled("b", 900);
  CpuThrottleWatch watch(cgroups.proc(), cgroups.cgroup());
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  EXPECT_FALSE(watch.Throttled(now));

  cgroups.MoveTo("b");  // Seen at the next lookup, kResolveEvery on.
  now += CpuThrottleWatch::kResolveEvery;
  EXPECT_FALSE(watch.Throttled(now));
  cgroups.SetThrottled("b", 901);
  now += CpuThrottleWatch::kReadEvery;
  EXPECT_TRUE(watch.Throttled(now));
}

TEST(CpuThrottleWatchTest, InAContainerWithoutItsOwnCgroupNamespaceTheRootIsItsCgroup) {
  FakeCgroups cgroups;
  cgroups.MoveTo("libpod_parent/libpod-1");  // The host's path: not mounted in the container.
  cgroups.SetThrottled(".", 7);              // The container's own cgroup, at the root.
  CpuThrottleWatch watch(cgroups.proc(), cgroups.cgroup());
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  EXPECT_FALSE(watch.Throttled(now));
  cgroups.SetThrottled(".", 8);
  now += CpuThrottleWatch::kReadEvery;
  EXPECT_TRUE(watch.Throttled(now));
}

TEST(CpuThrottleWatchTest, WithoutAReadableCpuStatNothingIsThrottled) {
  FakeCgroups cgroups;
  CpuThrottleWatch no_cgroup_file(cgroups.proc(), cgroups.cgroup());
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  EXPECT_FALSE(no_cgroup_file.Throttled(now));

  cgroups.MoveTo("a");  // a/cpu.stat does not exist.
  CpuThrottleWatch no_stat(cgroups.proc(), cgroups.cgroup());
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(no_stat.Throttled(now));
    now += CpuThrottleWatch::kResolveEvery;
  }
  // It appears (the cpu controller enabled later) and grows: throttled from then on.
  cgroups.SetThrottled("a", 1);
  EXPECT_FALSE(no_stat.Throttled(now));
  cgroups.SetThrottled("a", 2);
  now += CpuThrottleWatch::kReadEvery;
  EXPECT_TRUE(no_stat.Throttled(now));
}

}  // namespace
}  // namespace weft::control

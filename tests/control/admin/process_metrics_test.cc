#include "control/admin/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace weft::control::admin {
namespace {

// Scrape renders the process metrics and returns each unlabelled sample by name.
absl::flat_hash_map<std::string, double> Scrape() {
  MetricsWriter writer;
  AppendProcessMetrics(writer);
  absl::flat_hash_map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(std::move(writer).Finish(), '\n')) {
    if (line.empty() || line.front() == '#') continue;
    const std::pair<std::string, std::string> parts = absl::StrSplit(line, ' ');
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(parts.second, &value)) << line;
    samples[parts.first] = value;
  }
  return samples;
}

TEST(ProcessMetricsTest, ExportsEveryMetricWithPlausibleValues) {
  const absl::flat_hash_map<std::string, double> samples = Scrape();
  ASSERT_EQ(samples.size(), 6u);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(samples.at("process_max_fds"), static_cast<double>(limit.rlim_cur));
  EXPECT_GE(samples.at("process_open_fds"), 3);  // stdin, stdout, stderr at least
  EXPECT_LE(samples.at("process_open_fds"), samples.at("process_max_fds"));
  EXPECT_GT(samples.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(samples.at("process_virtual_memory_bytes"),
            samples.at("process_resident_memory_bytes"));
  EXPECT_GE(samples.at("process_cpu_seconds_total"), 0);
  // Started within the last hour, and not in the future (one second of rounding).
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(samples.at("process_start_time_seconds"), now + 1);
  EXPECT_GT(samples.at("process_start_time_seconds"), now - 3600);
}

TEST(ProcessMetricsTest, OpenFdsCountsADescriptorOpenedSinceTheLastScrape) {
  const double before = Scrape().at("process_open_fds");
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const double during = Scrape().at("process_open_fds");
  close(fd);
  EXPECT_EQ(during, before + 1);
  EXPECT_EQ(Scrape().at("process_open_fds"), before);
}

TEST(ProcessMetricsTest, CpuSecondsGrowWithWork) {
  const double before = Scrape().at("process_cpu_seconds_total");
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  // Burn CPU until the counter has moved by more than one tick (bounded by a deadline).
  const std::clock_t deadline = std::clock() + 10 * CLOCKS_PER_SEC;
  volatile unsigned sink = 0;
  while (Scrape().at("process_cpu_seconds_total") < before + 2 * tick && std::clock() < deadline) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i;
  }
  EXPECT_GE(Scrape().at("process_cpu_seconds_total"), before + 2 * tick);
}

}  // namespace
}  // namespace weft::control::admin

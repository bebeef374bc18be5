#include "weft/descriptor_limit.h"

#include <sys/resource.h>

#include <fstream>

#include <gtest/gtest.h>

namespace weft {
namespace {

rlimit Current() {
  rlimit limit{};
  EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  return limit;
}

// Each test runs in its own process (ctest runs one test per invocation), so changing this
// process's limit does not leak into other tests.
TEST(DescriptorLimitTest, RaisesALoweredSoftLimitToTheHardLimit) {
  rlimit limit = Current();
  // An unlimited hard limit is capped at the kernel's maximum.
  rlim_t expected = limit.rlim_max;
  if (expected == RLIM_INFINITY) {
    std::ifstream in("/proc/sys/fs/nr_open");
    ASSERT_TRUE(in >> expected);
  }
  ASSERT_GT(expected, 64u);
  limit.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);

  const absl::StatusOr<DescriptorLimit> raised = RaiseDescriptorLimit();
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(raised->before, 64u);
  EXPECT_EQ(raised->now, expected);
  EXPECT_EQ(Current().rlim_cur, expected);
}

TEST(DescriptorLimitTest, ALimitAlreadyAtTheHardLimitIsLeftAlone) {
  rlimit limit = Current();
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);

  const absl::StatusOr<DescriptorLimit> raised = RaiseDescriptorLimit();
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(raised->before, raised->now);
  EXPECT_EQ(Current().rlim_cur, limit.rlim_max);
}

TEST(DescriptorLimitTest, SoftDescriptorLimitReadsTheCurrentSoftLimit) {
  rlimit limit = Current();
  limit.rlim_cur = 200;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(SoftDescriptorLimit(), 200u);
  limit.rlim_cur = 300;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(SoftDescriptorLimit(), 300u) << "read anew on every call";
}

}  // namespace
}  // namespace weft

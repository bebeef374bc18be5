#include "weft/base/histogram.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::base {
namespace {

using ::testing::ElementsAre;

TEST(HistogramTest, CountsEachValueInTheFirstBucketWhoseBoundIsNotBelowIt) {
  Histogram histogram({1, 5, 10});
  for (double value : {0.5, 1.0, 1.5, 5.0, 10.0, 11.0, 100.0}) histogram.Observe(value);
  const HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_THAT(snapshot.upper_bounds, ElementsAre(1, 5, 10));
  EXPECT_THAT(snapshot.counts, ElementsAre(2, 2, 1, 2));
  EXPECT_EQ(snapshot.count, 7u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 129.0);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram histogram(DurationBucketsSeconds());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram] {
      for (int i = 0; i < kPerThread; ++i) histogram.Observe(0.25);
    });
  }
  for (std::thread& thread : threads) thread.join();
  const HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_EQ(snapshot.count, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.25 * kThreads * kPerThread);
}

TEST(HistogramDeathTest, RejectsBoundsThatDoNotIncrease) {
  EXPECT_DEATH(Histogram({1, 1}), "strictly increasing");
}

}  // namespace
}  // namespace weft::base

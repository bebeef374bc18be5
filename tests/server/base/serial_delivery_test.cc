#include "weft/base/serial_delivery.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/base/sync.h"

namespace weft {
namespace {

TEST(SerialDeliveryTest, PostDoesNotRunAndFlushRunsInPostOrder) {
  SerialDelivery delivery;
  std::vector<int> ran;
  for (int i = 0; i < 5; ++i) delivery.Post([&ran, i] { ran.push_back(i); });
  EXPECT_TRUE(ran.empty());
  delivery.Flush();
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3, 4}));
  delivery.Flush();
  EXPECT_EQ(ran.size(), 5u);
}

TEST(SerialDeliveryTest, ACallbackMayPostAndFlushAndItsPostRunsAfterIt) {
  SerialDelivery delivery;
  std::vector<int> ran;
  delivery.Post([&] {
    delivery.Post([&] { ran.push_back(2); });
    delivery.Flush();  // Re-entrant: returns at once; the outer Flush runs the new callback.
    ran.push_back(1);
  });
  delivery.Flush();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST(SerialDeliveryTest, FlushOnAnotherThreadWaitsUntilTheDelivererHasRunItsCallback) {
  SerialDelivery delivery;
  Notification first_running;
  Notification release_first;
  Mutex mu;
  std::vector<int> ran;
  delivery.Post([&] {
    first_running.Notify();
    ASSERT_TRUE(release_first.WaitForNotificationWithTimeout(absl::Seconds(10)));
    MutexLock lock(&mu);
    ran.push_back(1);
  });
  std::thread deliverer([&] { delivery.Flush(); });
  ASSERT_TRUE(first_running.WaitForNotificationWithTimeout(absl::Seconds(10)));
  delivery.Post([&] {
    MutexLock lock(&mu);
    ran.push_back(2);
  });
  Notification second_flushed;
  std::thread waiter([&] {
    delivery.Flush();  // The deliverer is busy: this waits for it to run callback 2.
    {
      MutexLock lock(&mu);
      EXPECT_EQ(ran, (std::vector<int>{1, 2}));
    }
    second_flushed.Notify();
  });
  EXPECT_FALSE(second_flushed.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  release_first.Notify();
  EXPECT_TRUE(second_flushed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  deliverer.join();
  waiter.join();
}

TEST(SerialDeliveryTest, ConcurrentPostersKeepEachPostersOrder) {
  SerialDelivery delivery;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  Mutex mu;
  std::vector<std::vector<int>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        delivery.Post([&, t, i] {
          MutexLock lock(&mu);
          seen[t].push_back(i);
        });
        delivery.Flush();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(seen[t][i], i);
  }
}

}  // namespace
}  // namespace weft

// DrainWaiter: the drain wakes when a connection ends or on Abort, and gives up at its deadline.
#include "control/daemon/drain_waiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"

namespace weft::control {
namespace {

ServerEvent Ended() {
  ServerEvent event;
  event.kind = ServerEvent::Kind::kTaskFinished;
  return event;
}

TEST(DrainWaiterTest, WakesOnEachEndedConnectionUntilDoneHolds) {
  DrainWaiter waiter;
  std::shared_ptr<ServerObserver> observer = waiter.Observer();
  std::atomic<int> open{3};
  std::thread closer([&] {
    for (int i = 0; i < 3; ++i) {
      open.fetch_sub(1);
      observer->OnEvent(Ended());
    }
  });
  EXPECT_TRUE(waiter.Wait([&] { return open.load() == 0; }, absl::InfiniteFuture()));
  closer.join();
  EXPECT_FALSE(waiter.aborted());
}

TEST(DrainWaiterTest, EventsOtherThanAnEndDoNotCountAndTheDeadlineEndsTheWait) {
  DrainWaiter waiter;
  ServerEvent started;
  started.kind = ServerEvent::Kind::kTaskStarted;
  waiter.Observer()->OnEvent(started);
  EXPECT_FALSE(waiter.Wait([] { return false; }, absl::Now() + absl::Milliseconds(20)));
}

TEST(DrainWaiterTest, AbortEndsAWaitThatNothingElseWouldEnd) {
  DrainWaiter waiter;
  std::thread aborter([&] { waiter.Abort(); });
  EXPECT_FALSE(waiter.Wait([] { return false; }, absl::InfiniteFuture()));
  aborter.join();
  EXPECT_TRUE(waiter.aborted());
  EXPECT_FALSE(waiter.Wait([] { return false; }, absl::InfiniteFuture())) << "abort is sticky";
}

}  // namespace
}  // namespace weft::control

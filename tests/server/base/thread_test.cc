// weft::base::Thread: a joinable thread with the stack size asked for.
#include "weft/base/thread.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <utility>

#include <gtest/gtest.h>

namespace weft::base {
namespace {

// OwnStackSize: the calling thread's stack size as the thread library reports it.
std::size_t OwnStackSize() {
  pthread_attr_t attr;
  EXPECT_EQ(::pthread_getattr_np(::pthread_self(), &attr), 0);
  std::size_t size = 0;
  EXPECT_EQ(::pthread_attr_getstacksize(&attr, &size), 0);
  ::pthread_attr_destroy(&attr);
  return size;
}

// Sizes here are at least 2 MiB: under a sanitizer, pthread_create raises a smaller stack to the
// sanitizer's own minimum (its TLS plus 128 KiB, under 1 MiB).
TEST(ThreadTest, RunsTheBodyOnItsOwnStackOfTheSizeAskedFor) {
  constexpr std::size_t kStack = 2 * 1024 * 1024;
  std::size_t seen = 0;
  absl::StatusOr<Thread> thread = Thread::Start(kStack, [&] { seen = OwnStackSize(); });
  ASSERT_TRUE(thread.ok()) << thread.status();
  EXPECT_TRUE(thread->joinable());
  thread->Join();
  EXPECT_FALSE(thread->joinable());
  // glibc may reuse a cached stack of up to 4 times the size asked for (one of another test's
  // threads).
  EXPECT_GE(seen, kStack);
  EXPECT_LE(seen, 4 * kStack);
}

TEST(ThreadTest, RoundsASizeUpToWholePages) {
  std::size_t seen = 0;
  constexpr std::size_t kStack = 2 * 1024 * 1024 + 1;
  absl::StatusOr<Thread> thread = Thread::Start(kStack, [&] { seen = OwnStackSize(); });
  ASSERT_TRUE(thread.ok()) << thread.status();
  thread->Join();
  EXPECT_GT(seen, kStack);
  EXPECT_EQ(seen % static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), 0u);
}

TEST(ThreadTest, JoinWaitsForTheBodyAndAMovedThreadIsJoinedThroughItsNewOwner) {
  std::atomic<bool> done{false};
  absl::StatusOr<Thread> started = Thread::Start(0, [&] { done.store(true); });
  ASSERT_TRUE(started.ok()) << started.status();
  Thread owner = *std::move(started);
  EXPECT_FALSE(started->joinable()) << "moved from";
  ASSERT_TRUE(owner.joinable());
  owner.Join();
  EXPECT_TRUE(done.load());
}

TEST(ThreadTest, DestroyingAJoinableThreadIsABug) {
  EXPECT_DEATH(
      {
        absl::StatusOr<Thread> thread = Thread::Start(0, [] {});
        ASSERT_TRUE(thread.ok());
      },
      "destroyed without being joined");
}

TEST(ThreadTest, UseBatchSchedulingChangesOnlyTheCallingThreadsPolicy) {
  const int caller_policy = ::sched_getscheduler(0);
  std::atomic<int> policy{-1};
  absl::StatusOr<Thread> thread = Thread::Start(0, [&] {
    const absl::Status status = UseBatchScheduling();
    EXPECT_TRUE(status.ok()) << status;
    policy.store(::sched_getscheduler(0));
  });
  ASSERT_TRUE(thread.ok()) << thread.status();
  thread->Join();
  EXPECT_EQ(policy.load(), SCHED_BATCH);
  EXPECT_EQ(::sched_getscheduler(0), caller_policy) << "the caller's own policy is untouched";
}

}  // namespace
}  // namespace weft::base

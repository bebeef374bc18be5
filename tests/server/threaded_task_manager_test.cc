// What only the threaded manager has: each task's thread gets the stack size of its options, and
// threads whose task ended wait in the idle-thread cache. The shared protocol is in
// task_manager_conformance_test.
#include "weft/threaded_task_manager.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "tests/testing/concurrent_tasks.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "weft/base/thread.h"

namespace weft {
namespace {

using ::weft::testing::CountThreads;
using ::weft::testing::kTestTimeout;
using ::weft::testing::WaitUntil;

// TaskStackSize runs one task on `manager` and returns its thread's stack size.
std::size_t TaskStackSize(ThreadedTaskManager& manager) {
  std::atomic<std::size_t> size{0};
  absl::Notification ran;
  EXPECT_TRUE(manager
                  .AddTask([&] {
                    pthread_attr_t attr;
                    std::size_t bytes = 0;
                    if (::pthread_getattr_np(::pthread_self(), &attr) == 0) {
                      ::pthread_attr_getstacksize(&attr, &bytes);
                      ::pthread_attr_destroy(&attr);
                    }
                    size.store(bytes);
                    ran.Notify();
                  })
                  .ok());
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(kTestTimeout));
  return size.load();
}

// glibc may hand a new thread a cached stack of up to 4 times the size asked for, so a size is
// checked as a range that excludes the process default (8 MiB). The option's case asks for
// 2 MiB: under a sanitizer, pthread_create raises a smaller stack to the sanitizer's minimum
// (its TLS plus 128 KiB, under 1 MiB).
TEST(ThreadedTaskManagerTest, ATaskThreadHasTheDefaultStackOfOneMebibyte) {
  EXPECT_EQ(ThreadedTaskManagerOptions::kDefaultStackSize, 1024u * 1024);
  ThreadedTaskManager manager;
  const std::size_t size = TaskStackSize(manager);
  EXPECT_GE(size, 1024u * 1024);
  EXPECT_LE(size, 4u * 1024 * 1024);
}

TEST(ThreadedTaskManagerTest, ATaskThreadHasTheStackSizeOfItsOptions) {
  ThreadedTaskManager manager(ThreadedTaskManagerOptions{.stack_size = 2 * 1024 * 1024});
  const std::size_t size = TaskStackSize(manager);
  EXPECT_GE(size, 2u * 1024 * 1024);
  EXPECT_LT(size, 8u * 1024 * 1024);
}

TEST(ThreadedTaskManagerTest, ATaskThreadHasTheManagerCreatorsPolicyNotTheAddingThreads) {
  // The server's accept loop, which adds the tasks, is a SCHED_BATCH thread; a thread it starts
  // would inherit that policy.
  ThreadedTaskManager manager;
  std::atomic<int> policy{-1};
  std::thread adder([&] {
    EXPECT_TRUE(base::UseBatchScheduling().ok());
    EXPECT_TRUE(manager.AddTask([&policy] { policy.store(::sched_getscheduler(0)); }).ok());
  });
  adder.join();
  ASSERT_TRUE(WaitUntil([&] { return policy.load() != -1; }));
  EXPECT_EQ(policy.load(), ::sched_getscheduler(0));
}

// RunOnce runs one task on `manager`, waits until it has ended and returns its thread's id.
pid_t RunOnce(ThreadedTaskManager& manager) {
  // Shared with the task: after a failed wait it may still run.
  auto tid = std::make_shared<std::atomic<pid_t>>(0);
  EXPECT_TRUE(manager.AddTask([tid] { tid->store(::gettid()); }).ok());
  EXPECT_TRUE(WaitUntil([&] { return manager.AllTasks().empty(); }));
  return tid->load();
}

// kLongIdle: an idle timeout no test outlasts, so a cached thread stays until the test ends.
constexpr absl::Duration kLongIdle = absl::Hours(1);

TEST(ThreadedTaskManagerTest, AThreadWhoseTaskEndedRunsTheNextTask) {
  const int threads_before = testing::SettledThreadCount();
  ThreadedTaskManager manager(ThreadedTaskManagerOptions{.idle_thread_timeout = kLongIdle});
  const pid_t first = RunOnce(manager);
  ASSERT_TRUE(WaitUntil([&] { return manager.Stats().idle_threads == 1; }));
  EXPECT_EQ(CountThreads(), threads_before + 1) << "the cached thread is still there";
  EXPECT_EQ(RunOnce(manager), first) << "the second task ran on the first task's thread";
  EXPECT_TRUE(WaitUntil([&] { return manager.Stats().idle_threads == 1; }));
  EXPECT_EQ(CountThreads(), threads_before + 1) << "no thread was started for the second task";
}

TEST(ThreadedTaskManagerTest, WithoutTheCacheAThreadExitsWhenItsTaskEnds) {
  const int threads_before = testing::SettledThreadCount();
  ThreadedTaskManager manager(ThreadedTaskManagerOptions{.idle_threads = 0});
  RunOnce(manager);
  EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before; }));
  EXPECT_EQ(manager.Stats().idle_threads, 0u);
}

TEST(ThreadedTaskManagerTest, ACachedThreadExitsAfterTheIdleTimeout) {
  const int threads_before = testing::SettledThreadCount();
  ThreadedTaskManager manager(
      ThreadedTaskManagerOptions{.idle_thread_timeout = absl::Milliseconds(50)});
  RunOnce(manager);
  EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before; }));
  EXPECT_EQ(manager.Stats().idle_threads, 0u);
}

TEST(ThreadedTaskManagerTest, TheCacheKeepsAtMostIdleThreadsThreads) {
  const int threads_before = testing::SettledThreadCount();
  ThreadedTaskManager manager(
      ThreadedTaskManagerOptions{.idle_threads = 2, .idle_thread_timeout = kLongIdle});
  ASSERT_TRUE(testing::RunTogether(manager, 5).ok());
  EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before + 2; }))
      << CountThreads() << " threads, " << threads_before << " before";
  EXPECT_EQ(manager.Stats().idle_threads, 2u);
}

TEST(ThreadedTaskManagerTest, StopAllTasksAndTheDestructorReturnWithTheCachedThreadsJoined) {
  const int threads_before = testing::SettledThreadCount();
  {
    ThreadedTaskManager manager(ThreadedTaskManagerOptions{.idle_thread_timeout = kLongIdle});
    RunOnce(manager);
    ASSERT_TRUE(WaitUntil([&] { return manager.Stats().idle_threads == 1; }));
    manager.StopAllTasks(absl::ZeroDuration());
    // Joined; a joined thread leaves /proc/self/task a moment after its join returns.
    EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before; }))
        << "StopAllTasks joined the cached thread";
    EXPECT_EQ(manager.Stats().idle_threads, 0u);
    RunOnce(manager);  // The manager goes on working, and caches again.
    ASSERT_TRUE(WaitUntil([&] { return manager.Stats().idle_threads == 1; }));
  }
  EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before; }))
      << "the destructor joined the cached thread";
}

}  // namespace
}  // namespace weft

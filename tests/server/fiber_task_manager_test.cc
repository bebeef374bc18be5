// What only the fiber manager has: many tasks per thread, per-fiber task context, Yield,
// RunBlocking, and guard-paged stacks. The shared protocol is in task_manager_conformance_test.
#include "weft/fiber_task_manager.h"

#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/loopback_client.h"
#include "tests/testing/pipe.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"
#include "weft/connection.h"
#include "weft/fiber.h"
#include "weft/task_context.h"
#include "weft/unique_fd.h"

namespace weft {
namespace {

using ::weft::testing::kTestTimeout;
using ::weft::testing::WaitUntil;

using ::weft::testing::Pipe;

TEST(FiberTaskManagerTest, KindIsFiberAndItHasNoLimitByDefault) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  EXPECT_EQ(manager.kind(), "fiber");
  EXPECT_EQ(manager.limit(), std::nullopt);
  EXPECT_FALSE(manager.RunsTasksOnCaller());
}

TEST(FiberTaskManagerTest, ThousandsOfParkedTasksShareOneSchedulerThreadAndEachKeepsItsOwnId) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer keeps a full thread state per fiber: thousands take a minute.
  constexpr int kTasks = 200;
#else
  constexpr int kTasks = 2000;
#endif
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<TaskId> ids(kTasks);
  std::atomic<int> parked{0};
  std::atomic<int> right_id{0};
  std::mutex threads_mu;
  std::set<std::thread::id> threads;
  for (int i = 0; i < kTasks; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    absl::StatusOr<TaskId> id = manager.AddTask(
        [fd = pipes.back()->task_end, i, &ids, &parked, &right_id, &threads_mu, &threads] {
          Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
          {
            std::lock_guard<std::mutex> lock(threads_mu);
            threads.insert(std::this_thread::get_id());
          }
          parked.fetch_add(1);
          char byte;
          absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&byte, 1));
          // Every other task ran on this thread meanwhile: the id must still be ours.
          if (n.ok() && *n == 1 && CurrentTaskId() == ids[i]) right_id.fetch_add(1);
        });
    ASSERT_TRUE(id.ok()) << id.status();
    ids[i] = *id;
  }
  ASSERT_TRUE(WaitUntil([&] { return parked.load() == kTasks; }));
  EXPECT_EQ(manager.Stats().running, static_cast<std::size_t>(kTasks));
  {
    std::lock_guard<std::mutex> lock(threads_mu);
    EXPECT_EQ(threads.size(), 1u);
  }
  for (int i = kTasks - 1; i >= 0; --i) ASSERT_EQ(::write(pipes[i]->test_end.get(), "x", 1), 1);
  EXPECT_TRUE(WaitUntil([&] { return manager.AllTasks().empty(); }));
  EXPECT_EQ(right_id.load(), kTasks);
}

TEST(FiberTaskManagerTest, YieldLetsTheOtherFibersOfTheSchedulerRun) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  std::atomic<bool> other_ran{false};
  std::atomic<bool> saw_other{false};
  Notification done;
  ASSERT_TRUE(manager
                  .AddTask([&] {
                    // Spins until the other task has run: without Yield, it never could.
                    const absl::Time until = absl::Now() + kTestTimeout;
                    while (!other_ran.load() && absl::Now() < until) Yield();
                    saw_other = other_ran.load();
                    done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(manager.AddTask([&] { other_ran = true; }).ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(saw_other.load());
}

TEST(FiberTaskManagerTest, YieldAndRunBlockingWorkOutsideAFiber) {
  EXPECT_FALSE(InFiber());
  Yield();
  EXPECT_EQ(RunBlocking([] { return 42; }), 42);
}

TEST(FiberTaskManagerTest, RunBlockingParksTheFiberWhileItsSchedulerServesOthers) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  Notification blocking_started;
  Notification release;
  std::atomic<int> result{0};
  std::atomic<bool> in_fiber{false};
  Notification blocker_done;
  ASSERT_TRUE(manager
                  .AddTask([&] {
                    in_fiber = InFiber();
                    result = RunBlocking([&] {
                      blocking_started.Notify();
                      release.WaitForNotification();  // Blocks a helper thread, not the fiber's.
                      return 7;
                    });
                    blocker_done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(blocking_started.WaitForNotificationWithTimeout(kTestTimeout));
  Notification other;
  ASSERT_TRUE(manager.AddTask([&] { other.Notify(); }).ok());
  EXPECT_TRUE(other.WaitForNotificationWithTimeout(kTestTimeout))
      << "the scheduler was blocked by RunBlocking";
  release.Notify();
  ASSERT_TRUE(blocker_done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(in_fiber.load());
  EXPECT_EQ(result.load(), 7);
}

TEST(FiberTaskManagerTest, RunBlockingRethrowsInTheFiber) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  std::atomic<bool> caught{false};
  Notification done;
  ASSERT_TRUE(manager
                  .AddTask([&] {
                    try {
                      RunBlocking([] { throw std::runtime_error("from the helper"); });
                    } catch (const std::runtime_error& e) {
                      caught = std::strcmp(e.what(), "from the helper") == 0;
                    }
                    done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(caught.load());
}

TEST(FiberTaskManagerTest, StopAllTasksStopsParkedFibersOnEverySchedulerAndTheManagerGoesOn) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 2});
  constexpr int kTasks = 100;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::atomic<int> parked{0};
  std::atomic<int> cancelled{0};
  for (int i = 0; i < kTasks; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    ASSERT_TRUE(manager
                    .AddTask([fd = pipes.back()->task_end, &parked, &cancelled] {
                      Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
                      parked.fetch_add(1);
                      char byte;
                      if (absl::IsCancelled(connection.Read(absl::MakeSpan(&byte, 1)).status())) {
                        cancelled.fetch_add(1);
                      }
                    })
                    .ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return parked.load() == kTasks; }));
  const StopReport report = manager.StopAllTasks(absl::Seconds(30));
  EXPECT_EQ(report.cooperative, static_cast<std::size_t>(kTasks));
  EXPECT_EQ(cancelled.load(), kTasks);
  Notification next;
  ASSERT_TRUE(manager.AddTask([&] { next.Notify(); }).ok());
  EXPECT_TRUE(next.WaitForNotificationWithTimeout(kTestTimeout));
}

TEST(FiberTaskManagerTest, AFiberStopsOtherFibersOfItsOwnSchedulerWithStopTasks) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1});
  constexpr int kTasks = 3;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<TaskId> ids;
  std::atomic<int> parked{0};
  for (int i = 0; i < kTasks; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    absl::StatusOr<TaskId> id = manager.AddTask([fd = pipes.back()->task_end, &parked] {
      Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
      parked.fetch_add(1);
      char byte;
      (void)connection.Read(absl::MakeSpan(&byte, 1));
    });
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  ASSERT_TRUE(WaitUntil([&] { return parked.load() == kTasks; }));
  // The stopper shares the only scheduler thread with the tasks it waits for: its wait must
  // park the fiber, or nothing could ever end.
  StopReport report;
  Notification done;
  ASSERT_TRUE(manager
                  .AddTask([&] {
                    report = manager.StopTasks(ids, absl::Seconds(30));
                    done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_EQ(report.cooperative, static_cast<std::size_t>(kTasks));
  EXPECT_EQ(report.forced, 0u);
}

// Recurse deeper than any stack: the frame keeps a buffer the compiler cannot drop.
int Recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) return frame[0];
  return Recurse(depth - 1) + frame[0];
}

TEST(FiberTaskManagerDeathTest, AStackOverflowHitsTheGuardPageAndKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1, .stack_size = 16 * 1024});
        Notification done;
        std::atomic<int> sink{0};
        (void)manager.AddTask([&] {
          sink = Recurse(1 << 20);  // ~1 GiB of frames: far past any stack.
          done.Notify();
        });
        done.WaitForNotificationWithTimeout(kTestTimeout);
        std::fprintf(stderr, "survived %d\n", sink.load());
        std::exit(0);
      },
      "");
}

TEST(FiberTaskManagerTest, AStackOfTheConfiguredSizeHoldsFramesWellWithinIt) {
  FiberTaskManager manager(FiberTaskManagerOptions{.threads = 1, .stack_size = 256 * 1024});
  std::atomic<int> sink{-1};
  Notification done;
  ASSERT_TRUE(manager
                  .AddTask([&] {
                    sink = Recurse(100);  // ~100 KiB of frames.
                    done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_GE(sink.load(), 0);
}

}  // namespace
}  // namespace weft

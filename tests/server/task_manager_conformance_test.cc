// The task manager protocol, run against every built-in manager: one typed suite.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/pipe.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"
#include "weft/connection.h"
#include "weft/fiber.h"
#include "weft/fiber_task_manager.h"
#include "weft/pool_task_manager.h"
#include "weft/single_threaded_task_manager.h"
#include "weft/task_context.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Not;
using ::weft::testing::kTestTimeout;
using ::weft::testing::WaitUntil;

// Each trait builds a manager with room for at least 4 running tasks (SingleThreaded: 1) and
// says how tasks get a thread. Managers that run tasks on the caller need a pump thread.
struct ThreadedTraits {
  static TaskManagerPtr Make() { return std::make_unique<ThreadedTaskManager>(); }
  static constexpr std::size_t kConcurrency = 4;
};
struct LimitedThreadedTraits {
  static TaskManagerPtr Make() {
    return std::make_unique<ThreadedTaskManager>(ThreadedTaskManagerOptions{.limit = 4});
  }
  static constexpr std::size_t kConcurrency = 4;
};
struct PoolTraits {
  static TaskManagerPtr Make() {
    return std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 4});
  }
  static constexpr std::size_t kConcurrency = 4;
};
struct SingleThreadedTraits {
  static TaskManagerPtr Make() { return std::make_unique<SingleThreadedTaskManager>(); }
  static constexpr std::size_t kConcurrency = 1;
};
// Fibers: every task of one scheduler shares its thread, so one scheduler is the hard case.
struct FiberOneSchedulerTraits {
  static TaskManagerPtr Make() {
    return std::make_unique<FiberTaskManager>(FiberTaskManagerOptions{.threads = 1});
  }
  static constexpr std::size_t kConcurrency = 4;
};
struct FiberTwoSchedulersTraits {
  static TaskManagerPtr Make() {
    return std::make_unique<FiberTaskManager>(FiberTaskManagerOptions{.threads = 2});
  }
  static constexpr std::size_t kConcurrency = 4;
};

using ::weft::testing::Pipe;

// RecordingStopListener keeps what a manager reports about its stops.
class RecordingStopListener final : public StopListener {
 public:
  void OnStopProgress(const StopProgress& progress) override {
    MutexLock lock(&mu_);
    progress_.push_back(progress);
  }
  void OnTaskStuck(const TaskInfo& task, absl::Duration since_request) override {
    MutexLock lock(&mu_);
    stuck_.push_back(task);
    stuck_for_.push_back(since_request);
  }
  std::vector<StopProgress> progress() const {
    MutexLock lock(&mu_);
    return progress_;
  }
  std::vector<TaskInfo> stuck() const {
    MutexLock lock(&mu_);
    return stuck_;
  }
  std::vector<absl::Duration> stuck_for() const {
    MutexLock lock(&mu_);
    return stuck_for_;
  }

 private:
  mutable Mutex mu_;
  std::vector<StopProgress> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<TaskInfo> stuck_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> stuck_for_ ABSL_GUARDED_BY(mu_);
};

template <typename Traits>
class TaskManagerConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override { manager_ = Traits::Make(); }

  void TearDown() override {
    manager_->StopAllTasks(absl::ZeroDuration());
    for (std::thread& t : pumps_) t.join();
    manager_.reset();
  }

  // Add adds a task and, for managers without threads, starts a pump to run it.
  TaskId Add(Thunk thunk) {
    absl::StatusOr<TaskId> id = manager_->AddTask(std::move(thunk));
    CHECK(id.ok()) << id.status();
    if (manager_->RunsTasksOnCaller()) {
      pumps_.emplace_back([this] { manager_->RunPendingTasks(); });
    }
    return *id;
  }

  // AddBlockedReader adds a task that blocks reading `pipe`; when its read fails (shutdown) it
  // records the status code, then sets *finished just before returning.
  TaskId AddBlockedReader(Pipe& pipe, std::atomic<bool>* finished, Notification* started,
                          std::atomic<int>* read_code = nullptr) {
    return Add([fd = pipe.task_end, finished, started, read_code] {
      Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
      started->Notify();
      char byte;
      absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&byte, 1));
      if (read_code != nullptr) read_code->store(static_cast<int>(n.status().code()));
      finished->store(true);
    });
  }

  // AddHeldTasks adds `n` tasks labelled "p0", "p1", ... that block reading a pipe until they
  // are stopped (queued beyond the manager's limit); returns their ids.
  std::vector<TaskId> AddHeldTasks(int n) {
    std::vector<TaskId> ids;
    for (int i = 0; i < n; ++i) {
      Pipe& pipe = held_pipes_.emplace_back();
      // A queued task dropped without running still closes its end.
      absl::StatusOr<TaskId> id = manager_->AddTask(TaskSpec{
          [fd = UniqueFd(pipe.task_end)]() mutable {
            Connection connection(fd.Release(), Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
            char byte;
            (void)connection.Read(absl::MakeSpan(&byte, 1));
          },
          absl::StrCat("p", i)});
      CHECK(id.ok()) << id.status();
      ids.push_back(*id);
      if (manager_->RunsTasksOnCaller()) {
        pumps_.emplace_back([this] { manager_->RunPendingTasks(); });
      }
    }
    return ids;
  }

  TaskManagerPtr manager_;
  std::vector<std::thread> pumps_;
  std::deque<Pipe> held_pipes_;  // Outlive the tasks (TearDown stops them first).
};

using Managers =
    ::testing::Types<ThreadedTraits, LimitedThreadedTraits, PoolTraits, SingleThreadedTraits,
                     FiberOneSchedulerTraits, FiberTwoSchedulersTraits>;
TYPED_TEST_SUITE(TaskManagerConformanceTest, Managers);

TYPED_TEST(TaskManagerConformanceTest, AddTaskRunsEveryThunkUnderAUniqueNonZeroId) {
  constexpr int kTasks = 20;
  std::atomic<int> ran{0};
  std::vector<TaskId> ids;
  for (int i = 0; i < kTasks; ++i) ids.push_back(this->Add([&ran] { ran.fetch_add(1); }));
  EXPECT_TRUE(WaitUntil([&] { return ran.load() == kTasks; }));
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_THAT(ids, Not(Contains(TaskId{0})));
  EXPECT_TRUE(WaitUntil([&] { return this->manager_->AllTasks().empty(); }));
}

TYPED_TEST(TaskManagerConformanceTest, TaskSeesItsOwnIdAndNoShutdownRequest) {
  std::atomic<TaskId> seen{0};
  std::atomic<bool> shutdown{true};
  Notification done;
  const TaskId id = this->Add([&] {
    seen.store(CurrentTaskId().value_or(0));
    shutdown.store(ShutdownRequested());
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_EQ(seen.load(), id);
  EXPECT_FALSE(shutdown.load());
  EXPECT_FALSE(ShutdownRequested()) << "outside a task the flag is always false";
  EXPECT_EQ(CurrentTaskId(), std::nullopt);
}

TYPED_TEST(TaskManagerConformanceTest, AllTasksListsARunningTaskUntilItFinishes) {
  Pipe pipe;
  std::atomic<bool> finished{false};
  Notification started;
  const TaskId id = this->AddBlockedReader(pipe, &finished, &started);
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_THAT(this->manager_->AllTasks(), Contains(id));
  pipe.test_end.Reset();  // EOF ends the reader.
  EXPECT_TRUE(WaitUntil([&] { return this->manager_->AllTasks().empty(); }));
  EXPECT_TRUE(finished.load());
}

TYPED_TEST(TaskManagerConformanceTest, StopTaskReturnsOnlyAfterTheTaskHasReturned) {
  Pipe pipe;
  std::atomic<bool> finished{false};
  std::atomic<int> read_code{-1};
  Notification started;
  const TaskId id = this->AddBlockedReader(pipe, &finished, &started, &read_code);
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(this->manager_->StopTask(id, absl::Seconds(30)));
  EXPECT_TRUE(finished.load()) << "StopTask returned before the task did";
  EXPECT_EQ(read_code.load(), static_cast<int>(absl::StatusCode::kCancelled))
      << "a blocked read must be woken with CANCELLED, cooperatively, well before the grace";
  EXPECT_THAT(this->manager_->AllTasks(), IsEmpty());
}

TYPED_TEST(TaskManagerConformanceTest, StopTaskOfAnUnknownIdReturnsFalse) {
  EXPECT_FALSE(this->manager_->StopTask(987654321));
  EXPECT_FALSE(this->manager_->RemoveTask(987654321));
}

TYPED_TEST(TaskManagerConformanceTest, StopTaskShutsDownTheSocketOfATaskThatIgnoresTheFlag) {
  Pipe pipe;
  Notification started;
  std::atomic<bool> saw_eof{false};
  const TaskId id = this->Add([fd = pipe.task_end, &started, &saw_eof] {
    Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
    started.Notify();
    // Deliberately bypass the Connection: wait on the raw descriptor, ignoring shutdown.
    pollfd p{connection.fd(), POLLIN, 0};
    ::poll(&p, 1, -1);
    char byte;
    saw_eof.store(::read(connection.fd(), &byte, 1) == 0);
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(this->manager_->StopTask(id, absl::Milliseconds(50)));
  EXPECT_TRUE(saw_eof.load()) << "the forced shutdown should have ended the raw read";
}

TYPED_TEST(TaskManagerConformanceTest, RemoveTaskInterruptsARunningTaskAndNeverForgetsIt) {
  Pipe pipe;
  std::atomic<bool> finished{false};
  Notification started;
  const TaskId id = this->AddBlockedReader(pipe, &finished, &started);
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_TRUE(this->manager_->RemoveTask(id));
  EXPECT_TRUE(WaitUntil([&] { return this->manager_->AllTasks().empty(); }));
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(this->manager_->RemoveTask(id)) << "a finished task is gone";
}

TYPED_TEST(TaskManagerConformanceTest, ThreadShutdownEndsTheTaskAndTheManagerGoesOn) {
  Notification threw;
  std::atomic<bool> after_throw{false};
  this->Add([&] {
    threw.Notify();
    throw ThreadShutdown{};
    after_throw.store(true);
  });
  ASSERT_TRUE(threw.WaitForNotificationWithTimeout(kTestTimeout));
  Notification next;
  this->Add([&] { next.Notify(); });
  EXPECT_TRUE(next.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_FALSE(after_throw.load());
}

TYPED_TEST(TaskManagerConformanceTest, ThreadShutdownIsNotCaughtByStdExceptionHandlers) {
  std::atomic<bool> swallowed{false};
  Notification done;
  this->Add([&] {
    struct Notify {
      Notification* n;
      ~Notify() { n->Notify(); }
    } notify{&done};
    try {
      throw ThreadShutdown{};
    } catch (const std::exception&) {
      swallowed.store(true);
    }
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_FALSE(swallowed.load());
}

TYPED_TEST(TaskManagerConformanceTest, RequestShutdownSetsTheTasksOwnFlag) {
  std::atomic<bool> before{true};
  std::atomic<bool> after{false};
  Notification done;
  this->Add([&] {
    before.store(ShutdownRequested());
    RequestShutdown();
    after.store(ShutdownRequested());
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_FALSE(before.load());
  EXPECT_TRUE(after.load());
}

TYPED_TEST(TaskManagerConformanceTest, AThrowingTaskDoesNotTakeTheManagerDown) {
  this->Add([] { throw std::runtime_error("handler bug"); });
  this->Add([] { throw 42; });
  Notification next;
  this->Add([&] { next.Notify(); });
  EXPECT_TRUE(next.WaitForNotificationWithTimeout(kTestTimeout));
}

TYPED_TEST(TaskManagerConformanceTest, StopAllTasksReportsCooperativeAndForcedEndings) {
  Pipe cooperative_pipe;
  std::atomic<bool> cooperative_finished{false};
  Notification cooperative_started;
  this->AddBlockedReader(cooperative_pipe, &cooperative_finished, &cooperative_started);
  ASSERT_TRUE(cooperative_started.WaitForNotificationWithTimeout(kTestTimeout));
  const StopReport report = this->manager_->StopAllTasks(absl::Seconds(30));
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(report.forced, 0u);
  EXPECT_TRUE(cooperative_finished.load());
  EXPECT_THAT(this->manager_->AllTasks(), IsEmpty());
  // The manager stays usable.
  Notification next;
  this->Add([&] { next.Notify(); });
  EXPECT_TRUE(next.WaitForNotificationWithTimeout(kTestTimeout));
}

TYPED_TEST(TaskManagerConformanceTest, StopTasksStopsOnlyTheGivenTasksTogetherAndCountsThem) {
  const std::size_t n = TypeParam::kConcurrency;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::unique_ptr<Notification>> started;
  std::vector<std::unique_ptr<std::atomic<bool>>> finished;
  std::vector<TaskId> ids;
  for (std::size_t i = 0; i < n; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    started.push_back(std::make_unique<Notification>());
    finished.push_back(std::make_unique<std::atomic<bool>>(false));
    ids.push_back(this->AddBlockedReader(*pipes[i], finished[i].get(), started[i].get()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(started[i]->WaitForNotificationWithTimeout(kTestTimeout)) << "task " << i;
  }
  // All but the last (one task if only one runs), a duplicate and an unknown id.
  const std::size_t stopped = n > 1 ? n - 1 : 1;
  std::vector<TaskId> to_stop(ids.begin(), ids.begin() + stopped);
  to_stop.push_back(ids[0]);
  to_stop.push_back(987654321);
  const StopReport report = this->manager_->StopTasks(to_stop, absl::Seconds(30));
  EXPECT_EQ(report.cooperative, stopped);
  EXPECT_EQ(report.forced, 0u);
  EXPECT_EQ(report.dropped, 0u);
  for (std::size_t i = 0; i < stopped; ++i) EXPECT_TRUE(finished[i]->load()) << "task " << i;
  if (stopped < n) {
    EXPECT_FALSE(finished[n - 1]->load()) << "a task not named was stopped";
    EXPECT_THAT(this->manager_->AllTasks(), Contains(ids[n - 1]));
  }
  EXPECT_EQ(this->manager_->StopTasks({ids[0]}, absl::Seconds(30)).cooperative, 0u)
      << "an ended task is ignored";
  // Before the pipes and flags the untouched task uses go.
  EXPECT_EQ(this->manager_->StopAllTasks(absl::Seconds(30)).cooperative, n - stopped);
}

TYPED_TEST(TaskManagerConformanceTest, StopTasksDropsAQueuedTaskWithoutRunningIt) {
  const std::size_t n = TypeParam::kConcurrency;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::unique_ptr<Notification>> started;
  std::vector<std::unique_ptr<std::atomic<bool>>> finished;
  for (std::size_t i = 0; i < n; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    started.push_back(std::make_unique<Notification>());
    finished.push_back(std::make_unique<std::atomic<bool>>(false));
    this->AddBlockedReader(*pipes[i], finished[i].get(), started[i].get());
  }
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(started[i]->WaitForNotificationWithTimeout(kTestTimeout)) << "task " << i;
  }
  std::atomic<bool> ran{false};
  const TaskId queued = this->Add([&ran] { ran.store(true); });
  const bool queues = this->manager_->Stats().queued == 1;
  StopReport report;
  if (queues) report = this->manager_->StopTasks({queued}, absl::Seconds(30));
  const std::vector<TaskId> left = this->manager_->AllTasks();
  // Before the pipes and flags the readers use go.
  this->manager_->StopAllTasks(absl::Seconds(30));
  if (!queues) GTEST_SKIP() << "this manager runs every task at once: nothing queues";
  EXPECT_EQ(report.dropped, 1u);
  EXPECT_EQ(report.cooperative + report.forced, 0u);
  EXPECT_THAT(left, Not(Contains(queued)));
  EXPECT_EQ(left.size(), n);
  EXPECT_FALSE(ran.load());
}

TYPED_TEST(TaskManagerConformanceTest, ATaskThatIgnoresItsStopFlagPastTheGraceIsReportedStuck) {
  auto listener = std::make_shared<RecordingStopListener>();
  this->manager_->set_stop_listener(listener);
  Notification started;
  Notification release;
  // Waits outside the task's I/O, deaf to the flag (RunBlocking parks a fiber rather than its
  // scheduler; elsewhere it just runs the wait).
  const TaskId id = this->Add([&] {
    started.Notify();
    RunBlocking([&] { release.WaitForNotification(); });
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  StopReport report;
  std::thread stopper([&] { report = this->manager_->StopTasks({id}, absl::Milliseconds(50)); });
  const bool reported = WaitUntil([&] { return !listener->stuck().empty(); });
  std::vector<TaskInfo> listed = this->manager_->ListTasks();
  release.Notify();
  stopper.join();
  ASSERT_TRUE(reported);
  ASSERT_EQ(listener->stuck().size(), 1u);
  EXPECT_EQ(listener->stuck()[0].id, id);
  EXPECT_TRUE(listener->stuck()[0].stuck);
  EXPECT_GE(listener->stuck_for()[0], absl::Milliseconds(50));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0].stuck) << "ListTasks shows the stuck task while it runs";
  EXPECT_NE(listed[0].stop_requested, absl::InfinitePast());
  EXPECT_EQ(listed[0].state, TaskState::kStopping);
  EXPECT_EQ(report.forced, 1u);
  EXPECT_EQ(report.cooperative, 0u);
  const std::vector<StopProgress> progress = listener->progress();
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(progress.back().done);
  EXPECT_EQ(progress.back().forced, 1u);
  EXPECT_EQ(progress.back().remaining, 0u);
}

TYPED_TEST(TaskManagerConformanceTest, StopProgressCountsDownToAFinalDoneReport) {
  auto listener = std::make_shared<RecordingStopListener>();
  this->manager_->set_stop_listener(listener);
  Notification started;
  Notification release;
  const TaskId id = this->Add([&] {
    started.Notify();
    RunBlocking([&] { release.WaitForNotification(); });
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  StopReport report;
  std::thread stopper([&] { report = this->manager_->StopTasks({id}, absl::Seconds(30)); });
  // The stop reports the task it waits for before the task ends.
  const bool waiting_reported = WaitUntil([&] {
    const std::vector<StopProgress> progress = listener->progress();
    return !progress.empty() && progress.front().remaining == 1;
  });
  release.Notify();
  stopper.join();
  ASSERT_TRUE(waiting_reported);
  EXPECT_EQ(report.cooperative, 1u);
  const std::vector<StopProgress> progress = listener->progress();
  ASSERT_GE(progress.size(), 2u);
  for (std::size_t i = 1; i < progress.size(); ++i) {
    EXPECT_LE(progress[i].remaining, progress[i - 1].remaining) << "report " << i;
    EXPECT_GE(progress[i].elapsed, progress[i - 1].elapsed) << "report " << i;
  }
  EXPECT_FALSE(progress.front().done);
  EXPECT_EQ(progress.front().grace, absl::Seconds(30));
  EXPECT_TRUE(progress.back().done);
  EXPECT_EQ(progress.back().remaining, 0u);
  EXPECT_EQ(progress.back().cooperative, 1u);
  EXPECT_EQ(
      std::count_if(progress.begin(), progress.end(), [](const StopProgress& p) { return p.done; }),
      1);
  EXPECT_TRUE(listener->stuck().empty());
}

TYPED_TEST(TaskManagerConformanceTest, ListTasksShowsStateAndLabelWithoutStoppingTasks) {
  Pipe pipe;
  std::atomic<bool> finished{false};
  Notification started;
  Thunk reader = [fd = pipe.task_end, &finished, &started] {
    Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
    started.Notify();
    std::string buffer(4, '\0');
    while (true) {
      absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
      if (!n.ok() || *n == 0) break;
      if (!connection.WriteAll(absl::string_view(buffer.data(), *n)).ok()) break;
    }
    finished.store(true);
  };
  absl::StatusOr<TaskId> id = this->manager_->AddTask(TaskSpec{std::move(reader), "peer-label"});
  ASSERT_TRUE(id.ok());
  if (this->manager_->RunsTasksOnCaller()) {
    this->pumps_.emplace_back([this] { this->manager_->RunPendingTasks(); });
  }
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  ASSERT_EQ(::write(pipe.test_end.get(), "ping", 4), 4);
  char echo[4];
  ASSERT_EQ(::read(pipe.test_end.get(), echo, 4), 4);
  // The writer counts its bytes just after send() returns: wait for the count to land.
  std::vector<TaskInfo> tasks;
  EXPECT_TRUE(WaitUntil([&] {
    tasks = this->manager_->ListTasks();
    return tasks.size() == 1 && tasks[0].bytes_out == 4;
  }));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, *id);
  EXPECT_EQ(tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(tasks[0].peer, "peer-label");
  EXPECT_EQ(tasks[0].bytes_in, 4u);
  EXPECT_EQ(tasks[0].bytes_out, 4u);
  EXPECT_NE(tasks[0].started, absl::InfinitePast());
  EXPECT_NE(tasks[0].last_activity, absl::InfinitePast());
  EXPECT_GE(tasks[0].age, absl::ZeroDuration());
  EXPECT_EQ(this->manager_->Stats().running, 1u);
  pipe.test_end.Reset();
  EXPECT_TRUE(WaitUntil([&] { return finished.load(); }));
}

std::vector<TaskId> IdsOf(const std::vector<TaskInfo>& tasks) {
  std::vector<TaskId> ids;
  for (const TaskInfo& task : tasks) ids.push_back(task.id);
  return ids;
}

TYPED_TEST(TaskManagerConformanceTest, ListTaskPagePagesInIdOrderAndCountsEveryTask) {
  const std::vector<TaskId> ids = this->AddHeldTasks(7);
  std::vector<TaskId> listed;
  std::vector<bool> more;
  TaskQuery query{.limit = 3};
  for (int page_number = 0; page_number < 3; ++page_number) {
    const TaskPage page = this->manager_->ListTaskPage(query);
    EXPECT_EQ(page.total, 7u);
    ASSERT_FALSE(page.tasks.empty());
    for (const TaskInfo& task : page.tasks) listed.push_back(task.id);
    more.push_back(page.more);
    query.after = page.tasks.back().id;
  }
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(more, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(IdsOf(this->manager_->ListTasks()), ids);
  EXPECT_THAT(this->manager_->ListTaskPage(TaskQuery{.after = ids.back()}).tasks, IsEmpty());
}

TYPED_TEST(TaskManagerConformanceTest, ListTaskPageCountsAndPagesOnlyWhatThePredicateSelects) {
  const std::vector<TaskId> ids = this->AddHeldTasks(7);
  int calls = 0;
  TaskQuery query{.limit = 2, .predicate = [&](const TaskInfo& task) {
                    ++calls;
                    // No lock of the manager is held: calling it back must not deadlock.
                    EXPECT_FALSE(this->manager_->AllTasks().empty());
                    return task.peer == "p1" || task.peer == "p3" || task.peer == "p5";
                  }};
  TaskPage page = this->manager_->ListTaskPage(query);
  EXPECT_EQ(calls, 7) << "the predicate sees every task once, to count the matches";
  EXPECT_EQ(IdsOf(page.tasks), (std::vector<TaskId>{ids[1], ids[3]}));
  EXPECT_EQ(page.total, 3u);
  EXPECT_TRUE(page.more);
  query.after = ids[3];
  page = this->manager_->ListTaskPage(query);
  EXPECT_EQ(IdsOf(page.tasks), (std::vector<TaskId>{ids[5]}));
  EXPECT_EQ(page.total, 3u) << "tasks before `after` still count";
  EXPECT_FALSE(page.more);
}

TYPED_TEST(TaskManagerConformanceTest, GetTasksKeepsTheGivenOrderAndSkipsEndedTasks) {
  Notification ended;
  const TaskId gone = this->Add([&ended] { ended.Notify(); });
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kTestTimeout));
  ASSERT_TRUE(WaitUntil([&] { return this->manager_->AllTasks().empty(); }));
  const std::vector<TaskId> ids = this->AddHeldTasks(3);
  const std::vector<TaskInfo> tasks =
      this->manager_->GetTasks({ids[2], gone, ids[0], TaskId{987654321}, ids[1]});
  EXPECT_EQ(IdsOf(tasks), (std::vector<TaskId>{ids[2], ids[0], ids[1]}));
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].peer, "p2");
}

TYPED_TEST(TaskManagerConformanceTest, ConcurrentTasksUpToTheLimitRunAtTheSameTime) {
  const std::size_t n = TypeParam::kConcurrency;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::unique_ptr<Notification>> started;
  std::vector<std::unique_ptr<std::atomic<bool>>> finished;
  for (std::size_t i = 0; i < n; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    started.push_back(std::make_unique<Notification>());
    finished.push_back(std::make_unique<std::atomic<bool>>(false));
    this->AddBlockedReader(*pipes[i], finished[i].get(), started[i].get());
  }
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(started[i]->WaitForNotificationWithTimeout(kTestTimeout)) << "task " << i;
  }
  EXPECT_EQ(this->manager_->Stats().running, n);
  EXPECT_EQ(this->manager_->StopAllTasks(absl::Seconds(30)).cooperative, n);
}

TEST(TaskIdTest, IdsAreUniqueAcrossManagers) {
  ThreadedTaskManager a;
  PoolTaskManager b(PoolTaskManagerOptions{.threads = 1});
  absl::StatusOr<TaskId> first = a.AddTask([] {});
  absl::StatusOr<TaskId> second = b.AddTask([] {});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(*first, *second);
}

// Limits and queueing, for the managers that have them.
template <typename Make>
void ExpectQueueingAndRemoval(Make make) {
  TaskManagerPtr manager = make();  // limit 1, max_queued 1
  std::vector<std::thread> pumps;
  auto pump = [&] {
    if (manager->RunsTasksOnCaller()) pumps.emplace_back([&] { manager->RunPendingTasks(); });
  };
  Pipe pipe;
  Notification started;
  absl::StatusOr<TaskId> running = manager->AddTask([fd = pipe.task_end, &started] {
    Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
    started.Notify();
    char byte;
    (void)connection.Read(absl::MakeSpan(&byte, 1));
  });
  ASSERT_TRUE(running.ok());
  pump();
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));

  struct DestroyFlag {
    std::atomic<bool>* flag;
    explicit DestroyFlag(std::atomic<bool>* f) : flag(f) {}
    DestroyFlag(DestroyFlag&& o) noexcept : flag(std::exchange(o.flag, nullptr)) {}
    ~DestroyFlag() {
      if (flag) flag->store(true);
    }
  };
  std::atomic<bool> queued_ran{false};
  std::atomic<bool> queued_destroyed{false};
  absl::StatusOr<TaskId> queued = manager->AddTask(
      [&queued_ran, d = DestroyFlag(&queued_destroyed)] { queued_ran.store(true); });
  ASSERT_TRUE(queued.ok());
  const std::vector<TaskInfo> tasks = manager->ListTasks();
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].id, *queued);
  EXPECT_EQ(tasks[1].state, TaskState::kQueued);
  EXPECT_EQ(manager->Stats().queued, 1u);

  absl::StatusOr<TaskId> refused = manager->AddTask([] {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);

  EXPECT_TRUE(manager->RemoveTask(*queued));
  EXPECT_TRUE(queued_destroyed.load()) << "a removed queued task's thunk is destroyed at once";
  EXPECT_THAT(manager->AllTasks(), ::testing::ElementsAre(*running));

  EXPECT_TRUE(manager->StopTask(*running));
  for (std::thread& t : pumps) t.join();
  EXPECT_FALSE(queued_ran.load()) << "a removed queued task must never run";
}

TEST(TaskManagerLimitTest, ThreadedManagerQueuesBeyondItsLimitAndRemoveTaskDropsQueued) {
  ExpectQueueingAndRemoval([] {
    return std::make_unique<ThreadedTaskManager>(
        ThreadedTaskManagerOptions{.limit = 1, .max_queued = 1});
  });
}

TEST(TaskManagerLimitTest, PoolManagerQueuesBeyondItsThreadsAndRemoveTaskDropsQueued) {
  ExpectQueueingAndRemoval([] {
    return std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 1, .max_queued = 1});
  });
}

TEST(TaskManagerLimitTest, SingleThreadedManagerQueuesAndRemoveTaskDropsQueued) {
  ExpectQueueingAndRemoval([] {
    return std::make_unique<SingleThreadedTaskManager>(
        SingleThreadedTaskManagerOptions{.max_queued = 1});
  });
}

TEST(TaskManagerLimitTest, FiberManagerQueuesBeyondItsLimitAndRemoveTaskDropsQueued) {
  ExpectQueueingAndRemoval([] {
    return std::make_unique<FiberTaskManager>(
        FiberTaskManagerOptions{.threads = 1, .limit = 1, .max_queued = 1});
  });
}

TEST(TaskManagerLimitTest, StoppingAQueuedTaskDropsItWithoutRunning) {
  ThreadedTaskManager manager(ThreadedTaskManagerOptions{.limit = 1, .max_queued = 4});
  Pipe pipe;
  Notification started;
  absl::StatusOr<TaskId> running = manager.AddTask([fd = pipe.task_end, &started] {
    Connection connection(fd, Endpoint{"pipe", 0}, Endpoint{"pipe", 0});
    started.Notify();
    char byte;
    (void)connection.Read(absl::MakeSpan(&byte, 1));
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kTestTimeout));
  std::atomic<bool> ran{false};
  absl::StatusOr<TaskId> queued = manager.AddTask([&ran] { ran.store(true); });
  ASSERT_TRUE(queued.ok());
  EXPECT_TRUE(manager.StopTask(*queued));
  pipe.test_end.Reset();
  EXPECT_TRUE(WaitUntil([&] { return manager.AllTasks().empty(); }));
  EXPECT_FALSE(ran.load());
}

TEST(TaskManagerLimitTest, ThreadedManagerReusesThreadsForQueuedTasksAndJoinsThemAll) {
  // Sanitizer runtimes start a helper thread with the process's first thread; start it now so
  // the baseline includes it.
  std::thread([] {}).join();
  const int threads_before = testing::CountThreads();
  {
    ThreadedTaskManager manager(ThreadedTaskManagerOptions{.limit = 2, .max_queued = 100});
    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(manager.AddTask([&ran] { ran.fetch_add(1); }).ok());
    EXPECT_TRUE(WaitUntil([&] { return ran.load() == 100; }));
    EXPECT_LE(testing::CountThreads(), threads_before + 2);
    manager.StopAllTasks(absl::ZeroDuration());
    EXPECT_EQ(testing::CountThreads(), threads_before) << "StopAllTasks joins every thread";
  }
}

}  // namespace
}  // namespace weft

// ServerObserver's contract: events are delivered with no Weft lock held, state events in the
// order the states were taken and before the call that caused them returns.

#include "weft/server.h"

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/deadline.h"
#include "weft/base/sync.h"
#include "weft/connection.h"
#include "weft/fiber_task_manager.h"
#include "weft/pool_task_manager.h"
#include "weft/server_observer.h"
#include "weft/server_options.h"
#include "weft/single_threaded_task_manager.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

constexpr absl::Duration kPrompt = absl::Seconds(5);

void CloseAtOnce(Connection&, const HandlerArgs&) {}

// LockProbingObserver: on every state event it asks another thread to take the Server's locks
// (stats() takes its state lock; set_task_manager takes the lifecycle lock too) and waits for
// that thread with a deadline. If the event were delivered under either lock, the probe could
// not finish: the probe is recorded as failed instead of deadlocking the test.
class LockProbingObserver final : public ServerObserver {
 public:
  ~LockProbingObserver() override {
    for (std::thread& probe : probes_) probe.join();
  }

  void set_server(Server* server) { server_ = server; }

  void OnEvent(const ServerEvent& event) override {
    if (event.kind != ServerEvent::Kind::kStateChanged) return;
    auto done = std::make_shared<Notification>();
    // set_task_manager is refused (FAILED_PRECONDITION) unless stopped; on kStopped it would
    // replace and destroy the manager, so that event probes the state lock alone.
    const bool probe_lifecycle = event.state != ServerState::kStopped;
    std::thread probe([server = server_, done, probe_lifecycle] {
      (void)server->stats();
      if (probe_lifecycle) {
        (void)server->set_task_manager(std::make_unique<ThreadedTaskManager>());
      }
      done->Notify();
    });
    const bool finished = done->WaitForNotificationWithTimeout(kPrompt);
    MutexLock lock(&mu_);
    probes_.push_back(std::move(probe));  // Joined at the end: a stuck probe ends with the lock.
    states_.push_back(event.state);
    if (!finished) stuck_.push_back(event.state);
    changed_.SignalAll();
  }

  // AwaitStates waits until `count` state events have arrived; false at the deadline.
  bool AwaitStates(std::size_t count, Deadline deadline) {
    MutexLock lock(&mu_);
    return changed_.AwaitUntil(
        &mu_,
        [&]() {
          mu_.AssertHeld();
          return states_.size() >= count;
        },
        deadline);
  }

  std::vector<ServerState> states() {
    MutexLock lock(&mu_);
    return states_;
  }
  // stuck: the states whose probe could not take the Server's locks in time.
  std::vector<ServerState> stuck() {
    MutexLock lock(&mu_);
    return stuck_;
  }

 private:
  Server* server_ = nullptr;
  Mutex mu_;
  CondVar changed_;
  std::vector<std::thread> probes_ ABSL_GUARDED_BY(mu_);
  std::vector<ServerState> states_ ABSL_GUARDED_BY(mu_);
  std::vector<ServerState> stuck_ ABSL_GUARDED_BY(mu_);
};

enum class ManagerKind { kThreaded, kPool, kFiber, kSingleThreaded };

TaskManagerPtr MakeManager(ManagerKind kind) {
  switch (kind) {
    case ManagerKind::kThreaded:
      return std::make_unique<ThreadedTaskManager>();
    case ManagerKind::kPool:
      return std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 2});
    case ManagerKind::kFiber:
      return std::make_unique<FiberTaskManager>();
    case ManagerKind::kSingleThreaded:
      return std::make_unique<SingleThreadedTaskManager>();
  }
  return nullptr;
}

// LoopbackOptions: a server on 127.0.0.1, port 0, that closes each connection, observed by
// `observer`.
ServerOptions LoopbackOptions(std::shared_ptr<ServerObserver> observer) {
  ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.handler = CloseAtOnce;
  options.observer = std::move(observer);
  return options;
}

class ServerObserverTest : public ::testing::TestWithParam<ManagerKind> {};

TEST_P(ServerObserverTest, StateEventsAreDeliveredWithoutServerLocksAndBeforeTheCallReturns) {
  auto observer = std::make_shared<LockProbingObserver>();
  ServerOptions options = LoopbackOptions(observer);
  options.manager = MakeManager(GetParam());
  auto server = std::make_unique<Server>(std::move(options));
  observer->set_server(server.get());
  const bool runs_on_caller = server->task_manager().RunsTasksOnCaller();

  std::thread runner;
  if (runs_on_caller) {
    // Run serves on its caller until stopped; kRunning is delivered before it starts serving.
    runner = std::thread([&] { EXPECT_TRUE(server->Run().ok()); });
    ASSERT_TRUE(observer->AwaitStates(1, DeadlineAfter(kPrompt)));
  } else {
    ASSERT_TRUE(server->Run().ok());
  }
  EXPECT_EQ(observer->states(), std::vector<ServerState>{ServerState::kRunning});
  server->StopAccepting();
  EXPECT_EQ(observer->states().back(), ServerState::kNotAccepting);
  server->Stop(absl::ZeroDuration());
  if (runner.joinable()) runner.join();
  EXPECT_EQ(observer->states(),
            (std::vector<ServerState>{ServerState::kRunning, ServerState::kNotAccepting,
                                      ServerState::kStopped}));
  for (const ServerState state : observer->stuck()) {
    ADD_FAILURE() << "the " << ServerStateName(state) << " event was delivered under a Server lock";
  }
  server.reset();
}

INSTANTIATE_TEST_SUITE_P(Managers, ServerObserverTest,
                         ::testing::Values(ManagerKind::kThreaded, ManagerKind::kPool,
                                           ManagerKind::kFiber, ManagerKind::kSingleThreaded),
                         [](const ::testing::TestParamInfo<ManagerKind>& info) {
                           switch (info.param) {
                             case ManagerKind::kThreaded:
                               return "Threaded";
                             case ManagerKind::kPool:
                               return "Pool";
                             case ManagerKind::kFiber:
                               return "Fiber";
                             case ManagerKind::kSingleThreaded:
                               return "SingleThreaded";
                           }
                           return "Unknown";
                         });

// RecordingObserver: records every event in delivery order.
class RecordingObserver final : public ServerObserver {
 public:
  void OnEvent(const ServerEvent& event) override {
    MutexLock lock(&mu_);
    events_.push_back(event);
    changed_.SignalAll();
  }
  std::vector<ServerEvent> events() {
    MutexLock lock(&mu_);
    return events_;
  }
  std::vector<ServerState> states() {
    std::vector<ServerState> states;
    for (const ServerEvent& event : events()) {
      if (event.kind == ServerEvent::Kind::kStateChanged) states.push_back(event.state);
    }
    return states;
  }
  // AwaitState waits until a kStateChanged to `state` has arrived; false at the deadline.
  bool AwaitState(ServerState state, Deadline deadline) {
    MutexLock lock(&mu_);
    return changed_.AwaitUntil(
        &mu_,
        [&]() {
          mu_.AssertHeld();
          for (const ServerEvent& event : events_) {
            if (event.kind == ServerEvent::Kind::kStateChanged && event.state == state) {
              return true;
            }
          }
          return false;
        },
        deadline);
  }
  // AwaitKind waits until an event of `kind` has arrived; false at the deadline.
  bool AwaitKind(ServerEvent::Kind kind, Deadline deadline) {
    MutexLock lock(&mu_);
    return changed_.AwaitUntil(
        &mu_,
        [&]() {
          mu_.AssertHeld();
          for (const ServerEvent& event : events_) {
            if (event.kind == kind) return true;
          }
          return false;
        },
        deadline);
  }
  std::vector<ServerEvent> events(ServerEvent::Kind kind) {
    std::vector<ServerEvent> of_kind;
    for (const ServerEvent& event : events()) {
      if (event.kind == kind) of_kind.push_back(event);
    }
    return of_kind;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  std::vector<ServerEvent> events_ ABSL_GUARDED_BY(mu_);
};

bool IsTransition(ServerState from, ServerState to) {
  switch (from) {
    case ServerState::kStopped:
      return to == ServerState::kRunning;
    case ServerState::kRunning:
      return to == ServerState::kNotAccepting;
    case ServerState::kNotAccepting:
      return to == ServerState::kRunning || to == ServerState::kStopped;
  }
  return false;
}

TEST(ServerObserverOrderTest, RacingRunStopAndStopAcceptingDeliverStatesInTheOrderTaken) {
  auto observer = std::make_shared<RecordingObserver>();
  Server server(LoopbackOptions(observer));
  constexpr int kRounds = 200;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) (void)server.Run();
  });
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) server.StopAccepting();
  });
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) server.Stop(absl::ZeroDuration());
  });
  for (std::thread& thread : threads) thread.join();
  server.Stop(absl::ZeroDuration());

  const std::vector<ServerState> states = observer->states();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.front(), ServerState::kRunning);
  EXPECT_EQ(states.back(), ServerState::kStopped);
  for (std::size_t i = 1; i < states.size(); ++i) {
    ASSERT_TRUE(IsTransition(states[i - 1], states[i]))
        << "event " << i << ": " << ServerStateName(states[i - 1]) << " -> "
        << ServerStateName(states[i]);
  }
}

TEST(ServerObserverOrderTest, StopDeliversNotAcceptingAtOnceNotAfterTheGracePeriod) {
  auto observer = std::make_shared<RecordingObserver>();
  Notification handler_running;
  Notification release_handler;
  ServerOptions options = LoopbackOptions(observer);
  // A handler that ignores its stop flag until released: Stop waits out its grace for it.
  options.handler = [&](Connection&, const HandlerArgs&) {
    handler_running.Notify();
    EXPECT_TRUE(release_handler.WaitForNotificationWithTimeout(absl::Seconds(30)));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<testing::LoopbackClient> client = testing::LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(handler_running.WaitForNotificationWithTimeout(kPrompt));
  Notification stopped;
  std::thread stopper([&] {
    server.Stop(absl::Seconds(30));
    stopped.Notify();
  });
  // Health and watchers must see "not accepting" while the connections drain.
  EXPECT_TRUE(observer->AwaitState(ServerState::kNotAccepting, DeadlineAfter(kPrompt)));
  EXPECT_FALSE(stopped.HasBeenNotified());
  release_handler.Notify();
  stopper.join();
  EXPECT_EQ(observer->states().back(), ServerState::kStopped);
}

TEST(ServerObserverStopTest, AHandlerIgnoringItsStopFlagPastTheGraceIsReportedStuckAndCounted) {
  auto observer = std::make_shared<RecordingObserver>();
  Notification handler_running;
  Notification release_handler;
  ServerOptions options = LoopbackOptions(observer);
  options.handler = [&](Connection&, const HandlerArgs&) {
    handler_running.Notify();
    EXPECT_TRUE(release_handler.WaitForNotificationWithTimeout(absl::Seconds(30)));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<testing::LoopbackClient> client = testing::LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(handler_running.WaitForNotificationWithTimeout(kPrompt));
  StopReport report;
  std::thread stopper([&] { report = server.Stop(absl::Milliseconds(50)); });
  const bool stuck = observer->AwaitKind(ServerEvent::Kind::kTaskStuck, DeadlineAfter(kPrompt));
  const ServerStats during = server.stats();
  const std::vector<TaskInfo> listed = server.task_manager().ListTasks();
  release_handler.Notify();
  stopper.join();
  ASSERT_TRUE(stuck);
  const std::vector<ServerEvent> stuck_events = observer->events(ServerEvent::Kind::kTaskStuck);
  ASSERT_EQ(stuck_events.size(), 1u);
  EXPECT_EQ(stuck_events[0].peer.address, "127.0.0.1");
  EXPECT_NE(stuck_events[0].peer.port, 0);
  EXPECT_GE(stuck_events[0].stuck_for, absl::Milliseconds(50));
  EXPECT_EQ(during.stuck_total, 1u);
  EXPECT_TRUE(during.draining);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, stuck_events[0].task_id);
  EXPECT_TRUE(listed[0].stuck);
  EXPECT_EQ(report.forced, 1u);
  EXPECT_EQ(server.stats().stuck_total, 1u);
  const std::vector<ServerEvent> progress = observer->events(ServerEvent::Kind::kDrainProgress);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().drain.remaining, 1u);
  EXPECT_TRUE(progress.back().drain.done);
  EXPECT_EQ(progress.back().drain.forced, 1u);
  EXPECT_EQ(progress.back().drain.grace, absl::Milliseconds(50));
}

TEST(ServerObserverStopTest, AStopThatNeedsNoWaitReportsOneFinalDrainProgress) {
  auto observer = std::make_shared<RecordingObserver>();
  Server server(LoopbackOptions(observer));
  ASSERT_TRUE(server.Run().ok());
  server.Stop(absl::Seconds(5));
  const std::vector<ServerEvent> progress = observer->events(ServerEvent::Kind::kDrainProgress);
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_TRUE(progress[0].drain.done);
  EXPECT_EQ(progress[0].drain.remaining, 0u);
  EXPECT_TRUE(observer->events(ServerEvent::Kind::kTaskStuck).empty());
  EXPECT_EQ(server.stats().stuck_total, 0u);
}

TEST(ServerObserverOrderTest, RunningComesBeforeTheEventsOfAClientAlreadyKnocking) {
  for (int round = 0; round < 20; ++round) {
    auto observer = std::make_shared<RecordingObserver>();
    Server server(LoopbackOptions(observer));
    // Learn a free port, then listen on it again with a client already trying to connect: its
    // connection is accepted the moment the listener exists, racing Run's return.
    ASSERT_TRUE(server.Run().ok());
    const std::uint16_t port = server.port();
    server.Stop(absl::ZeroDuration());
    server.set_port(port);
    Notification connected;
    std::thread knocker([&] {
      const Deadline deadline = DeadlineAfter(kPrompt);
      while (std::chrono::steady_clock::now() < deadline) {
        if (testing::LoopbackClient::Connect(port, "127.0.0.1", absl::Milliseconds(100)).ok()) {
          connected.Notify();
          return;
        }
      }
    });
    const std::size_t before = observer->events().size();
    ASSERT_TRUE(server.Run().ok());
    ASSERT_TRUE(connected.WaitForNotificationWithTimeout(kPrompt));
    knocker.join();
    server.Stop(absl::ZeroDuration());
    const std::vector<ServerEvent> events = observer->events();
    ASSERT_GT(events.size(), before);
    EXPECT_EQ(events[before].kind, ServerEvent::Kind::kStateChanged) << "round " << round;
    EXPECT_EQ(events[before].state, ServerState::kRunning) << "round " << round;
  }
}

}  // namespace
}  // namespace weft

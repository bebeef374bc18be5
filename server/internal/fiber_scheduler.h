// Internal header: do not include from outside the weft library and its tests.
//
// Fibers and their schedulers: the execution engine of FiberTaskManager. A FiberSchedulerGroup
// owns N scheduler threads; each runs its fibers (Boost.Context stackful coroutines with
// guard-paged stacks) one at a time from its own epoll loop. A fiber parks on a descriptor, a
// deadline or an explicit Unpark; nothing a fiber does through Weft blocks its thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "server/internal/blocking_pool.h"
#include "server/internal/task_waiter.h"
#include "weft/base/deadline.h"
#include "weft/base/sync.h"

namespace weft::internal {

class Fiber;
class FiberScheduler;
class FiberSchedulerGroup;
class StackPool;

// WakeReason: why a parked fiber runs again. Any park may also end spuriously (kWoken by a
// stale Unpark): every caller re-checks its condition.
enum class WakeReason {
  kWoken,    // Unpark, or a stale wake-up.
  kReady,    // The descriptor it waits on is ready (or has an error or hang-up pending).
  kTimeout,  // Its deadline passed.
};

// CurrentFiber returns the fiber running on this thread, or nullptr outside fibers.
Fiber* CurrentFiber();

// ParkCurrentFiber suspends the calling fiber until UnparkFiber, `deadline`, or spuriously.
// Requires: CurrentFiber() != nullptr, and no lock held that another fiber of the same thread
// may take.
WakeReason ParkCurrentFiber(Deadline deadline);

// UnparkFiber makes `fiber` run again if it is parked (or makes its next park return at once if
// it is about to park). Thread-safe, never blocks on the fiber. Requires: the fiber is alive;
// callers guarantee that by holding a lock the fiber takes before it can end.
void UnparkFiber(Fiber* fiber);

// YieldCurrentFiber lets every other ready fiber of this scheduler run, then continues.
// Requires: CurrentFiber() != nullptr.
void YieldCurrentFiber();

// CurrentFiberWaiter returns the running fiber's IoWaiter. Requires: CurrentFiber() != nullptr.
TaskWaiter& CurrentFiberWaiter();

// SubmitBlockingWork runs `job` on a helper thread of the calling fiber's scheduler group.
// Requires: CurrentFiber() != nullptr.
void SubmitBlockingWork(absl::AnyInvocable<void()> job);

struct FiberGroupOptions {
  std::size_t threads = 1;                 // Scheduler threads; ≥ 1.
  std::size_t stack_size = 64 * 1024;      // Usable bytes per fiber stack (rounded up to pages).
  std::size_t blocking_threads = 4;        // Helper threads for RunBlocking, started on demand.
};

// FiberSchedulerGroup: thread-safe. Starts its scheduler threads at construction; the
// destructor joins them and every helper thread. Requires at destruction: every fiber spawned
// has ended (the task table guarantees it by waiting for its tasks first).
class FiberSchedulerGroup {
 public:
  explicit FiberSchedulerGroup(FiberGroupOptions options);
  ~FiberSchedulerGroup();
  FiberSchedulerGroup(const FiberSchedulerGroup&) = delete;
  FiberSchedulerGroup& operator=(const FiberSchedulerGroup&) = delete;

  // Spawn starts `fn` as a new fiber on the least loaded scheduler. `fn` must not throw.
  // RESOURCE_EXHAUSTED when no stack can be mapped (memory, vm.max_map_count); `fn` is then
  // destroyed without running.
  [[nodiscard]] absl::Status Spawn(absl::AnyInvocable<void()> fn);

  // SubmitBlocking runs `job` on a helper thread (started on demand, up to blocking_threads).
  void SubmitBlocking(absl::AnyInvocable<void()> job);

  std::size_t stack_size() const { return stack_size_; }

 private:
  const std::size_t stack_size_;
  std::unique_ptr<StackPool> stacks_;  // Outlives the schedulers: declared before them.
  std::vector<std::unique_ptr<FiberScheduler>> schedulers_;
  BlockingPool blocking_;  // Destroyed first, once the destructor has ended the schedulers.
};

// FiberAwareCondVar: a condition variable used with weft::Mutex that parks a waiting fiber
// instead of blocking its scheduler thread; threads wait as on CondVar. Thread-safe.
// Every call passes the waiters' mutex, held: the fiber waiters are listed under it.
class FiberAwareCondVar {
 public:
  // WaitUntil releases *mu, waits until signalled, `deadline` or spuriously, and re-acquires it.
  // Returns false when the deadline passed.
  bool WaitUntil(Mutex* mu, Deadline deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  template <typename Pred>
  void Await(Mutex* mu, Pred pred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!pred()) WaitUntil(mu, kNoDeadline);
  }

  template <typename Pred>
  bool AwaitUntil(Mutex* mu, Pred pred, Deadline deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!pred()) {
      if (!WaitUntil(mu, deadline)) return pred();
    }
    return true;
  }

  // SignalAll wakes every waiter; `mu` is the mutex they wait with.
  void SignalAll(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

 private:
  CondVar cv_;
  std::vector<Fiber*> fibers_;  // Guarded by the waiters' mutex.
};

}  // namespace weft::internal

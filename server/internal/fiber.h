// Internal header: do not include from outside the weft library and its tests.
//
// Fiber: one fiber's state, shared by the parts of its scheduler (the run queue, the poller,
// the deadline heap and the switches), and FiberWaiter, its IoWaiter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "server/internal/fiber_scheduler.h"
#include "server/internal/fiber_switch.h"
#include "server/internal/task_waiter.h"
#include "weft/base/deadline.h"

namespace weft::internal {

class TaskControl;

// kNotInHeap: the heap_index of a fiber that is in no DeadlineHeap.
inline constexpr std::size_t kNotInHeap = static_cast<std::size_t>(-1);

// FiberWaiter: the IoWaiter of one fiber — parks it on its scheduler's epoll. Owned by the
// fiber; Wait and ForgetDescriptor run on it, Wake anywhere while it is alive.
class FiberWaiter final : public TaskWaiter {
 public:
  explicit FiberWaiter(Fiber* fiber) : fiber_(fiber) {}
  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override;
  void Wake() override { UnparkFiber(fiber_); }
  bool BlocksThread() const override { return false; }
  void Reset() override {}
  void ForgetDescriptor(int fd) override;

 private:
  Fiber* const fiber_;
};

// Fiber: one coroutine and its scheduling state. Owned by its scheduler from Spawn until it
// ends. Everything but remote_queued is confined to its scheduler's thread once the fiber has
// been handed over.
class Fiber {
 public:
  enum class State { kReady, kRunning, kParked };

  Fiber(FiberScheduler* scheduler, absl::AnyInvocable<void()> fn)
      : scheduler(scheduler), fn(std::move(fn)), waiter(this) {}

  FiberScheduler* const scheduler;         // Runs it, for its whole life.
  absl::AnyInvocable<void()> fn;           // What it runs: moved out when it starts.
  FiberContext context;                    // Its stack and the switches into and out of it.
  State state = State::kParked;            // A new fiber waits for its first Unpark.
  WakeReason reason = WakeReason::kWoken;  // Why its last park ended.
  Deadline park_deadline = kNoDeadline;    // While in the DeadlineHeap.
  std::size_t heap_index = kNotInHeap;     // Its position in the DeadlineHeap.
  std::uint32_t wait_events = 0;           // The epoll events that end its current wait.
  TaskControl* current_task = nullptr;     // Saved across switches: the task context is per fiber.
  std::vector<int> registered_fds;         // Descriptors it registered with the epoll.
  bool remote_queued = false;              // Guarded by the scheduler's remote_mu_.
  FiberWaiter waiter;                      // Its IoWaiter (CurrentFiberWaiter).
};

}  // namespace weft::internal

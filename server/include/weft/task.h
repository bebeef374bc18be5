// Task vocabulary shared by every task manager: ids, states, the unit of work and its
// introspection record, and ThreadShutdown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace weft {

// TaskId: a task's identity. Ids come from one process-wide counter: they are unique across
// every manager and never reused in the life of the process (a stale id can never stop a newer
// task). 0 is never a valid id.
using TaskId = std::uint64_t;

// Thunk: the work a task runs. Destroying a thunk that never ran must release what it owns
// (for a connection task: close the connection).
using Thunk = absl::AnyInvocable<void()>;

// TaskSpec: what AddTask takes. `peer` labels the task for introspection (the client's
// address for connection tasks; free text otherwise). `on_admitted`, if set, is called once
// with the new id after the task is admitted and before it can start, be listed or be dropped —
// outside any lock, on the thread calling AddTask — so observers see a task's events in order.
struct TaskSpec {
  Thunk run{};
  std::string peer{};
  absl::AnyInvocable<void(TaskId)> on_admitted{};
};

// TaskState: a task's life. kQueued → kRunning → kStopping (shutdown requested) → gone.
// A queued task that is removed or stopped never runs.
enum class TaskState {
  kQueued,
  kRunning,
  kStopping,
};

// TaskStateName returns "queued", "running" or "stopping".
const char* TaskStateName(TaskState state);

// TaskInfo: a snapshot of one task, taken without stopping it. Durations come from the
// monotonic clock; the absl::Time fields are wall-clock renderings of the same instants.
struct TaskInfo {
  TaskId id = 0;
  TaskState state = TaskState::kQueued;
  std::string peer;
  absl::Time created;                             // When AddTask accepted it.
  absl::Time started = absl::InfinitePast();      // When it began to run; InfinitePast if queued.
  absl::Time last_activity = absl::InfinitePast();// Last byte in or out; InfinitePast if none.
  absl::Duration age;                             // Since created.
  absl::Duration idle;                            // Since last activity (or since start).
  std::uint64_t bytes_in = 0;                     // Bytes read by the task's connection.
  std::uint64_t bytes_out = 0;                    // Bytes written by the task's connection.
  absl::Time stop_requested = absl::InfinitePast();  // First stop request; InfinitePast if none.
  bool stuck = false;  // Still running after the grace of a stop ran out (see TaskManager).
};

// TaskManagerStats: counts at one instant.
struct TaskManagerStats {
  std::size_t running = 0;   // Tasks running or stopping.
  std::size_t queued = 0;    // Tasks admitted but not started.
  // Threads without a task that wait for the next one (ThreadedTaskManager's idle-thread
  // cache); 0 for the other managers.
  std::size_t idle_threads = 0;
};

// StopReport: how a StopAllTasks or StopTasks went.
struct StopReport {
  std::size_t cooperative = 0;  // Running tasks that ended within the grace period.
  std::size_t forced = 0;       // Running tasks whose connection had to be shut down.
  std::size_t dropped = 0;      // Queued tasks discarded without running.
};

// StopProgress: where a StopAllTasks or StopTasks stands while it waits (StopListener).
struct StopProgress {
  std::size_t remaining = 0;    // Running tasks not yet ended.
  std::size_t cooperative = 0;  // Running tasks that ended within the grace period so far.
  std::size_t forced = 0;       // Running tasks whose connection was shut down so far.
  std::size_t dropped = 0;      // Queued tasks discarded.
  absl::Duration elapsed{};     // Since the stop began.
  absl::Duration grace{};       // The stop's grace period.
  bool done = false;            // The last report of this stop: every task has ended.
};

// ThreadShutdown: thrown by a task to end itself at once; the manager catches it at the task
// boundary and treats the task as finished normally. Deliberately not derived from
// std::exception, so `catch (const std::exception&)` in handler code cannot swallow it.
struct ThreadShutdown {};

}  // namespace weft

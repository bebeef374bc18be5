// TaskManager: the seed's task manager protocol, the seam between networking and scheduling.
//
// Signals: the thread-based managers (all but FiberTaskManager) read with a blocking recv(),
// which a stop ends by shutting the socket's read side, and wake a task blocked in a write or a
// timed wait with the signal SIGRTMIN+4. The first worker thread installs a handler for it that
// does nothing (an inherited SIG_IGN is taken over with a warning; a handler of the program's own
// is a conflict and CHECK-fails), and keeps it blocked except inside ppoll(). A program using
// these managers must leave SIGRTMIN+4 alone.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "weft/task.h"

namespace weft {

// StopListener: hears how a manager's stops go. Its methods are called on the thread (or fiber)
// that stops tasks — the caller of StopTask, StopTasks or StopAllTasks — never on a task's own
// thread and never with a manager lock held. They must be thread-safe (stops may run
// concurrently), must not throw, should return quickly, and must not stop tasks of the same
// manager.
class StopListener {
 public:
  virtual ~StopListener() = default;

  // OnStopProgress: a StopTasks or StopAllTasks is waiting for `progress.remaining` tasks.
  // Called when the counts change, at most every 100 ms, and once more with `done` set when
  // the last task has ended (even if nothing ever had to be waited for).
  virtual void OnStopProgress(const StopProgress& progress) = 0;

  // OnTaskStuck: the grace of a stop ran out with `task`'s handler still running (it ignored
  // its shutdown flag); its connection is being shut down under it. `task.stuck` is set;
  // `since_request` is the time since the task was first asked to stop.
  virtual void OnTaskStuck(const TaskInfo& task, absl::Duration since_request) = 0;
};

// TaskQuery: which tasks TaskManager::ListTaskPage returns: those matching `predicate` with an
// id above `after`, in id order, at most `limit` of them.
struct TaskQuery {
  // Only tasks with a greater id: a page continues after the last id of the previous one. Ids
  // only grow, so a task that lives throughout a paged listing is listed exactly once.
  TaskId after = 0;
  // At most this many tasks.
  std::size_t limit = std::numeric_limits<std::size_t>::max();
  // Only tasks for which this returns true; empty selects every task. Called on the thread of
  // ListTaskPage with no lock of the manager held (it may call the manager), once per managed
  // task, whatever `after` and `limit` (TaskPage::total counts every match).
  std::function<bool(const TaskInfo&)> predicate{};
};

// TaskPage: one page of a listing.
struct TaskPage {
  std::vector<TaskInfo> tasks;  // In id order.
  // Tasks matching the predicate in the whole table (before `after` too), from the same view of
  // the table as `tasks` (count).
  std::size_t total = 0;
  // True when a matching task with an id above the last one returned exists.
  bool more = false;
};

// TaskManager: runs tasks. A Server depends only on this interface. All methods are
// thread-safe unless stated. None may be called from inside a task of the same manager when it
// waits for tasks (StopTask of itself, StopAllTasks): that would wait for itself; it CHECK-fails.
class TaskManager {
 public:
  virtual ~TaskManager() = default;

  // AddTask takes a thunk to run as a task and returns its unique id. The task may start at
  // once or be queued. Returns RESOURCE_EXHAUSTED when the manager is full (limit reached and
  // queue full) and UNAVAILABLE while StopAllTasks runs; the thunk is then destroyed without
  // running. If a thread cannot be created for an admitted task, the task is dropped as if
  // removed (its thunk destroyed) and a warning logged.
  [[nodiscard]] absl::StatusOr<TaskId> AddTask(Thunk thunk) {
    return AddTask(TaskSpec{.run = std::move(thunk)});
  }
  [[nodiscard]] virtual absl::StatusOr<TaskId> AddTask(TaskSpec spec) = 0;

  // RemoveTask removes task `id`, returning true if it was found. A queued task is dropped
  // without ever running (its thunk destroyed: a connection is closed). A running task is
  // stopped without a grace period: its shutdown flag is set and its connection shut down at
  // once; RemoveTask does not wait for it, but the manager keeps tracking the thread (listed as
  // kStopping) until the handler returns, so nothing is ever forgotten or leaked.
  virtual bool RemoveTask(TaskId id) = 0;

  // StopTask shuts task `id` down and returns once it has stopped: a queued task is dropped; a
  // running one has its shutdown flag set and blocked I/O woken, and if it has not returned
  // after `grace`, its connection is shut down so blocked system calls fail. Returns false for
  // an unknown id. A handler still running when the grace runs out is stuck (TaskInfo::stuck,
  // StopListener::OnTaskStuck, a WARNING log; not with a zero grace, which forces at once); one
  // that ignores the flag and never touches its connection is waited for indefinitely: threads
  // cannot be killed safely. StopTasks and StopAllTasks do the same.
  bool StopTask(TaskId id) { return StopTask(id, kDefaultGrace); }
  virtual bool StopTask(TaskId id, absl::Duration grace) = 0;

  // AllTasks returns the ids of every task currently managed (queued, running or stopping).
  virtual std::vector<TaskId> AllTasks() const = 0;

  // ListTasks returns a snapshot of every task, in id order; takes only short locks, never
  // stops tasks. For many tasks, ListTaskPage is cheaper.
  virtual std::vector<TaskInfo> ListTasks() const = 0;

  // ListTaskPage returns one page of tasks as `query` selects them. Without a predicate it
  // costs O(log N + limit) and holds the manager's lock only to copy the page's handles; with
  // one, it copies every task's handle under the lock (one vector, no allocation per task),
  // then snapshots each task and calls the predicate outside it: O(N); a task not returned
  // allocates nothing unless its peer string outgrows the small-string buffer (15 bytes).
  // Tasks are snapshotted after the lock is released, so a task may have ended by the time it
  // is described (it is still listed, in its last state).
  virtual TaskPage ListTaskPage(const TaskQuery& query) const = 0;

  // GetTasks describes the tasks of `ids` that are still managed, in the order of `ids`; the
  // others are skipped. O(|ids| log N); the lock is held only to look the ids up.
  virtual std::vector<TaskInfo> GetTasks(absl::Span<const TaskId> ids) const = 0;

  // Stats returns the running and queued counts.
  virtual TaskManagerStats Stats() const = 0;

  // limit returns the maximum number of concurrently running tasks, or nullopt if unbounded.
  virtual std::optional<std::size_t> limit() const = 0;

  // max_queued returns how many tasks may wait beyond the limit.
  virtual std::size_t max_queued() const = 0;

  // kind names the strategy: "threaded", "pool", "single", "fiber".
  virtual std::string_view kind() const = 0;

  // StopAllTasks drops queued tasks, asks every running task to stop, shuts down the
  // connections of those still running after `grace`, and returns once no task remains and
  // every thread the manager started for them is joined. The manager stays usable.
  virtual StopReport StopAllTasks(absl::Duration grace) = 0;

  // StopTasks stops the tasks `ids` the way StopAllTasks stops all of them: queued ones are
  // dropped, running ones are all asked to stop at once, those still running after `grace`
  // have their connections shut down, and it returns once every one of them has ended. Ids that
  // are unknown or already ended (and duplicates) are ignored and not counted. Other tasks are
  // untouched and new tasks are admitted meanwhile. Requires: the caller is not one of `ids`
  // (CHECK-fails: it would wait for itself); another task of the manager may call it.
  virtual StopReport StopTasks(const std::vector<TaskId>& ids, absl::Duration grace) = 0;

  // set_stop_listener makes `listener` hear the progress of StopTasks and StopAllTasks and
  // every stuck task (a task still running when the grace of any stop, StopTask included, ran
  // out); nullptr for none. Shared: the manager keeps it while a stop that began with it runs,
  // even if it is replaced meanwhile. Every stuck task is also logged (WARNING) and listed with
  // TaskInfo::stuck whether or not a listener is set.
  virtual void set_stop_listener(std::shared_ptr<StopListener> listener) = 0;

  // RunsTasksOnCaller is true for managers without threads of their own: the server then runs
  // its accept loop on the thread that calls Server::Run (which blocks until stopped) and
  // calls RunPendingTasks after each accepted batch.
  virtual bool RunsTasksOnCaller() const { return false; }

  // RunPendingTasks runs queued tasks on the calling thread until none is queued. Only
  // meaningful when RunsTasksOnCaller(); a no-op otherwise.
  virtual void RunPendingTasks() {}

  static constexpr absl::Duration kDefaultGrace = absl::Seconds(2);
};

using TaskManagerPtr = std::unique_ptr<TaskManager>;

}  // namespace weft

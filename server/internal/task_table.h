// Internal header: do not include from outside the weft library and its tests.
//
// TaskTable: the engine behind TaskManagerBase — admission, the bounded queue, task states,
// stop/remove with grace, introspection, and the threads of each execution model.
#pragma once

#include <sched.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/internal/fiber_scheduler.h"
#include "server/internal/task_control.h"
#include "server/internal/task_waiter.h"
#include "weft/base/sync.h"
#include "weft/base/thread.h"
#include "weft/task_manager_base.h"

namespace weft::internal {

struct TaskTableOptions {
  std::string kind;
  ExecutionModel model;
  std::optional<std::size_t> limit;  // Concurrently running tasks; nullopt = unbounded.
  std::size_t max_queued = 0;        // Tasks waiting beyond the limit.
  FiberGroupOptions fibers;          // kFiber only: the scheduler threads and stacks.
  // kThreadPerTask only: each task thread's stack, in bytes; 0 = the process's default.
  std::size_t thread_stack_size = 0;
  // kThreadPerTask only: a thread whose task ended waits up to `idle_thread_timeout` for the
  // next task instead of exiting, while fewer than `idle_threads` wait so.
  std::size_t idle_threads = 0;
  absl::Duration idle_thread_timeout = absl::ZeroDuration();
};

// TaskTable: thread-safe. Lock order: TaskTable::mu_ before TaskControl::mu_; both before a
// fiber scheduler's internal lock.
//
// Waiting (Stop, StopAll, pool workers) goes through a FiberAwareCondVar: called from a fiber
// (a handler stopping another task), it parks the fiber instead of blocking its scheduler
// thread, so stopping a task of the same scheduler cannot deadlock.
class TaskTable {
 public:
  explicit TaskTable(TaskTableOptions options);
  ~TaskTable();

  absl::StatusOr<TaskId> Add(TaskSpec spec) ABSL_LOCKS_EXCLUDED(mu_);
  bool Remove(TaskId id) ABSL_LOCKS_EXCLUDED(mu_);
  bool Stop(TaskId id, absl::Duration grace) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TaskId> All() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TaskInfo> List() const ABSL_LOCKS_EXCLUDED(mu_);
  // ListPage and Get: see TaskManager::ListTaskPage and GetTasks.
  TaskPage ListPage(const TaskQuery& query) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TaskInfo> Get(absl::Span<const TaskId> ids) const ABSL_LOCKS_EXCLUDED(mu_);
  TaskManagerStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  StopReport StopAll(absl::Duration grace) ABSL_LOCKS_EXCLUDED(mu_);
  StopReport StopSome(const std::vector<TaskId>& ids, absl::Duration grace)
      ABSL_LOCKS_EXCLUDED(mu_);
  void set_stop_listener(std::shared_ptr<StopListener> listener) ABSL_LOCKS_EXCLUDED(mu_);
  void RunPendingOnCaller() ABSL_LOCKS_EXCLUDED(mu_);

  const TaskTableOptions& options() const { return options_; }

 private:
  struct Entry {
    std::shared_ptr<TaskControl> control;
    TaskState state;
  };

  // Run executes one task on the calling thread or fiber, with `waiter` bound, then retires its
  // entry.
  void Run(const std::shared_ptr<TaskControl>& task, TaskWaiter& waiter) ABSL_LOCKS_EXCLUDED(mu_);
  // TakeQueuedLocked pops the next queued task and marks it running; nullptr if none may start.
  std::shared_ptr<TaskControl> TakeQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DropQueuedLocked removes a queued task; returns its thunk for destruction outside the lock.
  Thunk DropQueuedLocked(TaskId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DropUnstartedLocked undoes Add's accounting of a task marked running whose thread or fiber
  // (`what`) could not be started (`why`, logged); returns its thunk for destruction outside
  // the lock.
  Thunk DropUnstartedLocked(TaskControl& task, absl::string_view what, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasRoomLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckNotOwnTaskLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // TakeCreatorPolicy gives the calling task thread the scheduling policy of the thread that
  // constructed the table if it inherited SCHED_BATCH from the thread that called Add (the
  // server's accept loop) and the constructing thread's policy was another.
  void TakeCreatorPolicy() const;
  void ThreadPerTaskMain(std::uint64_t thread_key, std::shared_ptr<TaskControl> first)
      ABSL_LOCKS_EXCLUDED(mu_);
  // AwaitHandoffLocked parks a kThreadPerTask thread whose task ended (if fewer than
  // idle_threads are idle, idle and running threads stay within the limit, and no stop is
  // under way) until Add hands it a task (returned, already marked running), the idle timeout
  // passes or a stop begins (nullptr: retire).
  std::shared_ptr<TaskControl> AwaitHandoffLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PoolWorkerMain() ABSL_LOCKS_EXCLUDED(mu_);
  // FiberMain: the body of a kFiber fiber — `first`, then queued tasks while there are any.
  void FiberMain(std::shared_ptr<TaskControl> first) ABSL_LOCKS_EXCLUDED(mu_);
  void JoinFinishedThreads() ABSL_LOCKS_EXCLUDED(mu_);

  // Stopping (task_table_stop.cc). StopRunning is the engine of Stop, StopSome and StopAll:
  // `running` (selected and marked kStopping by the caller, `dropped` queued ones already
  // dropped) are asked to stop together; those left after `grace` are reported stuck and
  // interrupted; it returns once all have ended. With `report_progress` the listener hears
  // StopProgress on the way.
  StopReport StopRunning(const std::vector<std::shared_ptr<TaskControl>>& running,
                         std::size_t dropped, absl::Duration grace, bool report_progress)
      ABSL_LOCKS_EXCLUDED(mu_);
  // SelectLocked drops the queued tasks among `ids` into `dropped`, marks the running ones
  // kStopping and returns them; unknown ids are skipped.
  std::vector<std::shared_ptr<TaskControl>> SelectLocked(const std::vector<TaskId>& ids,
                                                         std::vector<Thunk>& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TaskTableOptions options_;
  // The constructing thread's scheduling policy and parameters (see TakeCreatorPolicy).
  const int creator_policy_;
  const sched_param creator_param_;

  mutable Mutex mu_;
  FiberAwareCondVar changed_;  // Signalled when a task ends or is dropped, or the table closes.
  // kFixedPool: the idle workers wait here. Signalled once per queued task (one worker takes
  // it; waking all of them for one task cost every idle worker a futex round trip) and to all
  // when the table closes. Only threads wait: a plain condition variable.
  CondVar work_;
  // Ordered by id, so a page after an id is found in O(log N) (ListPage). Unlike a hash map's,
  // an insert or an erase invalidates iterators and references to other entries.
  absl::btree_map<TaskId, Entry> tasks_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<TaskControl>> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  // Admitted tasks whose on_admitted callback is running; they count against the capacity.
  std::size_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_all_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<StopListener> stop_listener_ ABSL_GUARDED_BY(mu_);

  // kThreadPerTask: live threads by key (a handle not joinable until Add has stored it); a
  // thread moves its own handle to finished_threads_ when it exits, and whoever comes next
  // joins it.
  std::uint64_t next_thread_key_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::uint64_t, base::Thread> task_threads_ ABSL_GUARDED_BY(mu_);
  std::vector<base::Thread> finished_threads_ ABSL_GUARDED_BY(mu_);
  // kThreadPerTask: the idle-thread cache. A parked thread waits on idle_ for a task in
  // handoff_; `unclaimed_` is the parked threads less the tasks already handed to them (the idle
  // threads), so Add hands a task over only when a parked thread is sure to take it. Any
  // parked thread takes any handed task: Signal wakes one, SignalAll (a stop) all.
  CondVar idle_;
  std::size_t unclaimed_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::shared_ptr<TaskControl>> handoff_ ABSL_GUARDED_BY(mu_);
  // kFixedPool: the workers, started in the constructor and joined in the destructor.
  std::vector<std::thread> pool_threads_;
  // kFiber: fibers spawned and not yet past their last task (they count themselves out).
  std::size_t live_fibers_ ABSL_GUARDED_BY(mu_) = 0;
  // kFiber: the schedulers. Declared last, so destroyed (threads joined) first: no fiber can
  // then still be touching mu_ when it goes.
  std::unique_ptr<FiberSchedulerGroup> fibers_;
};

}  // namespace weft::internal

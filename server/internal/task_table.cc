#include "server/internal/task_table.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "server/internal/poll_waiter.h"
#include "weft/base/log.h"

namespace weft::internal {
namespace {

// A listing's snapshots prefetch the counters of the task this many ahead, and the task itself
// twice as far (see TaskControl::Prefetch).
constexpr std::size_t kPrefetchAhead = 8;

// PrefetchAhead prefetches for the snapshots of the tasks after entries[i].
template <typename Entries>
void PrefetchAhead(const Entries& entries, std::size_t i) {
  if (i + 2 * kPrefetchAhead < entries.size()) entries[i + 2 * kPrefetchAhead].control->Prefetch();
  if (i + kPrefetchAhead < entries.size()) entries[i + kPrefetchAhead].control->PrefetchCounters();
}

// RunThunk is the task boundary: the only place ThreadShutdown is caught, and the last line of
// defence against any other exception a task lets escape.
void RunThunk(Thunk& thunk, TaskId id) {
  try {
    if (thunk) thunk();
  } catch (const ThreadShutdown&) {
    // The task asked to end itself: a normal ending.
  } catch (const std::exception& e) {
    LOG(WARNING) << "task " << id << " threw: " << e.what();
  } catch (...) {
    LOG(WARNING) << "task " << id << " threw a non-standard exception";
  }
}

// CallerSchedParam returns the calling thread's scheduling parameters.
sched_param CallerSchedParam() {
  sched_param param{};
  ::sched_getparam(0, &param);
  return param;
}

}  // namespace

TaskTable::TaskTable(TaskTableOptions options)
    : options_(std::move(options)),
      creator_policy_(::sched_getscheduler(0)),
      creator_param_(CallerSchedParam()) {
  if (options_.model == ExecutionModel::kFiber) {
    fibers_ = std::make_unique<FiberSchedulerGroup>(options_.fibers);
  }
  if (options_.model == ExecutionModel::kFixedPool) {
    CHECK(options_.limit.has_value() && *options_.limit >= 1);
    pool_threads_.reserve(*options_.limit);
    for (std::size_t i = 0; i < *options_.limit; ++i) {
      pool_threads_.emplace_back([this] { PoolWorkerMain(); });
    }
  }
}

TaskTable::~TaskTable() {
  StopAll(absl::ZeroDuration());
  {
    MutexLock lock(&mu_);
    closing_ = true;
    changed_.SignalAll(&mu_);
    work_.SignalAll();
    idle_.SignalAll();
  }
  for (std::thread& t : pool_threads_) t.join();
  JoinFinishedThreads();
}

bool TaskTable::HasRoomLocked() const {
  if (!options_.limit.has_value()) return true;
  return tasks_.size() + reserved_ < *options_.limit + options_.max_queued;
}

void TaskTable::CheckNotOwnTaskLocked() const {
  const TaskControl* self = CurrentTask();
  CHECK(self == nullptr || !tasks_.contains(self->id()))
      << "a task of this manager waited for its own manager's tasks: deadlock";
}

absl::StatusOr<TaskId> TaskTable::Add(TaskSpec spec) {
  JoinFinishedThreads();
  const TaskId id = NextTaskId();
  absl::AnyInvocable<void(TaskId)> on_admitted = std::move(spec.on_admitted);
  auto task = std::make_shared<TaskControl>(id, std::move(spec));
  Thunk rejected;  // Destroyed after the lock is released.
  {
    MutexLock lock(&mu_);
    if (stopping_all_ || closing_) {
      rejected = task->TakeThunk();
      return absl::UnavailableError("task manager is stopping its tasks");
    }
    if (!HasRoomLocked()) {
      rejected = task->TakeThunk();
      return absl::ResourceExhaustedError(absl::StrCat(
          options_.kind, " task manager is full (limit ", *options_.limit, ", queue ",
          options_.max_queued, ")"));
    }
    ++reserved_;
  }
  // The task is admitted but not yet visible: nothing can start, list or drop it before the
  // callback has returned.
  if (on_admitted) on_admitted(id);

  std::uint64_t thread_key = 0;
  // The thread that takes the task (a pool worker, a parked thread) is signalled once mu_ is
  // released (the lock is the inner scope's): woken under the lock, it would only block on mu_
  // again.
  CondVar* wake = nullptr;
  const absl::Cleanup signal_taker = [&wake] {
    if (wake != nullptr) wake->Signal();
  };
  {
    MutexLock lock(&mu_);
    --reserved_;
    if (stopping_all_ || closing_) {
      // A stop began while the callback ran: the task is dropped as a queued one would be.
      rejected = task->TakeThunk();
      return id;
    }
    const bool start_now = (options_.model == ExecutionModel::kThreadPerTask ||
                            options_.model == ExecutionModel::kFiber) &&
                           (!options_.limit.has_value() || running_ < *options_.limit);
    if (!start_now) {
      tasks_.emplace(id, Entry{task, TaskState::kQueued});
      queue_.push_back(task);
      wake = &work_;
      return id;
    }
    tasks_.emplace(id, Entry{task, TaskState::kRunning});
    ++running_;
    if (options_.model == ExecutionModel::kFiber) {
      ++live_fibers_;
      if (absl::Status s = fibers_->Spawn([this, task] { FiberMain(task); }); !s.ok()) {
        --live_fibers_;
        rejected = DropUnstartedLocked(*task, "fiber", s);
      }
      return id;
    }
    if (options_.model == ExecutionModel::kThreadPerTask && unclaimed_ > 0) {
      // A parked thread takes it: no clone(), no new stack, no exit and join.
      --unclaimed_;
      handoff_.push_back(task);
      wake = &idle_;
      return id;
    }
    // The thread's entry, without its handle until the thread exists: the thread may retire
    // before it is stored (see ThreadPerTaskMain).
    thread_key = next_thread_key_++;
    task_threads_.emplace(thread_key, base::Thread());
  }
  // Outside mu_: creating a thread (clone, its stack's mapping) takes tens of microseconds, and
  // every task ending, every listing and the next Add wait for mu_.
  absl::StatusOr<base::Thread> thread =
      base::Thread::Start(options_.thread_stack_size,
                          [this, thread_key, task]() mutable {
                            ThreadPerTaskMain(thread_key, std::move(task));
                          });
  MutexLock lock(&mu_);
  if (thread.ok()) {
    auto it = task_threads_.find(thread_key);
    if (it != task_threads_.end()) {
      it->second = *std::move(thread);
    } else {
      finished_threads_.push_back(*std::move(thread));  // Retired already: joined next.
    }
    return id;
  }
  task_threads_.erase(thread_key);
  rejected = DropUnstartedLocked(*task, "thread", thread.status());
  return id;
}

Thunk TaskTable::DropUnstartedLocked(TaskControl& task, absl::string_view what,
                                     const absl::Status& why) {
  // Admitted already (observers were told): dropped like a removed queued task.
  tasks_.erase(task.id());
  --running_;
  changed_.SignalAll(&mu_);
  LOG(WARNING) << "cannot start a " << what << " for task " << task.id() << ": " << why;
  return task.TakeThunk();
}

void TaskTable::TakeCreatorPolicy() const {
  // Only the accept loop's SCHED_BATCH is undone: any other inherited policy was the program's.
  if (creator_policy_ < 0 || creator_policy_ == SCHED_BATCH ||
      ::sched_getscheduler(0) != SCHED_BATCH) {
    return;
  }
  if (::sched_setscheduler(0, creator_policy_, &creator_param_) != 0) {
    PLOG_EVERY_N(WARNING, 1000) << options_.kind << " task threads keep the accept loop's policy";
  }
}

void TaskTable::ThreadPerTaskMain(std::uint64_t thread_key, std::shared_ptr<TaskControl> first) {
  // The name and policy a new thread inherits are those of the thread that called Add (the
  // server's accept loop: weft-accept, SCHED_BATCH).
  pthread_setname_np(pthread_self(), "weft-task");  // For top -H, perf and /proc.
  TakeCreatorPolicy();
  PollWaiter waiter;
  std::shared_ptr<TaskControl> task = std::move(first);
  while (task != nullptr) {
    Run(task, waiter);
    MutexLock lock(&mu_);
    task = TakeQueuedLocked();
    if (task == nullptr) task = AwaitHandoffLocked();
    if (task == nullptr) {
      // Retire: hand our own handle to whoever joins next. The map entry exists because Add
      // inserted it before starting this thread; without a handle yet, Add queues the handle
      // itself when it finds the entry gone.
      auto it = task_threads_.find(thread_key);
      CHECK(it != task_threads_.end());
      if (it->second.joinable()) finished_threads_.push_back(std::move(it->second));
      task_threads_.erase(it);
      changed_.SignalAll(&mu_);
    }
  }
}

std::shared_ptr<TaskControl> TaskTable::AwaitHandoffLocked() {
  // With a limit, running and parked threads together stay within it.
  const bool room = unclaimed_ < options_.idle_threads &&
                    (!options_.limit.has_value() || running_ + unclaimed_ < *options_.limit);
  if (!room || stopping_all_ || closing_) return nullptr;
  ++unclaimed_;
  const Deadline until = DeadlineAfter(options_.idle_thread_timeout);
  bool timed_out = false;
  while (handoff_.empty() && !stopping_all_ && !closing_ && !timed_out) {
    timed_out = !idle_.WaitUntil(&mu_, until);
  }
  if (handoff_.empty()) {
    --unclaimed_;  // Nothing was handed over: this thread's claim is still counted.
    return nullptr;
  }
  std::shared_ptr<TaskControl> task = std::move(handoff_.front());
  handoff_.pop_front();
  return task;
}

void TaskTable::PoolWorkerMain() {
  pthread_setname_np(pthread_self(), "weft-worker");
  PollWaiter waiter;
  while (true) {
    std::shared_ptr<TaskControl> task;
    {
      MutexLock lock(&mu_);
      work_.Await(&mu_, [this]() {
        mu_.AssertHeld();
        return closing_ || !queue_.empty();
      });
      if (closing_) return;
      task = TakeQueuedLocked();
    }
    if (task != nullptr) Run(task, waiter);
  }
}

void TaskTable::FiberMain(std::shared_ptr<TaskControl> first) {
  TaskWaiter& waiter = CurrentFiberWaiter();
  std::shared_ptr<TaskControl> task = std::move(first);
  while (task != nullptr) {
    Run(task, waiter);
    MutexLock lock(&mu_);
    task = TakeQueuedLocked();
    if (task == nullptr) {
      --live_fibers_;
      changed_.SignalAll(&mu_);
    }
  }
}

void TaskTable::RunPendingOnCaller() {
  PollWaiter waiter;
  while (true) {
    std::shared_ptr<TaskControl> task;
    {
      MutexLock lock(&mu_);
      task = TakeQueuedLocked();
    }
    if (task == nullptr) return;
    Run(task, waiter);
  }
}

std::shared_ptr<TaskControl> TaskTable::TakeQueuedLocked() {
  if (queue_.empty()) return nullptr;
  if (options_.limit.has_value() && running_ >= *options_.limit) return nullptr;
  std::shared_ptr<TaskControl> task = std::move(queue_.front());
  queue_.pop_front();
  auto it = tasks_.find(task->id());
  CHECK(it != tasks_.end());
  it->second.state = task->shutdown_requested() ? TaskState::kStopping : TaskState::kRunning;
  ++running_;
  return task;
}

void TaskTable::Run(const std::shared_ptr<TaskControl>& task, TaskWaiter& waiter) {
  waiter.Reset();
  task->BindWaiter(&waiter);
  task->MarkStarted();
  {
    ScopedCurrentTask current(task.get());
    Thunk thunk = task->TakeThunk();
    RunThunk(thunk, task->id());
    // The thunk (and the connection it owns) dies here, still inside the task's context.
  }
  task->BindWaiter(nullptr);
  MutexLock lock(&mu_);
  tasks_.erase(task->id());
  --running_;
  changed_.SignalAll(&mu_);
}

Thunk TaskTable::DropQueuedLocked(TaskId id) {
  auto it = tasks_.find(id);
  CHECK(it != tasks_.end() && it->second.state == TaskState::kQueued);
  std::shared_ptr<TaskControl> task = it->second.control;
  tasks_.erase(it);
  queue_.erase(std::find(queue_.begin(), queue_.end(), task));
  changed_.SignalAll(&mu_);
  return task->TakeThunk();
}

bool TaskTable::Remove(TaskId id) {
  std::shared_ptr<TaskControl> task;
  Thunk dropped;
  {
    MutexLock lock(&mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return false;
    if (it->second.state == TaskState::kQueued) {
      dropped = DropQueuedLocked(id);
      return true;
    }
    it->second.state = TaskState::kStopping;
    task = it->second.control;
  }
  task->Interrupt();
  return true;
}

std::vector<TaskId> TaskTable::All() const {
  MutexLock lock(&mu_);
  std::vector<TaskId> ids;
  ids.reserve(tasks_.size());
  for (const auto& [id, entry] : tasks_) ids.push_back(id);  // In id order: tasks_ is sorted.
  return ids;
}

std::vector<TaskInfo> TaskTable::List() const { return ListPage(TaskQuery{}).tasks; }

TaskPage TaskTable::ListPage(const TaskQuery& query) const {
  TaskPage page;
  // Handles are copied under the lock; snapshots and the predicate run outside it.
  std::vector<Entry> entries;
  {
    MutexLock lock(&mu_);
    std::vector<const Entry*> found;
    if (query.predicate) {
      found.reserve(tasks_.size());
      for (const auto& [id, entry] : tasks_) found.push_back(&entry);
    } else {
      page.total = tasks_.size();
      found.reserve(std::min(query.limit, tasks_.size()));
      for (auto it = tasks_.upper_bound(query.after); it != tasks_.end(); ++it) {
        if (found.size() == query.limit) {
          page.more = true;
          break;
        }
        found.push_back(&it->second);
      }
    }
    // Copying a handle increments its task's reference count: a cache miss per task, which
    // prefetching a few ahead overlaps.
    entries.reserve(found.size());
    for (std::size_t i = 0; i < found.size(); ++i) {
      if (i + kPrefetchAhead < found.size()) found[i + kPrefetchAhead]->control->Prefetch();
      entries.push_back(*found[i]);
    }
  }
  const SnapshotClock now = SnapshotClock::Now();
  if (!query.predicate) {
    page.tasks.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      PrefetchAhead(entries, i);
      page.tasks.push_back(entries[i].control->Snapshot(entries[i].state, now));
    }
    return page;
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    PrefetchAhead(entries, i);
    const Entry& entry = entries[i];
    TaskInfo info = entry.control->Snapshot(entry.state, now);
    if (!query.predicate(info)) continue;
    ++page.total;
    if (info.id <= query.after) continue;
    if (page.tasks.size() < query.limit) {
      page.tasks.push_back(std::move(info));
    } else {
      page.more = true;
    }
  }
  return page;
}

std::vector<TaskInfo> TaskTable::Get(absl::Span<const TaskId> ids) const {
  std::vector<Entry> entries;
  entries.reserve(ids.size());
  {
    MutexLock lock(&mu_);
    for (const TaskId id : ids) {
      if (auto it = tasks_.find(id); it != tasks_.end()) entries.push_back(it->second);
    }
  }
  std::vector<TaskInfo> infos;
  infos.reserve(entries.size());
  const SnapshotClock now = SnapshotClock::Now();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    PrefetchAhead(entries, i);
    infos.push_back(entries[i].control->Snapshot(entries[i].state, now));
  }
  return infos;
}

TaskManagerStats TaskTable::Stats() const {
  MutexLock lock(&mu_);
  return TaskManagerStats{running_, queue_.size(), unclaimed_};
}

void TaskTable::JoinFinishedThreads() {
  std::vector<base::Thread> finished;
  {
    MutexLock lock(&mu_);
    finished.swap(finished_threads_);
  }
  for (base::Thread& t : finished) t.Join();
}

}  // namespace weft::internal

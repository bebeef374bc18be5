// TaskTable's stopping: StopTask, StopTasks and StopAllTasks share one engine, StopRunning, which
// asks the tasks to stop together, reports stuck ones and the stop's progress, and waits.
#include <algorithm>
#include <utility>

#include "server/internal/task_table.h"
#include "weft/base/log.h"

namespace weft::internal {
namespace {

constexpr absl::Duration kProgressInterval = absl::Milliseconds(100);

// ProgressReporter: tells a listener how one stop goes — when its counts change, at most every
// kProgressInterval, and once at the end. Confined to the stopping thread; call it without
// locks held.
class ProgressReporter {
 public:
  // `listener` may be null: nothing is reported and NextDeadline never passes.
  ProgressReporter(StopListener* listener, absl::Duration grace, std::size_t running,
                   std::size_t dropped)
      : listener_(listener), grace_(grace), running_(running), dropped_(dropped) {}

  // NextDeadline: when the stopper should wake up to report next.
  Deadline NextDeadline() const { return listener_ == nullptr ? kNoDeadline : next_; }

  // Update reports `remaining` tasks with `forced` forced so far if the counts changed since
  // the last report (or none was made) and the interval has passed.
  void Update(std::size_t remaining, std::size_t forced) {
    if (listener_ == nullptr || Clock::now() < next_) return;
    next_ = DeadlineAfter(kProgressInterval);
    if (reported_ && remaining == last_remaining_ && forced == last_forced_) return;
    Report(remaining, forced, false);
  }

  // Done reports the end of the stop.
  void Done(std::size_t forced) {
    if (listener_ != nullptr) Report(0, forced, true);
  }

 private:
  using Clock = std::chrono::steady_clock;

  void Report(std::size_t remaining, std::size_t forced, bool done) {
    reported_ = true;
    last_remaining_ = remaining;
    last_forced_ = forced;
    StopProgress progress;
    progress.remaining = remaining;
    progress.forced = forced;
    // Before the grace ran out every ended task was cooperative; after, the forced ones are
    // those left at that moment, so every other one was.
    progress.cooperative = forced == 0 ? running_ - remaining : running_ - forced;
    progress.dropped = dropped_;
    progress.elapsed = absl::Now() - start_;
    progress.grace = grace_;
    progress.done = done;
    listener_->OnStopProgress(progress);
  }

  StopListener* const listener_;
  const absl::Duration grace_;
  const std::size_t running_;
  const std::size_t dropped_;
  const absl::Time start_ = absl::Now();
  Deadline next_ = Clock::now();
  bool reported_ = false;
  std::size_t last_remaining_ = 0;
  std::size_t last_forced_ = 0;
};

}  // namespace

void TaskTable::set_stop_listener(std::shared_ptr<StopListener> listener) {
  MutexLock lock(&mu_);
  stop_listener_ = std::move(listener);
}

std::vector<std::shared_ptr<TaskControl>> TaskTable::SelectLocked(const std::vector<TaskId>& ids,
                                                                  std::vector<Thunk>& dropped) {
  std::vector<std::shared_ptr<TaskControl>> running;
  for (TaskId id : ids) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    if (it->second.state == TaskState::kQueued) {
      dropped.push_back(DropQueuedLocked(id));
      continue;
    }
    it->second.state = TaskState::kStopping;
    running.push_back(it->second.control);
  }
  return running;
}

bool TaskTable::Stop(TaskId id, absl::Duration grace) {
  std::vector<Thunk> dropped;  // Destroyed outside the lock.
  std::vector<std::shared_ptr<TaskControl>> running;
  {
    MutexLock lock(&mu_);
    if (!tasks_.contains(id)) return false;
    // Another task of this manager may be stopped from a task (on a fiber the wait parks the
    // caller); only waiting for itself is a deadlock.
    const TaskControl* self = CurrentTask();
    CHECK(self == nullptr || self->id() != id) << "task " << id << " called StopTask on itself";
    running = SelectLocked({id}, dropped);
  }
  dropped.clear();
  StopRunning(running, 0, grace, /*report_progress=*/false);
  return true;
}

StopReport TaskTable::StopSome(const std::vector<TaskId>& ids, absl::Duration grace) {
  std::vector<TaskId> unique = ids;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<Thunk> dropped;
  std::vector<std::shared_ptr<TaskControl>> running;
  {
    MutexLock lock(&mu_);
    const TaskControl* self = CurrentTask();
    CHECK(self == nullptr || !std::binary_search(unique.begin(), unique.end(), self->id()))
        << "task " << self->id() << " called StopTasks on itself";
    running = SelectLocked(unique, dropped);
  }
  const std::size_t dropped_count = dropped.size();
  dropped.clear();
  return StopRunning(running, dropped_count, grace, /*report_progress=*/true);
}

StopReport TaskTable::StopAll(absl::Duration grace) {
  std::vector<Thunk> dropped;
  std::vector<std::shared_ptr<TaskControl>> running;
  {
    MutexLock lock(&mu_);
    CheckNotOwnTaskLocked();
    stopping_all_ = true;
    idle_.SignalAll();  // Parked threads retire: StopAll returns with every thread joined.
    while (!queue_.empty()) dropped.push_back(DropQueuedLocked(queue_.front()->id()));
    for (auto& [id, entry] : tasks_) {
      entry.state = TaskState::kStopping;
      running.push_back(entry.control);
    }
  }
  const std::size_t dropped_count = dropped.size();
  dropped.clear();
  const StopReport report = StopRunning(running, dropped_count, grace, /*report_progress=*/true);
  {
    MutexLock lock(&mu_);
    // Threads that served the last tasks retire right after; wait for them to hand in handles.
    changed_.Await(&mu_, [this]() {
      mu_.AssertHeld();
      return tasks_.empty() && task_threads_.empty() && live_fibers_ == 0;
    });
    stopping_all_ = false;
  }
  JoinFinishedThreads();
  return report;
}

StopReport TaskTable::StopRunning(const std::vector<std::shared_ptr<TaskControl>>& running,
                                  std::size_t dropped, absl::Duration grace, bool report_progress) {
  std::shared_ptr<StopListener> listener;
  {
    MutexLock lock(&mu_);
    listener = stop_listener_;
  }
  // All at once: the grace runs for every task together, not one after the other.
  for (const auto& task : running) task->RequestStop();
  ProgressReporter progress(report_progress ? listener.get() : nullptr, grace, running.size(),
                            dropped);
  std::vector<TaskControl*> pending;  // Kept alive by `running`.
  pending.reserve(running.size());
  for (const auto& task : running) pending.push_back(task.get());

  // Wait waits until every pending task has ended (true) or `deadline` passes (false), waking
  // at the reporter's pace. The wake-up test only pops ended tasks off the back (amortised
  // O(1)); a full count is taken only to report.
  auto wait = [&](Deadline deadline, std::size_t forced) {
    while (true) {
      std::size_t remaining;
      {
        MutexLock lock(&mu_);
        auto ended = [&]() {
          mu_.AssertHeld();
          while (!pending.empty() && !tasks_.contains(pending.back()->id())) pending.pop_back();
          return pending.empty();
        };
        if (changed_.AwaitUntil(&mu_, ended, std::min(deadline, progress.NextDeadline()))) {
          return true;
        }
        pending.erase(std::remove_if(pending.begin(), pending.end(),
                                     [&](const TaskControl* task) {
                                       mu_.AssertHeld();
                                       return !tasks_.contains(task->id());
                                     }),
                      pending.end());
        remaining = pending.size();
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      progress.Update(remaining, forced);
    }
  };

  StopReport report;
  report.dropped = dropped;
  if (!wait(DeadlineAfter(grace), 0)) {
    // The grace ran out: whoever is still running ignored the flag. Shut them all down first,
    // then tell.
    report.forced = pending.size();
    std::vector<std::pair<TaskControl*, absl::Duration>> stuck;
    for (TaskControl* task : pending) {
      // With no grace at all nobody had a chance to cooperate: forced, not stuck.
      if (grace > absl::ZeroDuration()) stuck.emplace_back(task, task->MarkStuck());
      task->Interrupt();
    }
    for (const auto& [task, since_request] : stuck) {
      LOG(WARNING) << options_.kind << " task " << task->id() << " (peer " << task->peer()
                   << ") still running " << since_request
                   << " after it was asked to stop: stuck; shutting its connection down";
      if (listener != nullptr) {
        listener->OnTaskStuck(task->Snapshot(TaskState::kStopping, SnapshotClock::Now()),
                              since_request);
      }
    }
    wait(kNoDeadline, report.forced);
  }
  report.cooperative = running.size() - report.forced;
  progress.Done(report.forced);
  return report;
}

}  // namespace weft::internal

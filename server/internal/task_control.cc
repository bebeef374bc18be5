#include "server/internal/task_control.h"

#include <sys/socket.h>
#include <time.h>

#include <utility>

#include "weft/base/names.h"
#include "weft/task_context.h"

namespace weft {
namespace internal {
namespace {

thread_local TaskControl* current_task = nullptr;

// WallFromSteady renders a steady-clock instant as wall-clock time.
absl::Time WallFromSteady(std::int64_t steady_ns, std::int64_t now_steady_ns, absl::Time now) {
  return now - absl::Nanoseconds(now_steady_ns - steady_ns);
}

}  // namespace

std::int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void IoCounters::Touch() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  last_activity_ns.store(std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec,
                         std::memory_order_relaxed);
}

TaskId NextTaskId() {
  static std::atomic<TaskId> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

TaskControl::TaskControl(TaskId id, TaskSpec spec)
    : id_(id),
      peer_(std::move(spec.peer)),
      created_ns_(SteadyNanos()),
      thunk_(std::move(spec.run)) {}

Thunk TaskControl::TakeThunk() {
  MutexLock lock(&mu_);
  return std::move(thunk_);
}

void TaskControl::RequestShutdown() {
  shutdown_.store(true, std::memory_order_release);
  MutexLock lock(&mu_);
  // Under the lock DetachConnection takes, so the descriptor is still the connection's. A
  // connection attached after this reads the flag before its first recv(): nothing is lost.
  if (socket_fd_ >= 0 && blocking_reads_) ::shutdown(socket_fd_, SHUT_RD);
  if (waiter_ != nullptr) waiter_->Wake();
}

void TaskControl::RequestStop() {
  std::int64_t never = 0;
  stop_requested_ns_.compare_exchange_strong(never, SteadyNanos(), std::memory_order_relaxed);
  NoteEnding(CloseInitiator::kStop);
  RequestShutdown();
}

void TaskControl::Interrupt() {
  shutdown_.store(true, std::memory_order_release);
  MutexLock lock(&mu_);
  // Decided under the lock that Close's DetachConnection takes: the socket is still the
  // handler's, so whatever it sees from now on is this shutdown, not the peer.
  if (socket_fd_ >= 0) {
    ending_.store(static_cast<int>(CloseInitiator::kForced), std::memory_order_relaxed);
    // ENOTCONN (the peer already went away) is fine: the point is only to unblock I/O.
    ::shutdown(socket_fd_, SHUT_RDWR);
  } else {
    NoteEnding(CloseInitiator::kStop);
  }
  if (waiter_ != nullptr) waiter_->Wake();
}

absl::Duration TaskControl::MarkStuck() {
  stuck_.store(true, std::memory_order_relaxed);
  const std::int64_t requested = stop_requested_ns_.load(std::memory_order_relaxed);
  return requested == 0 ? absl::ZeroDuration() : absl::Nanoseconds(SteadyNanos() - requested);
}

void TaskControl::NoteEnding(CloseInitiator initiator) {
  int expected = kNoEnding;
  ending_.compare_exchange_strong(expected, static_cast<int>(initiator), std::memory_order_relaxed);
}

CloseInitiator TaskControl::ConcludeEnding() {
  NoteEnding(CloseInitiator::kHandler);
  return static_cast<CloseInitiator>(ending_.load(std::memory_order_relaxed));
}

void TaskControl::BindWaiter(TaskWaiter* waiter) {
  MutexLock lock(&mu_);
  waiter_ = waiter;
  // A shutdown requested before the waiter was bound must still wake its first Wait.
  if (waiter_ != nullptr && shutdown_requested()) waiter_->Wake();
}

TaskWaiter* TaskControl::waiter() const {
  MutexLock lock(&mu_);
  return waiter_;
}

void TaskControl::AttachConnection(int fd, const IoCounters* counters, bool blocking_reads) {
  MutexLock lock(&mu_);
  socket_fd_ = fd;
  blocking_reads_ = blocking_reads;
  counters_.store(counters, std::memory_order_relaxed);
}

void TaskControl::DetachConnection() {
  MutexLock lock(&mu_);
  if (waiter_ != nullptr && socket_fd_ >= 0) waiter_->ForgetDescriptor(socket_fd_);
  socket_fd_ = -1;
  counters_.store(nullptr, std::memory_order_relaxed);
}

void TaskControl::MarkStarted() { started_ns_.store(SteadyNanos(), std::memory_order_relaxed); }

SnapshotClock SnapshotClock::Now() { return SnapshotClock{SteadyNanos(), absl::Now()}; }

void TaskControl::Prefetch() const {
  // The reference counts a handle's copy increments sit just before the object (make_shared).
  __builtin_prefetch(reinterpret_cast<const char*>(this) - sizeof(void*));
  __builtin_prefetch(this);
  __builtin_prefetch(&mu_);
}

void TaskControl::PrefetchCounters() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // A hint, never dereferenced here: prefetching memory freed meanwhile (or null) is harmless.
  __builtin_prefetch(counters_.load(std::memory_order_relaxed));
}

TaskInfo TaskControl::Snapshot(TaskState state, const SnapshotClock& clock) const {
  const std::int64_t now_ns = clock.steady_ns;
  const absl::Time now = clock.wall;
  TaskInfo info;
  info.id = id_;
  info.state = state;
  info.peer = peer_;
  info.created = WallFromSteady(created_ns_, now_ns, now);
  info.age = absl::Nanoseconds(now_ns - created_ns_);
  const std::int64_t started = started_ns_.load(std::memory_order_relaxed);
  std::int64_t active_ns = started;
  if (started != 0) info.started = WallFromSteady(started, now_ns, now);
  const std::int64_t stop_requested = stop_requested_ns_.load(std::memory_order_relaxed);
  if (stop_requested != 0) info.stop_requested = WallFromSteady(stop_requested, now_ns, now);
  info.stuck = stuck_.load(std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    if (const IoCounters* counters = counters_.load(std::memory_order_relaxed)) {
      info.bytes_in = counters->bytes_in.load(std::memory_order_relaxed);
      info.bytes_out = counters->bytes_out.load(std::memory_order_relaxed);
      const std::int64_t last = counters->last_activity_ns.load(std::memory_order_relaxed);
      if (last != 0) {
        info.last_activity = WallFromSteady(last, now_ns, now);
        active_ns = last;
      }
    }
  }
  info.idle = absl::Nanoseconds(now_ns - (active_ns != 0 ? active_ns : created_ns_));
  return info;
}

TaskControl* CurrentTask() { return current_task; }

TaskControl* ExchangeCurrentTask(TaskControl* task) { return std::exchange(current_task, task); }

ScopedCurrentTask::ScopedCurrentTask(TaskControl* task) : previous_(current_task) {
  current_task = task;
}

ScopedCurrentTask::~ScopedCurrentTask() { current_task = previous_; }

}  // namespace internal

bool ShutdownRequested() {
  const internal::TaskControl* task = internal::CurrentTask();
  return task != nullptr && task->shutdown_requested();
}

void RequestShutdown() {
  internal::TaskControl* task = internal::CurrentTask();
  if (task != nullptr) task->RequestShutdown();
}

std::optional<TaskId> CurrentTaskId() {
  const internal::TaskControl* task = internal::CurrentTask();
  if (task == nullptr) return std::nullopt;
  return task->id();
}

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kQueued:
      return names::kTaskQueued;
    case TaskState::kRunning:
      return names::kTaskRunning;
    case TaskState::kStopping:
      return names::kTaskStopping;
  }
  return names::kUnknown;
}

}  // namespace weft

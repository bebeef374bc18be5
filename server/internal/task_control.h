// Internal header: do not include from outside the weft library and its tests.
//
// TaskControl: the shared control block of one task — its shutdown flag, the waiter and
// connection it is bound to while running, and the timestamps introspection reads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "server/internal/io_waiter.h"
#include "server/internal/task_waiter.h"
#include "weft/base/sync.h"
#include "weft/server_observer.h"
#include "weft/task.h"

namespace weft::internal {

// IoCounters: a connection's traffic counters, written by the connection's own task only (so a
// relaxed load and store, no read-modify-write, adds to them) and read by anyone. Relaxed
// atomics: readers want a recent value, not a synchronised one.
struct IoCounters {
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  // Steady-clock nanoseconds of the last byte in or out; 0 = none yet.
  std::atomic<std::int64_t> last_activity_ns{0};

  // Touch records activity now, read from the coarse monotonic clock (the steady clock's base,
  // a few milliseconds' resolution): it runs twice per echoed message, and the fine clock's
  // timer read cost ~2 % of a ping-pong server's CPU.
  void Touch();
};

// IoTotals: traffic counters shared by many connections (one shard of a server's totals), added
// to with relaxed fetch_add. Aligned to a cache line so that shards do not share one.
struct alignas(64) IoTotals {
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
};

// SteadyNanos returns the steady clock's now in nanoseconds.
std::int64_t SteadyNanos();

// SnapshotClock: one reading of the steady and wall clocks, shared by the snapshots of a page
// so that their ages and idle times are measured against the same instant (and the clocks are
// read once per page, not twice per task).
struct SnapshotClock {
  std::int64_t steady_ns;
  absl::Time wall;

  static SnapshotClock Now();
};

// TaskControl: thread-safe. Owned jointly (shared_ptr) by the manager's table and by the
// thread running the task, because StopTask and ListTasks may hold it after the task is gone.
class TaskControl {
 public:
  TaskControl(TaskId id, TaskSpec spec);
  TaskControl(const TaskControl&) = delete;
  TaskControl& operator=(const TaskControl&) = delete;

  TaskId id() const { return id_; }
  const std::string& peer() const { return peer_; }

  // TakeThunk moves the thunk out (once, by whoever runs or drops the task).
  Thunk TakeThunk() ABSL_LOCKS_EXCLUDED(mu_);

  bool shutdown_requested() const { return shutdown_.load(std::memory_order_acquire); }

  // RequestShutdown sets the shutdown flag and wakes the bound waiter, if any, and a blocking
  // read of the attached connection (see AttachConnection).
  void RequestShutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // RequestStop is RequestShutdown on behalf of whoever stops the task from outside (StopTask,
  // StopTasks, StopAllTasks): it also notes CloseInitiator::kStop as the ending (NoteEnding)
  // and, the first time, the instant of the request (TaskInfo::stop_requested).
  void RequestStop() ABSL_LOCKS_EXCLUDED(mu_);

  // MarkStuck records that a stop's grace ran out with the task still running
  // (TaskInfo::stuck) and returns the time since the first stop request.
  absl::Duration MarkStuck();

  // Interrupt requests shutdown and shuts the attached socket down (SHUT_RDWR), so that
  // blocked reads and writes on it return. The descriptor is never closed here. With a socket
  // attached the ending becomes CloseInitiator::kForced whatever was noted before; without one
  // kStop is noted.
  void Interrupt() ABSL_LOCKS_EXCLUDED(mu_);

  // NoteEnding records why the task's connection is ending, unless a cause was noted before
  // (the first one wins) or the ending is concluded. Called by the task's Connection when its
  // I/O meets the end (the peer, a timeout).
  void NoteEnding(CloseInitiator initiator);

  // ConcludeEnding returns the noted cause, kHandler if none, and fixes it: later notes change
  // nothing. Called by the task once its connection is closed.
  CloseInitiator ConcludeEnding();

  // io_totals: the server-wide counters the task's Connection adds its traffic to, or null.
  // Set and read by the running task only, before it creates its connection.
  IoTotals* io_totals() const { return io_totals_; }
  void set_io_totals(IoTotals* totals) { io_totals_ = totals; }

  // BindWaiter attaches (or, with nullptr, detaches) the waiter of the thread or fiber running
  // the task; detaching guarantees no later Wake reaches it. Called by the running task.
  void BindWaiter(TaskWaiter* waiter) ABSL_LOCKS_EXCLUDED(mu_);
  TaskWaiter* waiter() const ABSL_LOCKS_EXCLUDED(mu_);

  // AttachConnection / DetachConnection register the task's socket and counters. Detach before
  // closing the descriptor: Interrupt and RequestShutdown never touch a descriptor after Detach
  // returns, and the bound waiter is told to forget the descriptor
  // (TaskWaiter::ForgetDescriptor). With `blocking_reads` the connection blocks in recv() on
  // the socket: RequestShutdown then also shuts its read side (SHUT_RD), which ends such a
  // recv() at once, and any later one, with end of stream (nothing is sent to the peer).
  void AttachConnection(int fd, const IoCounters* counters, bool blocking_reads)
      ABSL_LOCKS_EXCLUDED(mu_);
  void DetachConnection() ABSL_LOCKS_EXCLUDED(mu_);

  // MarkStarted records the start instant (called once, when the task begins to run).
  void MarkStarted();

  // Snapshot fills a TaskInfo for `state` (the state lives in the manager's table), as of `now`.
  TaskInfo Snapshot(TaskState state, const SnapshotClock& now) const ABSL_LOCKS_EXCLUDED(mu_);
  // Prefetch and PrefetchCounters ask the CPU to load what Snapshot reads: a listing walks
  // thousands of tasks, each in memory of its own (the counters in their connection's thread's
  // heap), and prefetching ahead overlaps the cache misses. PrefetchCounters reads the counters'
  // address from this object: call it once Prefetch's lines have had time to arrive.
  void Prefetch() const;
  void PrefetchCounters() const;

 private:
  const TaskId id_;
  const std::string peer_;
  const std::int64_t created_ns_;
  std::atomic<std::int64_t> started_ns_{0};
  std::atomic<bool> shutdown_{false};
  std::atomic<std::int64_t> stop_requested_ns_{0};  // Steady clock; 0 = never.
  std::atomic<bool> stuck_{false};
  // A CloseInitiator, or kNoEnding.
  static constexpr int kNoEnding = -1;
  std::atomic<int> ending_{kNoEnding};
  IoTotals* io_totals_ = nullptr;

  mutable Mutex mu_;
  Thunk thunk_ ABSL_GUARDED_BY(mu_);
  TaskWaiter* waiter_ ABSL_GUARDED_BY(mu_) = nullptr;
  int socket_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool blocking_reads_ ABSL_GUARDED_BY(mu_) = false;
  // Written and dereferenced under mu_ (Detach then waits for a Snapshot reading through it);
  // atomic so that PrefetchCounters may read it without the lock.
  std::atomic<const IoCounters*> counters_ ABSL_GUARDED_BY(mu_){nullptr};
};

// CurrentTask returns the control block of the task running on this thread (or on the fiber
// running on it), or nullptr.
TaskControl* CurrentTask();

// ExchangeCurrentTask sets this thread's current task and returns the previous one. Fiber
// schedulers call it on every switch, so that the current task is per fiber, not per thread.
TaskControl* ExchangeCurrentTask(TaskControl* task);

// ScopedCurrentTask makes `task` the current task of this thread for its scope.
class ScopedCurrentTask {
 public:
  explicit ScopedCurrentTask(TaskControl* task);
  ~ScopedCurrentTask();
  ScopedCurrentTask(const ScopedCurrentTask&) = delete;
  ScopedCurrentTask& operator=(const ScopedCurrentTask&) = delete;

 private:
  TaskControl* const previous_;
};

// NextTaskId returns a fresh process-wide task id (never 0, never reused).
TaskId NextTaskId();

}  // namespace weft::internal

// Internal header: do not include from outside the weft library and its tests.
//
// PollWaiter: the IoWaiter of thread-based managers — ppoll() on the connection, woken by a
// signal sent to the waiting thread. It costs no descriptor: a connection on a thread-based
// manager holds exactly one (its socket).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>

#include "server/internal/io_waiter.h"
#include "server/internal/task_waiter.h"

namespace weft::internal {

// WakeSignal: the signal PollWaiter::Wake sends, SIGRTMIN + 4. Weft installs a handler that
// does nothing (once, on the first PollWaiter; see io_waiter.h for an existing
// disposition) and keeps the signal blocked on every thread that owns a PollWaiter, unblocking
// it only inside ppoll(), so a wake-up is never lost and no other system call of a handler is
// interrupted. A program using Weft must not ignore, handle or send this signal itself.
int WakeSignal();

// PollWaiter: constructed, used and destroyed on one thread (the "owning thread"); Wait and
// Reset are confined to it; Wake is thread-safe but may only be called while the owning thread
// is alive, i.e. while the waiter is bound to a task (TaskControl guarantees it).
class PollWaiter final : public TaskWaiter {
 public:
  // Blocks WakeSignal() on the calling thread (restored by the destructor).
  PollWaiter();
  ~PollWaiter() override;
  PollWaiter(const PollWaiter&) = delete;
  PollWaiter& operator=(const PollWaiter&) = delete;

  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override;
  void Wake() override;
  bool BlocksThread() const override { return true; }

  // Reset discards a wake-up still pending for the owning thread.
  void Reset() override;

 private:
  const pthread_t thread_;
  // A wake-up signal is on its way or pending: Wake sends at most one until the owning thread
  // has taken it (real-time signals queue, and the queue is bounded by RLIMIT_SIGPENDING).
  std::atomic<bool> wake_pending_{false};
  // The owning thread's signal mask while it waits: its own mask without WakeSignal().
  sigset_t wait_mask_;
  // Whether WakeSignal() was blocked before the constructor blocked it.
  bool was_blocked_ = false;
};

// DefaultWaiter returns a waiter for I/O outside any task: it polls without a wake-up source.
IoWaiter& DefaultWaiter();

}  // namespace weft::internal

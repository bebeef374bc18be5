// Internal header: do not include from outside the weft library and its tests.
//
// IoWaiter: the one seam through which Weft connections wait for I/O readiness.
//
// Connection never calls poll() itself; it asks the running task's waiter. Thread-based
// managers use a ppoll()-based waiter woken by a signal sent to the waiting thread (no
// descriptor of its own) — for writes and deadline-bound reads; their other reads block in
// recv() itself (BlocksThread) — and the fiber manager's waiter parks the task on its
// scheduler's epoll instead of blocking the thread; handler code does not change.
//
// The wake-up signal is SIGRTMIN+4. The first worker thread of a thread-based manager installs
// a handler for it that does nothing (an inherited SIG_IGN is taken over with a warning; a
// handler of the program's own is a conflict and CHECK-fails); the signal is blocked on worker
// threads except inside ppoll(), so it never interrupts other system calls of a handler. A
// program using Weft's thread-based managers must leave SIGRTMIN+4 alone.
#pragma once

#include "absl/status/status.h"
#include "weft/base/deadline.h"

namespace weft {

// IoInterest: what a waiter waits for.
enum class IoInterest { kReadable, kWritable };

class IoWaiter {
 public:
  virtual ~IoWaiter() = default;

  // Wait blocks until `fd` is ready for `interest` (or has an error or hang-up pending),
  // `deadline` passes, or the calling task is asked to shut down.
  // Returns: OK when the caller should retry its system call; DEADLINE_EXCEEDED;
  // CANCELLED when the task's shutdown was requested. Thread contract: called only by the task
  // the waiter is bound to.
  [[nodiscard]] virtual absl::Status Wait(int fd, IoInterest interest, Deadline deadline) = 0;

  // Wake makes a current or the next Wait return to re-check the shutdown flag.
  // Thread-safe; never blocks.
  virtual void Wake() = 0;

  // BlocksThread tells whether the task owns the thread it runs on, so that it may block in a
  // system call itself. A Connection then reads with a blocking recv() (one system call per
  // read instead of a wait and a read), and the task's shutdown reaches that recv() through
  // shutdown(SHUT_RD) on its socket (TaskControl::RequestShutdown). Fibers must not block their
  // scheduler's thread: false. Thread-safe.
  virtual bool BlocksThread() const = 0;
};

}  // namespace weft

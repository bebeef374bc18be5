// IoWaiter: the one seam through which Weft connections wait for I/O readiness.
//
// Connection never calls poll() itself; it asks the running task's waiter. Thread-based
// managers use a poll()-based waiter that also watches a per-worker wake-up eventfd; an
// event-driven manager can supply a waiter that parks the task instead of the thread, and
// handler code does not change.
#pragma once

#include "absl/status/status.h"
#include "weft/deadline.h"

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
};

}  // namespace weft

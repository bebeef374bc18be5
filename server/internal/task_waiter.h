// Internal header: do not include from outside the weft library and its tests.
//
// TaskWaiter: the IoWaiter a task manager binds to a running task, with the two hooks the
// task table and the task's control block need beyond IoWaiter.
#pragma once

#include "server/internal/io_waiter.h"

namespace weft::internal {

// TaskWaiter: Wait and ForgetDescriptor are confined to the task the waiter is bound to; Wake is
// thread-safe and never blocks.
class TaskWaiter : public IoWaiter {
 public:
  // Reset discards pending wake-ups; called before the waiter is bound to a new task.
  virtual void Reset() = 0;

  // ForgetDescriptor is called by the bound task just before it closes `fd` (a socket it has
  // waited on, or may have): a waiter that keeps descriptors registered drops them here, so a
  // later descriptor with the same number is never mistaken for this one.
  virtual void ForgetDescriptor(int fd) { (void)fd; }
};

}  // namespace weft::internal

// Internal header: do not include from outside the weft library and its tests.
//
// PollWaiter: the IoWaiter of thread-based managers — poll() on the connection plus an eventfd
// that Wake() writes to.
#pragma once

#include "server/internal/task_waiter.h"
#include "server/internal/unique_fd.h"
#include "weft/io_waiter.h"

namespace weft::internal {

// PollWaiter: Wait is confined to the owning thread; Wake is thread-safe.
class PollWaiter final : public TaskWaiter {
 public:
  // Creates the wake-up eventfd. If that fails (descriptor exhaustion), the waiter still works
  // but notices a shutdown request only every kFallbackSlice instead of at once.
  PollWaiter();

  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override;
  void Wake() override;

  void Reset() override;

 private:
  UniqueFd wake_fd_;
};

// DefaultWaiter returns a waiter for I/O outside any task: it polls without a wake-up source.
IoWaiter& DefaultWaiter();

}  // namespace weft::internal

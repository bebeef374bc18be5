// DrainWaiter: what weftd's drain waits on — a connection ending on any listener, or an abort —
// so the drain wakes when something changed instead of recounting connections on a timer.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "weft/base/sync.h"
#include "weft/server_observer.h"

namespace weft::control {

// DrainWaiter: thread-safe. Must outlive the servers its observers are given to.
class DrainWaiter {
 public:
  // Observer returns an observer to add to a listener's: each kTaskFinished or kTaskRemoved
  // (a connection that ended) wakes Wait.
  std::shared_ptr<ServerObserver> Observer();

  // Abort ends every current and future Wait at once.
  void Abort() ABSL_LOCKS_EXCLUDED(mu_);

  // Wait blocks until `done()` is true, Abort is called, or `deadline` passes, and returns
  // done()'s last value. done() is evaluated without DrainWaiter's lock, first at once and then
  // after each wake-up; it may take the servers' locks.
  bool Wait(absl::FunctionRef<bool()> done, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // aborted: whether Abort has been called.
  bool aborted() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class EndObserver;
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  mutable Mutex mu_;
  CondVar changed_;
  std::uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // Connections ended so far.
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace weft::control

#include "control/daemon/drain_waiter.h"

#include "absl/time/clock.h"
#include "weft/base/deadline.h"

namespace weft::control {

class DrainWaiter::EndObserver final : public ServerObserver {
 public:
  explicit EndObserver(DrainWaiter* waiter) : waiter_(waiter) {}
  void OnEvent(const ServerEvent& event) override {
    if (event.kind == ServerEvent::Kind::kTaskFinished ||
        event.kind == ServerEvent::Kind::kTaskRemoved) {
      waiter_->Wake();
    }
  }

 private:
  DrainWaiter* const waiter_;
};

std::shared_ptr<ServerObserver> DrainWaiter::Observer() {
  return std::make_shared<EndObserver>(this);
}

void DrainWaiter::Wake() {
  MutexLock lock(&mu_);
  ++generation_;
  changed_.SignalAll();
}

void DrainWaiter::Abort() {
  MutexLock lock(&mu_);
  aborted_ = true;
  changed_.SignalAll();
}

bool DrainWaiter::aborted() const {
  MutexLock lock(&mu_);
  return aborted_;
}

bool DrainWaiter::Wait(absl::FunctionRef<bool()> done, absl::Time deadline) {
  const Deadline until = DeadlineAfter(deadline - absl::Now());
  while (true) {
    std::uint64_t seen;
    {
      MutexLock lock(&mu_);
      if (aborted_) break;
      seen = generation_;
    }
    // A connection ending after `seen` was read bumps the generation, so the wait below
    // returns at once and done() is asked again: no end is missed.
    if (done()) return true;
    MutexLock lock(&mu_);
    if (!changed_.AwaitUntil(
            &mu_,
            [&]() {
              mu_.AssertHeld();
              return aborted_ || generation_ != seen;
            },
            until)) {
      break;
    }
  }
  return done();
}

}  // namespace weft::control

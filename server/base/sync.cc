#include "weft/base/sync.h"

#include "weft/base/log.h"

namespace weft {

void CondVar::Wait(Mutex* mu) {
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  cv_.wait(lock);
  lock.release();
}

bool CondVar::WaitUntil(Mutex* mu, Deadline deadline) {
  if (deadline == kNoDeadline) {
    Wait(mu);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  const bool signalled = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
  lock.release();
  return signalled;
}

void Notification::Notify() {
  MutexLock lock(&mu_);
  CHECK(!notified_) << "Notification::Notify called twice";
  notified_ = true;
  cv_.SignalAll();
}

bool Notification::HasBeenNotified() const {
  MutexLock lock(&mu_);
  return notified_;
}

void Notification::WaitForNotification() const {
  MutexLock lock(&mu_);
  cv_.Await(&mu_, [this]() {
    mu_.AssertHeld();
    return notified_;
  });
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  MutexLock lock(&mu_);
  return cv_.AwaitUntil(
      &mu_,
      [this]() {
        mu_.AssertHeld();
        return notified_;
      },
      DeadlineAfter(timeout));
}

}  // namespace weft

// Mutex, MutexLock, CondVar and Notification: thin, thread-safety-annotated wrappers over the
// standard library's pthread-based primitives.
//
// Part of weft::base: any Weft component (server/, control/, client-cli/, tests, bench) may
// include it. Installed with the library (whose public headers need weft/base/deadline.h), but
// not a supported API for programs using Weft.
//
// Why not absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, so TSan cannot see
// the happens-before edges absl::Mutex and absl::Notification create and reports every guarded
// access as a race. pthread mutexes and condition variables are intercepted by TSan, so the
// library's own code stays checkable. The annotations (ABSL_GUARDED_BY and friends) still work
// under clang's -Wthread-safety.
#pragma once

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "weft/base/deadline.h"

namespace weft {

// Mutex: a non-recursive exclusive lock. Thread-safe.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// MutexLock: holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// CondVar: a condition variable used with weft::Mutex. Thread-safe.
class CondVar {
 public:
  // Wait atomically releases *mu, blocks until signalled (or spuriously woken) and re-acquires it.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // WaitUntil is Wait with a deadline; returns false when the deadline passed.
  bool WaitUntil(Mutex* mu, Deadline deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Await blocks until pred() is true; pred is evaluated with *mu held.
  template <typename Pred>
  void Await(Mutex* mu, Pred pred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!pred()) Wait(mu);
  }

  // AwaitUntil is Await with a deadline; returns pred()'s final value.
  template <typename Pred>
  bool AwaitUntil(Mutex* mu, Pred pred, Deadline deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!pred()) {
      if (!WaitUntil(mu, deadline)) return pred();
    }
    return true;
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// Notification: a one-shot event. Thread-safe.
class Notification {
 public:
  // Notify marks the event; CHECK-fails if called twice (a bug in the caller).
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);
  bool HasBeenNotified() const ABSL_LOCKS_EXCLUDED(mu_);
  void WaitForNotification() const ABSL_LOCKS_EXCLUDED(mu_);
  // WaitForNotificationWithTimeout returns whether the event happened within timeout.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace weft

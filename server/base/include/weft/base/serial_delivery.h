// SerialDelivery: hands callbacks (observer events, status publications) to their receivers in
// the order they were posted, one at a time, with no lock of the poster held — so a receiver may
// take its own locks, call into gRPC or read the object that posted, without deadlocking on a
// lock its caller held.
//
// Part of weft::base: any Weft component may include it; not a supported API for programs
// using Weft.
#pragma once

#include <cstdint>
#include <deque>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "weft/base/sync.h"

namespace weft {

// SerialDelivery: thread-safe.
//
// Posting and delivering are separate steps: Post may be called under the poster's own locks
// (it takes only an internal leaf lock) and records the callback in order; Flush, called after
// the poster has released every lock, runs the callbacks. One thread delivers at a time: a
// Flush that finds another thread delivering waits until that thread has run everything posted
// before the call, so when Flush returns every callback posted before it has returned.
class SerialDelivery {
 public:
  using Callback = absl::AnyInvocable<void() &&>;

  // Post appends `callback` to the queue; never runs it. The callback must not throw. Returns
  // its sequence number (1, 2, ...) for AwaitDelivered.
  std::uint64_t Post(Callback callback) ABSL_LOCKS_EXCLUDED(mu_);

  // AwaitDelivered blocks until the callback numbered `sequence` (and every one before it) has
  // run — delivered by whoever flushes; it never delivers itself, so a thread that a lock holder
  // joins can wait here without making that lock holder wait on an observer.
  void AwaitDelivered(std::uint64_t sequence) ABSL_LOCKS_EXCLUDED(mu_);

  // Flush runs every posted callback, in order, on this thread or — when another thread is
  // already delivering — waits until that thread has run them. Requires: the caller holds no
  // lock a callback might take. Called from inside a callback it returns at once (the outer
  // Flush delivers what that callback posted, after it returns).
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Mutex mu_;
  CondVar delivered_cv_;
  std::deque<Callback> queue_ ABSL_GUARDED_BY(mu_);
  std::uint64_t posted_ ABSL_GUARDED_BY(mu_) = 0;     // Callbacks ever posted.
  std::uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;  // Callbacks ever run to completion.
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id deliverer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft

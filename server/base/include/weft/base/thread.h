// Thread: a joinable thread whose stack size is chosen — what std::thread cannot set.
//
// Why it matters: glibc keeps freed thread stacks for reuse only up to 40 MiB in all — five at
// the 8 MiB default (RLIMIT_STACK), forty at 1 MiB. A thread-per-connection server that creates
// more threads than that at once maps, faults in and unmaps a fresh stack (and its static TLS)
// for each connection: bench/RESULTS.md measures the connection rate against the stack size.
#pragma once

#include <pthread.h>

#include <cstddef>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace weft::base {

// Thread: move-only; like std::thread, it must be joined before it is destroyed or assigned to
// (a CHECK failure otherwise). Thread-compatible: one owner calls Join.
class Thread {
 public:
  Thread() = default;
  // Start runs `body` on a new thread with a stack of `stack_size` bytes (rounded up to whole
  // pages and to at least PTHREAD_STACK_MIN); 0 = the process's default. An exception escaping
  // `body` terminates the process, as with std::thread. Errors: RESOURCE_EXHAUSTED when the
  // system has no thread or memory to give (EAGAIN, ENOMEM); INTERNAL for anything else.
  static absl::StatusOr<Thread> Start(std::size_t stack_size, absl::AnyInvocable<void()> body);

  Thread(Thread&& other) noexcept;
  Thread& operator=(Thread&& other) noexcept;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  ~Thread();

  // joinable: started and not yet joined.
  bool joinable() const { return joinable_; }
  // Join waits until the body has returned. Requires joinable(); not from the thread itself.
  void Join();

 private:
  pthread_t id_{};
  bool joinable_ = false;
};

// UseBatchScheduling puts the calling thread under SCHED_BATCH: the same share of the CPU as
// SCHED_OTHER at the same nice value, but when it wakes it never preempts the thread running on
// its CPU; it runs when that one blocks or its slice ends. For a thread that hands work to others
// (an accept loop): woken by every new connection, it would otherwise preempt the threads that
// serve the connections it already handed over, a context switch each. Unprivileged. Errors:
// what sched_setscheduler(2) reports (EPERM under a seccomp policy that forbids it); the thread
// then keeps its policy.
absl::Status UseBatchScheduling();

}  // namespace weft::base

#include "server/internal/poll_waiter.h"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/time/time.h"
#include "server/internal/task_control.h"
#include "weft/base/log.h"

namespace weft::internal {
namespace {

void IgnoreWake(int) {}

void InstallWakeHandlerOnce() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = IgnoreWake;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: the point of the signal is to make ppoll() return EINTR.
    action.sa_flags = 0;
    struct sigaction previous {};
    PCHECK(::sigaction(WakeSignal(), &action, &previous) == 0) << "sigaction(WakeSignal)";
    // A handler of the program's own for this signal is a conflict in the program (a bug):
    // say so rather than lose its wake-ups or ours. SIG_IGN may merely be inherited from the
    // parent across exec: taken over, with a note.
    CHECK(previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN)
        << "signal SIGRTMIN+4 has a handler of the program's; Weft's thread-based task managers "
           "use it to wake blocked I/O (see weft/task_manager.h)";
    if (previous.sa_handler == SIG_IGN) {
      LOG(WARNING) << "SIGRTMIN+4 was ignored (inherited?); Weft now uses it to wake blocked I/O";
    }
    return true;
  }();
  (void)installed;
}

// TimeoutSpec converts a deadline into ppoll()'s timeout; null = wait forever.
const timespec* TimeoutSpec(Deadline deadline, timespec* storage) {
  const absl::Duration left = TimeUntil(deadline);
  if (left == absl::InfiniteDuration()) return nullptr;
  *storage = absl::ToTimespec(std::max(left, absl::ZeroDuration()));
  return storage;
}

bool ShutdownRequestedHere() {
  const TaskControl* task = CurrentTask();
  return task != nullptr && task->shutdown_requested();
}

// PollOnce waits for `fd`; `mask` (may be null) is the signal mask ppoll() installs while it
// blocks, i.e. the one that lets the wake-up signal in; `after_poll` runs after every ppoll()
// return, before the shutdown flag is checked again (by this loop or the next Wait).
template <typename AfterPoll>
absl::Status PollOnce(int fd, IoInterest interest, const sigset_t* mask, Deadline deadline,
                      AfterPoll after_poll) {
  while (true) {
    if (ShutdownRequestedHere()) return absl::CancelledError("task is shutting down");
    pollfd pfd = {fd, static_cast<short>(interest == IoInterest::kReadable ? POLLIN : POLLOUT), 0};
    timespec storage{};
    const int n = ::ppoll(&pfd, 1, TimeoutSpec(deadline, &storage), mask);
    const int err = errno;
    after_poll();
    if (n < 0) {
      // EINTR: a wake-up (or another signal); the loop head re-checks the flag.
      if (err == EINTR) continue;
      return absl::ErrnoToStatus(err, "ppoll");
    }
    if (pfd.revents != 0) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("I/O deadline passed");
    }
  }
}

class DeadlineOnlyWaiter final : public IoWaiter {
 public:
  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override {
    return PollOnce(fd, interest, nullptr, deadline, [] {});
  }
  void Wake() override {}
  bool BlocksThread() const override { return true; }
};

sigset_t WakeSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, WakeSignal());
  return set;
}

}  // namespace

int WakeSignal() { return SIGRTMIN + 4; }

PollWaiter::PollWaiter() : thread_(::pthread_self()) {
  InstallWakeHandlerOnce();
  const sigset_t wake = WakeSet();
  sigset_t old;
  CHECK_EQ(::pthread_sigmask(SIG_BLOCK, &wake, &old), 0) << "pthread_sigmask";
  was_blocked_ = sigismember(&old, WakeSignal()) == 1;
  wait_mask_ = old;
  sigdelset(&wait_mask_, WakeSignal());
}

PollWaiter::~PollWaiter() {
  if (was_blocked_) return;
  Reset();
  const sigset_t wake = WakeSet();
  CHECK_EQ(::pthread_sigmask(SIG_UNBLOCK, &wake, nullptr), 0) << "pthread_sigmask";
}

absl::Status PollWaiter::Wait(int fd, IoInterest interest, Deadline deadline) {
  // Clearing the flag after each ppoll() and before the shutdown flag is checked again loses
  // nothing: a Wake that found it set exchanged it before this exchange, which therefore reads
  // from (synchronises with) that Wake and sees its shutdown request. A signal left pending
  // meanwhile only ends a later ppoll() early.
  return PollOnce(fd, interest, &wait_mask_, deadline,
                  [this] { wake_pending_.exchange(false, std::memory_order_acq_rel); });
}

void PollWaiter::Wake() {
  // The signal is blocked outside ppoll(), so one sent before the owning thread waits stays
  // pending and ends its next ppoll() at once: nothing is lost. One in flight is enough.
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  const int err = ::pthread_kill(thread_, WakeSignal());
  if (err != 0) {
    // EAGAIN: the user's queue of pending signals (RLIMIT_SIGPENDING) is full. The task then
    // notices its stop at its next wait, or when the grace period ends and its socket is shut
    // down; a later Wake tries again.
    wake_pending_.store(false);
    LOG_EVERY_N(WARNING, 100) << "cannot send the wake-up signal: " << std::strerror(err);
  }
}

void PollWaiter::Reset() {
  // Without a wake-up in flight there is nothing to discard: skip the system call (Reset runs
  // before every task). A signal whose flag a ppoll() return already cleared may still be
  // pending; as in Wait, it only ends the next ppoll() early.
  if (!wake_pending_.exchange(false, std::memory_order_acq_rel)) return;
  const sigset_t wake = WakeSet();
  const timespec zero{};
  while (::sigtimedwait(&wake, nullptr, &zero) > 0) {
  }
}

IoWaiter& DefaultWaiter() {
  static DeadlineOnlyWaiter waiter;
  return waiter;
}

}  // namespace weft::internal

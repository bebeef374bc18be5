#include "server/internal/poll_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <glog/logging.h>

#include "absl/time/time.h"
#include "server/internal/sync.h"
#include "server/internal/task_control.h"

namespace weft::internal {
namespace {

// Without a wake-up descriptor, a wait re-checks the shutdown flag this often.
constexpr absl::Duration kFallbackSlice = absl::Milliseconds(50);

// PollTimeoutMs converts a deadline into poll()'s timeout, rounding up so a sub-millisecond
// remainder does not become a busy 0 ms poll; capped at `cap` (infinite = no cap).
int PollTimeoutMs(Deadline deadline, absl::Duration cap) {
  absl::Duration left = TimeUntil(deadline);
  left = std::min(left, cap);
  if (left == absl::InfiniteDuration()) return -1;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

bool ShutdownRequestedHere() {
  const TaskControl* task = CurrentTask();
  return task != nullptr && task->shutdown_requested();
}

absl::Status PollOnce(int fd, IoInterest interest, int wake_fd, Deadline deadline) {
  while (true) {
    if (ShutdownRequestedHere()) return absl::CancelledError("task is shutting down");
    pollfd fds[2] = {
        {fd, static_cast<short>(interest == IoInterest::kReadable ? POLLIN : POLLOUT), 0},
        {wake_fd, POLLIN, 0},
    };
    const nfds_t count = wake_fd >= 0 ? 2 : 1;
    const absl::Duration cap = wake_fd >= 0 ? absl::InfiniteDuration() : kFallbackSlice;
    const int n = ::poll(fds, count, PollTimeoutMs(deadline, cap));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll");
    }
    if (fds[0].revents != 0) return absl::OkStatus();
    if (count == 2 && fds[1].revents != 0) {
      uint64_t value;
      // Drain the wake-up; the loop head then re-checks the flag (a stale wake is harmless).
      [[maybe_unused]] ssize_t r = ::read(wake_fd, &value, sizeof value);
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("I/O deadline passed");
    }
  }
}

class DeadlineOnlyWaiter final : public IoWaiter {
 public:
  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override {
    return PollOnce(fd, interest, -1, deadline);
  }
  void Wake() override {}
};

}  // namespace

namespace {

UniqueFd NewWakeFd() {
  MutexLock lock(&DescriptorReserveMutex());
  return UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

}  // namespace

PollWaiter::PollWaiter() : wake_fd_(NewWakeFd()) {
  if (!wake_fd_.valid()) {
    PLOG_EVERY_N(WARNING, 100) << "eventfd for a task waiter failed; shutdown requests will be "
                                  "noticed within "
                               << kFallbackSlice;
  }
}

absl::Status PollWaiter::Wait(int fd, IoInterest interest, Deadline deadline) {
  return PollOnce(fd, interest, wake_fd_.get(), deadline);
}

void PollWaiter::Wake() {
  if (!wake_fd_.valid()) return;
  const uint64_t one = 1;
  // EAGAIN means the counter is saturated: a wake-up is pending already.
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

void PollWaiter::Reset() {
  if (!wake_fd_.valid()) return;
  uint64_t value;
  [[maybe_unused]] ssize_t r = ::read(wake_fd_.get(), &value, sizeof value);
}

IoWaiter& DefaultWaiter() {
  static DeadlineOnlyWaiter waiter;
  return waiter;
}

}  // namespace weft::internal

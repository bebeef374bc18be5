#include "server/internal/acceptor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/time/time.h"
#include "server/internal/socket.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"
#include "weft/descriptor_limit.h"

namespace weft::internal {
namespace {

constexpr int kAcceptBatch = 64;
constexpr absl::Duration kMinBackoff = absl::Milliseconds(10);
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(200);

// DescriptorCeiling returns the lowest descriptor number an accepted connection may not have:
// the soft RLIMIT_NOFILE less a headroom of 1/8 of it (at least 8, at most 64). The kernel
// hands out the lowest free number, so a connection numbered at or above the ceiling means that
// fewer than `headroom` descriptors are left for the rest of the process — a control plane's
// own accept, log files. Such a connection is shed like one accepted at EMFILE. (A
// DescriptorBudget, when the server has one, sheds long before this.) Re-read on every
// wake-up: the limit may change at run time.
int DescriptorCeiling() {
  const std::uint64_t limit = SoftDescriptorLimit();
  if (limit >= kMaxSoftDescriptorLimit) return static_cast<int>(kMaxSoftDescriptorLimit);
  const std::uint64_t headroom = std::clamp<std::uint64_t>(limit / 8, 8, 64);
  return static_cast<int>(limit > headroom ? limit - headroom : 0);
}

UniqueFd OpenReserve() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

// IsTransient: accept(2) errors that concern one pending connection, not the listener.
bool IsTransient(int err) {
  switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

bool IsResourceShortage(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

Mutex& DescriptorReserveMutex() {
  static Mutex* const mu = new Mutex();  // Never destroyed: used until the process exits.
  return *mu;
}

absl::StatusOr<std::unique_ptr<Acceptor>> Acceptor::Create(UniqueFd listen_fd, OnAccept on_accept,
                                                           OnShed on_shed) {
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd for the acceptor");
  return std::unique_ptr<Acceptor>(new Acceptor(std::move(listen_fd), std::move(wake_fd),
                                                std::move(on_accept), std::move(on_shed)));
}

Acceptor::Acceptor(UniqueFd listen_fd, UniqueFd wake_fd, OnAccept on_accept, OnShed on_shed)
    : listen_fd_(std::move(listen_fd)),
      wake_fd_(std::move(wake_fd)),
      reserve_fd_(OpenReserve()),
      on_accept_(std::move(on_accept)),
      on_shed_(std::move(on_shed)) {}

Acceptor::~Acceptor() = default;

void Acceptor::Stop(StopMode mode) {
  if (stopping_.exchange(true)) return;
  // On Linux, shutdown() of a listening socket stops it listening (pending and new connects are
  // refused) and wakes accept(); the eventfd wakes a poll() that is not watching it. With
  // SO_REUSEPORT, new connects go to the group's other listeners, and with
  // net.ipv4.tcp_migrate_req=1 so do the pending ones (the kernel's tcp_disconnect takes the
  // same inet_csk_listen_stop path as close()).
  if (mode == StopMode::kShutDown) ::shutdown(listen_fd_.get(), SHUT_RDWR);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
}

Acceptor::ShedResult Acceptor::ShedOne() {
  sockaddr_storage addr{};
  {
    // Weft's other descriptor allocations (task waiters) take this lock too, so none of them
    // can take the slot the reserve frees for the moment of the accept.
    MutexLock lock(&DescriptorReserveMutex());
    if (!reserve_fd_.valid()) reserve_fd_ = OpenReserve();
    if (!reserve_fd_.valid()) return ShedResult::kNoReserve;
    reserve_fd_.Reset();
    socklen_t len = sizeof addr;
    UniqueFd fd(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    const bool shed = fd.valid();
    fd.Reset();
    reserve_fd_ = OpenReserve();
    if (!shed) return ShedResult::kNothingPending;
  }
  on_shed_(EndpointFromSockaddr(addr));  // The observer it reaches runs without the lock.
  return ShedResult::kShed;
}

void Acceptor::Loop(absl::FunctionRef<void()> after_batch) {
  absl::Duration backoff = absl::ZeroDuration();
  while (!stopping_.load()) {
    pollfd fds[2] = {{wake_fd_.get(), POLLIN, 0}, {listen_fd_.get(), POLLIN, 0}};
    // While backing off, watch only the wake-up: the listener stays readable and would spin.
    const bool backing_off = backoff > absl::ZeroDuration();
    const int timeout_ms = backing_off ? static_cast<int>(absl::ToInt64Milliseconds(backoff)) : -1;
    if (::poll(fds, backing_off ? 1 : 2, timeout_ms) < 0 && errno != EINTR) {
      PLOG(ERROR) << "acceptor poll failed";
    }
    if (stopping_.load()) break;
    bool shortage = false;
    const int ceiling = DescriptorCeiling();
    for (int i = 0; i < kAcceptBatch; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= ceiling) {
        ::close(fd);  // Into the headroom: shed, keeping the last descriptors for the process.
        on_shed_(EndpointFromSockaddr(addr));
        continue;
      }
      if (fd >= 0) {
        on_accept_(UniqueFd(fd), EndpointFromSockaddr(addr));
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (IsTransient(err)) continue;
      if (IsResourceShortage(err)) {
        const ShedResult result = ShedOne();
        if (result == ShedResult::kShed) continue;
        shortage = result == ShedResult::kNoReserve;
        break;
      }
      if (stopping_.load()) break;
      PLOG(ERROR) << "accept failed; backing off";
      shortage = true;
      break;
    }
    if (shortage) {
      backoff = std::clamp(backoff * 2, kMinBackoff, kMaxBackoff);
      LOG_EVERY_N(WARNING, 100) << "cannot accept (descriptors or memory exhausted); retrying in "
                                << backoff;
    } else {
      backoff = absl::ZeroDuration();
    }
    after_batch();
  }
}

}  // namespace weft::internal

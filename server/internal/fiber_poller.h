// Internal header: do not include from outside the weft library and its tests.
//
// FiberPoller: the epoll of one fiber scheduler — which fiber waits on which descriptor, the
// edges reported while nobody waited, and the eventfd that wakes the loop. Inline but for its
// constructor: every wait and every turn of the scheduler's loop goes through it.
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/internal/fiber.h"
#include "server/internal/io_waiter.h"
#include "weft/base/log.h"
#include "weft/unique_fd.h"

namespace weft::internal {

// FiberPoller: owned by its scheduler. Notify is thread-safe; everything else is confined to the
// scheduler thread. Holds the fibers it tracks without owning them: a fiber is forgotten
// (Forget) before it is freed.
class FiberPoller {
  static constexpr int kMaxEvents = 256;

 public:
  // Events: Poll's scratch space, kept by the caller on its stack (one for its whole loop).
  using Events = epoll_event[kMaxEvents];

  // Creates the epoll and its wake-up eventfd (under DescriptorReserveMutex); aborts when the
  // system cannot.
  FiberPoller();
  FiberPoller(const FiberPoller&) = delete;
  FiberPoller& operator=(const FiberPoller&) = delete;

  // Notify makes the running Poll, or the next one, return.
  void Notify() {
    const std::uint64_t one = 1;
    // EAGAIN: the counter is saturated, a wake-up is pending anyway.
    [[maybe_unused]] ssize_t r = ::write(wake_.get(), &one, sizeof one);
  }

  // TakeEdge returns whether `fd`, registered by `f`, became ready for `interest` since the
  // last time `f` waited on it for that (an edge reported while `f` was not waiting for it),
  // and forgets the edge: the caller's next system call will find out whether it was stale.
  bool TakeEdge(Fiber* f, int fd, IoInterest interest) {
    const std::size_t slot = static_cast<std::size_t>(fd);
    if (slot >= fd_owner_.size() || fd_owner_[slot] != f) return false;
    const std::uint32_t bits = EdgeBits(interest);
    const bool seen = (fd_edges_[slot] & bits) != 0;
    fd_edges_[slot] &= ~bits;
    return seen;
  }

  // Watch registers `fd` (edge-triggered, both directions, once per fiber and descriptor) and
  // marks `f` as waiting on it for `interest`, until Unwatch.
  absl::Status Watch(Fiber* f, int fd, IoInterest interest) {
    const std::size_t slot = static_cast<std::size_t>(fd);
    if (slot >= fd_owner_.size()) {
      const std::size_t size = std::max<std::size_t>(slot + 1, fd_owner_.size() * 2);
      fd_owner_.resize(size, nullptr);
      fd_waiter_.resize(size, nullptr);
      fd_edges_.resize(size, 0);
    }
    if (fd_owner_[slot] != f) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = slot;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (errno != EEXIST || ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
          return absl::ErrnoToStatus(errno, "epoll_ctl");
        }
      }
      fd_owner_[slot] = f;
      fd_edges_[slot] = 0;  // A new registration reports the current readiness by itself.
      f->registered_fds.push_back(fd);
    }
    fd_waiter_[slot] = f;
    f->wait_events = EdgeBits(interest);
    return absl::OkStatus();
  }

  // Unwatch ends the wait on `fd` that Watch began.
  void Unwatch(int fd) { fd_waiter_[static_cast<std::size_t>(fd)] = nullptr; }

  // Forget drops every registration and wait of `f`: its descriptors' numbers may be reused.
  void Forget(Fiber* f) {
    for (int fd : f->registered_fds) {
      const std::size_t slot = static_cast<std::size_t>(fd);
      if (fd_owner_[slot] == f) {
        fd_owner_[slot] = nullptr;
        fd_edges_[slot] = 0;
      }
      if (fd_waiter_[slot] == f) fd_waiter_[slot] = nullptr;
    }
    f->registered_fds.clear();
  }

  // Poll waits up to `timeout_ms` (-1: without limit) for descriptor events or a Notify, and
  // calls `ready(f)` for each fiber whose wait an event ends. Returns false, having done
  // nothing, when a signal interrupted the wait.
  template <typename Ready>
  bool Poll(int timeout_ms, Events& events, Ready ready) {
    const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout_ms);
    if (n < 0) {
      PCHECK(errno == EINTR) << "epoll_wait";
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        std::uint64_t value;
        [[maybe_unused]] ssize_t r = ::read(wake_.get(), &value, sizeof value);
        continue;
      }
      if (token >= fd_waiter_.size()) continue;
      // Remember every edge: with EPOLLET it is reported once, and the owner may be running,
      // or waiting for the other direction, and ask for it later (TakeEdge).
      if (fd_owner_[token] != nullptr) fd_edges_[token] |= events[i].events;
      Fiber* f = fd_waiter_[token];
      if (f == nullptr) continue;
      if ((events[i].events & f->wait_events) != 0) {
        fd_edges_[token] &= ~f->wait_events;
        ready(f);
      }
    }
    return true;
  }

 private:
  static constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};

  // EdgeBits: the epoll events that end a wait for `interest` (errors and hang-ups end any wait).
  static std::uint32_t EdgeBits(IoInterest interest) {
    const std::uint32_t direction =
        interest == IoInterest::kReadable ? (EPOLLIN | EPOLLRDHUP) : EPOLLOUT;
    return direction | EPOLLERR | EPOLLHUP;
  }

  UniqueFd epoll_;
  UniqueFd wake_;
  std::vector<Fiber*> fd_waiter_;  // By descriptor: the fiber parked on it.
  std::vector<Fiber*> fd_owner_;   // By descriptor: the fiber whose registration is current.
  // By descriptor: epoll events reported since the owner last consumed them (see TakeEdge).
  std::vector<std::uint32_t> fd_edges_;
};

}  // namespace weft::internal

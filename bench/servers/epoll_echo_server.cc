// epoll-echo-server: the per-core limit baseline — one thread, one edge-triggered epoll loop,
// non-blocking sockets, no allocation per message. What the hardware can do with one core and
// the kernel's TCP stack, against which every other figure is a ratio.
//
//   epoll-echo-server [--address 127.0.0.1] [--port 0]
//
// Prints "epoll-echo-server ready port=N" once listening; SIGTERM/SIGINT end it.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <vector>

#include "bench/servers/listen_socket.h"

namespace {

constexpr char kUsage[] = "usage: epoll-echo-server [--address ADDR] [--port PORT]\n";
constexpr std::size_t kBufferSize = 64 * 1024;
constexpr std::uint64_t kListenerTag = ~0ull;
constexpr std::uint64_t kSignalTag = ~0ull - 1;

// Conn: bytes read but not yet written (only when the peer's window is full).
struct Conn {
  int fd = -1;
  std::vector<char> pending;
  std::size_t pending_off = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const weft::bench::ListenFlags flags = weft::bench::ParseListenFlags(argc, argv, kUsage);
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  const int signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);

  const int listener = weft::bench::OpenListener(flags, /*non_blocking=*/true, "epoll-echo-server");
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLET;
  event.data.u64 = kListenerTag;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
  event.events = EPOLLIN;
  event.data.u64 = kSignalTag;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &event);

  // Indexed by descriptor: descriptors are small and dense.
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<char> buffer(kBufferSize);
  std::vector<epoll_event> events(1024);

  auto close_conn = [&](int fd) {
    ::close(fd);
    conns[fd].reset();
  };
  // flush writes pending bytes; false if the connection failed.
  auto flush = [&](Conn& c) {
    while (c.pending_off < c.pending.size()) {
      const ssize_t n = ::send(c.fd, c.pending.data() + c.pending_off,
                               c.pending.size() - c.pending_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.pending_off += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        return true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    c.pending.clear();
    c.pending_off = 0;
    return true;
  };
  // serve reads and echoes until EAGAIN, a short read (drained: a later arrival is a new edge),
  // EOF, or a full peer window (then EPOLLOUT resumes it).
  auto serve = [&](Conn& c, std::uint32_t ev) {
    if (!c.pending.empty()) {
      if (!flush(c)) return close_conn(c.fd);
      if (!c.pending.empty()) return;  // Still blocked: read nothing more until it drains.
    }
    const bool hangup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    while (true) {
      const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
      if (n == 0) return close_conn(c.fd);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        return close_conn(c.fd);
      }
      std::size_t off = 0;
      while (off < static_cast<std::size_t>(n)) {
        const ssize_t w = ::send(c.fd, buffer.data() + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
          off += static_cast<std::size_t>(w);
        } else if (w < 0 && errno == EINTR) {
          continue;
        } else if (w < 0 && errno == EAGAIN) {
          c.pending.assign(buffer.data() + off, buffer.data() + n);
          c.pending_off = 0;
          return;
        } else {
          return close_conn(c.fd);
        }
      }
      // With a hang-up pending keep reading to the EOF; otherwise a short read means drained.
      if (static_cast<std::size_t>(n) < buffer.size() && !hangup) return;
    }
  };

  while (true) {
    const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kSignalTag) return 0;
      if (tag == kListenerTag) {
        while (true) {
          const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // EAGAIN: drained. EMFILE/ENFILE: the next edge retries (a baseline, not a product).
            break;
          }
          if (static_cast<std::size_t>(fd) >= conns.size()) conns.resize(fd * 2 + 1);
          conns[fd] = std::make_unique<Conn>();
          conns[fd]->fd = fd;
          epoll_event conn_event{};
          conn_event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          conn_event.data.u64 = static_cast<std::uint64_t>(fd);
          ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &conn_event);
        }
        continue;
      }
      Conn* c = conns[tag].get();
      if (c == nullptr) continue;
      // EPOLLOUT alone with nothing pending is the connect edge or a drained window: nothing to
      // read unless EPOLLIN says so.
      if (!(events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && c->pending.empty()) {
        continue;
      }
      serve(*c, events[i].events);
    }
  }
  return 0;
}

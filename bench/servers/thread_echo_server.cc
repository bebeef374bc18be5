// thread-echo-server: the naive baseline for Weft's default model — a blocking accept loop and
// one thread per connection doing blocking read/write. Deliberately naive: threads are
// detached and never accounted for (the process is killed at the end of a run), default 8 MiB
// stacks, no limits. It is what Weft's threaded manager adds bookkeeping, stop and limits to.
//
//   thread-echo-server [--address 127.0.0.1] [--port 0]
//
// Prints "thread-echo-server ready port=N" once listening; SIGTERM/SIGINT end it.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "bench/servers/listen_socket.h"

namespace {

constexpr char kUsage[] = "usage: thread-echo-server [--address ADDR] [--port PORT]\n";

void Serve(int fd) {
  char buffer[16 * 1024];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      const ssize_t w = ::send(fd, buffer + off, n - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ::close(fd);
        return;
      }
      off += w;
    }
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  const weft::bench::ListenFlags flags = weft::bench::ParseListenFlags(argc, argv, kUsage);
  ::signal(SIGPIPE, SIG_IGN);
  const int listener =
      weft::bench::OpenListener(flags, /*non_blocking=*/false, "thread-echo-server");
  while (true) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) ::usleep(1000);  // Naive, but never a spin.
      continue;
    }
    try {
      std::thread(Serve, fd).detach();
    } catch (const std::system_error&) {
      ::close(fd);  // No thread to be had (EAGAIN): refuse.
    }
  }
}

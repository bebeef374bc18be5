#include "tests/testing/loopback_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace weft::testing {
namespace {

int CountDirEntries(const char* path) {
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - (std::strcmp(path, "/proc/self/fd") == 0 ? 1 : 0);  // The DIR's own fd.
}

// WaitFd waits for `events` on fd until `deadline`; DEADLINE_EXCEEDED on timeout.
absl::Status WaitFd(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("test I/O timed out");
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  }
}

}  // namespace

absl::StatusOr<LoopbackClient> LoopbackClient::Connect(std::uint16_t port, const std::string& host,
                                                       absl::Duration timeout) {
  sockaddr_storage addr{};
  socklen_t len;
  if (host.find(':') != std::string::npos) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(host);
    }
    len = sizeof *in6;
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) {
      return absl::InvalidArgumentError(host);
    }
    len = sizeof *in;
  }
  UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) return absl::ErrnoToStatus(errno, "connect");
    if (absl::Status s = WaitFd(fd.get(), POLLOUT, absl::Now() + timeout); !s.ok()) return s;
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) return absl::ErrnoToStatus(err, "connect");
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return LoopbackClient(std::move(fd));
}

absl::Status LoopbackClient::Send(absl::string_view data) {
  const absl::Time deadline = absl::Now() + kTestTimeout;
  while (!data.empty()) {
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (absl::Status s = WaitFd(fd_.get(), POLLOUT, deadline); !s.ok()) return s;
    } else {
      return absl::ErrnoToStatus(errno, "send");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LoopbackClient::ReadExactly(std::size_t n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  char buffer[16 * 1024];
  while (out.size() < n) {
    const ssize_t r = ::recv(fd_.get(), buffer, std::min(sizeof buffer, n - out.size()), 0);
    if (r > 0) {
      out.append(buffer, static_cast<std::size_t>(r));
    } else if (r == 0) {
      return absl::OutOfRangeError(absl::StrCat("EOF after ", out.size(), " of ", n, " bytes"));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (absl::Status s = WaitFd(fd_.get(), POLLIN, deadline); !s.ok()) return s;
    } else {
      return absl::ErrnoToStatus(errno, "recv");
    }
  }
  return out;
}

absl::StatusOr<std::string> LoopbackClient::ReadUntilClosed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  char buffer[16 * 1024];
  while (true) {
    const ssize_t r = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (r > 0) {
      out.append(buffer, static_cast<std::size_t>(r));
    } else if (r == 0 || (r < 0 && errno == ECONNRESET)) {
      return out;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (absl::Status s = WaitFd(fd_.get(), POLLIN, deadline); !s.ok()) return s;
    } else {
      return absl::ErrnoToStatus(errno, "recv");
    }
  }
}

absl::StatusOr<std::string> LoopbackClient::Echo(absl::string_view data, absl::Duration timeout) {
  if (absl::Status s = Send(data); !s.ok()) return s;
  return ReadExactly(data.size(), timeout);
}

absl::Status LoopbackClient::ShutdownWrite() {
  if (::shutdown(fd_.get(), SHUT_WR) != 0) return absl::ErrnoToStatus(errno, "shutdown");
  return absl::OkStatus();
}

void LoopbackClient::Reset() {
  const linger reset{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  fd_.Reset();
}

int CountOpenFds() { return CountDirEntries("/proc/self/fd"); }
int CountThreads() { return CountDirEntries("/proc/self/task"); }

void PauseBriefly() {
  pollfd none{-1, 0, 0};
  ::poll(&none, 1, 1);
}

}  // namespace weft::testing

#include "control/daemon/handoff/handoff_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "control/unix_socket.h"

namespace weft::control {
namespace {

absl::StatusOr<ucred> PeerCredentials(int fd) {
  ucred credentials{};
  socklen_t len = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &len) != 0) {
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED) on the hand-off socket");
  }
  return credentials;
}

}  // namespace

absl::StatusOr<HandoffChannel> HandoffChannel::Connect(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat("hand-off socket ", path, ": ", std::strerror(err),
                       " (only the user weftd runs as may take over; the socket is 0600)"));
    }
    return absl::UnavailableError(
        absl::StrCat("no weftd answers on the hand-off socket ", path, ": ", std::strerror(err)));
  }
  HandoffChannel channel(std::move(fd));
  absl::StatusOr<uid_t> peer = channel.PeerUid();
  if (!peer.ok()) return peer.status();
  if (*peer != ::geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat("the weftd on ", path, " runs as uid ", *peer,
                                                    ", this process as uid ", ::geteuid(),
                                                    "; a takeover needs the same user"));
  }
  return channel;
}

absl::Status HandoffChannel::Send(const v1::HandoffMessage& message, const std::vector<int>& fds) {
  if (fds.size() > static_cast<std::size_t>(kMaxDescriptors)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a hand-off record carries at most ", kMaxDescriptors, " sockets"));
  }
  std::string bytes;
  if (!message.SerializeToString(&bytes) || bytes.size() > kMaxRecordBytes) {
    return absl::ResourceExhaustedError("hand-off message too large");
  }
  iovec iov{.iov_base = bytes.data(), .iov_len = bytes.size()};
  msghdr header{};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  while (::sendmsg(socket_.get(), &header, MSG_NOSIGNAL) < 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
      return absl::UnavailableError("the other weftd hung up");
    }
    return absl::ErrnoToStatus(err, "sendmsg on the hand-off socket");
  }
  return absl::OkStatus();
}

absl::StatusOr<HandoffRecord> HandoffChannel::Receive(absl::Time deadline, int wake) {
  while (true) {
    pollfd fds[2] = {{.fd = socket_.get(), .events = POLLIN, .revents = 0},
                     {.fd = wake, .events = POLLIN, .revents = 0}};
    const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
    const int timeout_ms =
        deadline == absl::InfiniteFuture()
            ? -1
            : static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll on the hand-off socket");
    }
    if ((fds[1].revents & POLLIN) != 0) return absl::CancelledError("hand-off cancelled");
    if (fds[0].revents != 0) break;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the other weftd did not answer in time");
    }
  }
  std::string bytes(kMaxRecordBytes, '\0');
  iovec iov{.iov_base = bytes.data(), .iov_len = bytes.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxDescriptors));
  msghdr header{};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(socket_.get(), &header, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    if (err == ECONNRESET) return absl::UnavailableError("the other weftd hung up");
    return absl::ErrnoToStatus(err, "recvmsg on the hand-off socket");
  }
  HandoffRecord record;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      record.fds.emplace_back(fd);
    }
  }
  if (n == 0) return absl::UnavailableError("the other weftd hung up");
  if ((header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return absl::DataLossError("a truncated hand-off record");
  }
  if (!record.message.ParseFromArray(bytes.data(), static_cast<int>(n))) {
    return absl::DataLossError("a hand-off record that does not parse");
  }
  return record;
}

absl::StatusOr<uid_t> HandoffChannel::PeerUid() const {
  absl::StatusOr<ucred> credentials = PeerCredentials(socket_.get());
  if (!credentials.ok()) return credentials.status();
  return credentials->uid;
}

absl::StatusOr<pid_t> HandoffChannel::PeerPid() const {
  absl::StatusOr<ucred> credentials = PeerCredentials(socket_.get());
  if (!credentials.ok()) return credentials.status();
  return credentials->pid;
}

}  // namespace weft::control

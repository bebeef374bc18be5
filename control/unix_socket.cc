#include "control/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "weft/unique_fd.h"

namespace weft::control {

absl::StatusOr<sockaddr_un> UnixSocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket path \"", path,
                                                   "\" is empty or longer than ",
                                                   sizeof addr.sun_path - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

bool NobodyListensOn(const std::string& path, int type) {
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(path);
  if (!addr.ok()) return false;
  UniqueFd probe(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.valid()) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 &&
         errno == ECONNREFUSED;
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, int type, int backlog) {
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  // Replace a stale socket left by a process that is gone, never a live one or another file.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("unix:", path, " exists and is not a socket"));
    }
    if (!NobodyListensOn(path, type)) {
      return absl::UnavailableError(absl::StrCat(
          "unix:", path, " is in use (another process listens on it) or cannot be probed"));
    }
    ::unlink(path.c_str());
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("bind unix:", path));
  }
  if (::listen(fd.get(), backlog) != 0) return absl::ErrnoToStatus(errno, "listen");
  return fd;
}

}  // namespace weft::control

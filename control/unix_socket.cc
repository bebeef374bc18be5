#include "control/unix_socket.h"

#include <sys/socket.h>

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

bool NobodyListensOn(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(path);
  if (!addr.ok()) return false;
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.valid()) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 &&
         errno == ECONNREFUSED;
}

}  // namespace weft::control

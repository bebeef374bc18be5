#include "server/internal/socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace weft::internal {
namespace {

std::string HostPort(const std::string& host, std::uint16_t port) {
  return Endpoint{host, port}.ToString();
}

}  // namespace
}  // namespace weft::internal

namespace weft {

absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, std::uint16_t port, int backlog,
                                   ListenTcpOptions options) {
  using internal::HostPort;
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) return absl::InvalidArgumentError("listen address is empty");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve listen address \"", host, "\": ", gai_strerror(rc)));
  }
  absl::Cleanup free_result = [result] { ::freeaddrinfo(result); };

  UniqueFd fd(::socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (options.reuse_port &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (::bind(fd.get(), result->ai_addr, result->ai_addrlen) != 0) {
    const int err = errno;
    const std::string where = HostPort(host, port);
    if (err == EADDRINUSE) {
      // With SO_REUSEPORT the likely cause is a holder that did not set it, or another user.
      return absl::UnavailableError(absl::StrCat(
          "address ", where, " is already in use",
          options.reuse_port
              ? " (sharing a port needs reuse_port on every socket, all of the same user)"
              : ""));
    }
    if (err == EADDRNOTAVAIL) {
      return absl::UnavailableError(
          absl::StrCat("address ", where, " is not available on this host"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("no permission to bind ", where, " (privileged port?)"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("bind ", where));
  }
  if (::listen(fd.get(), backlog) != 0) return absl::ErrnoToStatus(errno, "listen");
  return fd;
}

}  // namespace weft

namespace weft::internal {

Endpoint EndpointFromSockaddr(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return Endpoint{text, ntohs(in->sin_port)};
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return Endpoint{text, ntohs(in6->sin6_port)};
  }
  return Endpoint{};
}

Endpoint LocalEndpoint(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return Endpoint{};
  return EndpointFromSockaddr(addr);
}

Endpoint PeerEndpoint(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return Endpoint{};
  return EndpointFromSockaddr(addr);
}

}  // namespace weft::internal

namespace weft {

std::string Endpoint::ToString() const {
  if (address.find(':') != std::string::npos) return absl::StrCat("[", address, "]:", port);
  return absl::StrCat(address, ":", port);
}

}  // namespace weft

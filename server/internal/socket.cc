#include "server/internal/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

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

absl::StatusOr<Endpoint> CheckListeningSocket(int fd) {
  const std::string what = absl::StrCat("descriptor ", fd);
  // int_option reads an int-valued SOL_SOCKET option; returns 0 or errno.
  const auto int_option = [fd](int option, int* value) {
    socklen_t len = sizeof *value;
    return ::getsockopt(fd, SOL_SOCKET, option, value, &len) == 0 ? 0 : errno;
  };
  int domain = 0;
  if (const int err = int_option(SO_DOMAIN, &domain); err != 0) {
    if (err == EBADF) return absl::InvalidArgumentError(absl::StrCat(what, " is not open"));
    if (err == ENOTSOCK) return absl::InvalidArgumentError(absl::StrCat(what, " is not a socket"));
    return absl::ErrnoToStatus(err, absl::StrCat("getsockopt(SO_DOMAIN) of ", what));
  }
  int type = 0;
  int protocol = 0;
  int listening = 0;
  const std::pair<int, int*> options[] = {
      {SO_TYPE, &type}, {SO_PROTOCOL, &protocol}, {SO_ACCEPTCONN, &listening}};
  for (const auto& [option, value] : options) {
    if (const int err = int_option(option, value); err != 0) {
      return absl::ErrnoToStatus(err, absl::StrCat("getsockopt of ", what));
    }
  }
  if ((domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM || protocol != IPPROTO_TCP) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a TCP socket over IPv4 or IPv6 (domain ", domain, ", type ",
                     type, ", protocol ", protocol, ")"));
  }
  const Endpoint local = internal::LocalEndpoint(fd);
  if (listening == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " (", local.ToString(), ") is a TCP socket but not listening"));
  }
  return local;
}

}  // namespace weft

namespace weft::internal {

Endpoint EndpointFromSockaddr(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    // Dotted quad by hand, not inet_ntop: glibc formats IPv4 through sprintf, whose deep frames
    // faulted in a stack page per connection (perf record -e page-faults) when run on the
    // connection's own thread (its local address): 4 KiB of RSS per idle threaded connection.
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    const std::uint32_t host = ntohl(in->sin_addr.s_addr);
    return Endpoint{absl::StrCat(host >> 24, ".", (host >> 16) & 0xff, ".", (host >> 8) & 0xff, ".",
                                 host & 0xff),
                    ntohs(in->sin_port)};
  }
  char text[INET6_ADDRSTRLEN] = {};
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

bool IsWildcard(const Endpoint& local) {
  // EndpointFromSockaddr writes the unspecified addresses in these canonical forms.
  return local.address == "0.0.0.0" || local.address == "::";
}

absl::StatusOr<UniqueFd> DuplicateListeningSocket(int fd) {
  if (absl::StatusOr<Endpoint> local = CheckListeningSocket(fd); !local.ok()) {
    return local.status();
  }
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "fcntl(F_SETFD)");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_SETFL, O_NONBLOCK)");
  }
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return absl::ErrnoToStatus(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return copy;
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

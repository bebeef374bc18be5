#include "control/daemon/inherited_sockets.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "weft/base/address.h"
#include "weft/listen_socket.h"

namespace weft::control {
namespace {

constexpr char kDefaultListenAddress[] = "127.0.0.1";

// NumericHost resolves a listener's address the way ListenTcp does (brackets allowed; the first
// address returned) and renders it as CheckListeningSocket renders a socket's address.
absl::StatusOr<std::string> NumericHost(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
  }
  absl::Cleanup free_result = [result] { ::freeaddrinfo(result); };
  char text[NI_MAXHOST] = {};
  if (const int rc = ::getnameinfo(result->ai_addr, result->ai_addrlen, text, sizeof text, nullptr,
                                   0, NI_NUMERICHOST);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render the address of \"", host, "\": ", gai_strerror(rc)));
  }
  return std::string(text);
}

// UnixListensOn: `socket` is a listening unix stream socket bound to `path`.
bool UnixListensOn(int socket, const std::string& path) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(socket, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
    return false;
  }
  sockaddr_un addr{};
  len = sizeof addr;
  if (::getsockname(socket, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.sun_family != AF_UNIX) {
    return false;
  }
  return ::strncmp(addr.sun_path, path.c_str(), sizeof addr.sun_path) == 0;
}

}  // namespace

absl::StatusOr<Endpoint> MatchListenerSocket(const std::string& source, const std::string& name,
                                             int socket, const config::v1::Listener& listener) {
  const std::string what =
      absl::StrCat(source, ": socket \"", name, "\" (descriptor ", socket, ")");
  absl::StatusOr<Endpoint> local = CheckListeningSocket(socket);
  if (!local.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", local.status().message()));
  }
  const std::string configured =
      listener.address().empty() ? kDefaultListenAddress : listener.address();
  absl::StatusOr<std::string> host = NumericHost(configured);
  if (!host.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": listener \"", name, "\": ", host.status().message()));
  }
  if (*host != local->address || (listener.port() != 0 && listener.port() != local->port)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " listens on ", local->ToString(), " but listener \"", name, "\" is configured for ",
        Endpoint{*host, static_cast<std::uint16_t>(listener.port())}.ToString(),
        listener.port() == 0 ? " (any port)" : ""));
  }
  return local;
}

bool SocketListensOn(int socket, const std::string& address) {
  absl::StatusOr<Address> parsed = ParseAddress(address, {.allow_port_zero = true});
  if (!parsed.ok()) return false;
  if (parsed->kind == Address::Kind::kUnix) return UnixListensOn(socket, parsed->unix_path);
  absl::StatusOr<Endpoint> local = CheckListeningSocket(socket);
  absl::StatusOr<std::string> host = NumericHost(parsed->host);
  return local.ok() && host.ok() && *host == local->address &&
         (parsed->port == 0 || parsed->port == local->port);
}

std::string ListeningAddress(int socket) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(socket, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  if (addr.ss_family == AF_UNIX) {
    const sockaddr_un& unix_addr = reinterpret_cast<const sockaddr_un&>(addr);
    return absl::StrCat(
        "unix:",
        std::string(unix_addr.sun_path, ::strnlen(unix_addr.sun_path, sizeof unix_addr.sun_path)));
  }
  absl::StatusOr<Endpoint> local = CheckListeningSocket(socket);
  return local.ok() ? local->ToString() : "?";
}

}  // namespace weft::control

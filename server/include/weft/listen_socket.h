// ListenTcp: a listening TCP socket, for servers and for listeners Weft does not run itself
// (weftd's control gateway). CheckListeningSocket: whether a socket made elsewhere (inherited
// from systemd, say) is one a server can accept from.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "weft/endpoint.h"
#include "weft/unique_fd.h"

namespace weft {

// ListenTcpOptions: socket options beyond the defaults ListenTcp always sets.
struct ListenTcpOptions {
  // SO_REUSEPORT: several sockets may listen on the same address and port, and the kernel
  // spreads new connections over them. It only works if every one of them sets it and all
  // belong to the same effective user (a kernel rule): if one of two lacks it, whichever binds
  // second fails with UNAVAILABLE.
  bool reuse_port = false;
};

// ListenTcp resolves `host` (IPv4, IPv6 — brackets allowed — or a name; the first address
// returned is used), then binds and listens with SO_REUSEADDR (and SO_REUSEPORT if
// `options.reuse_port`) on a non-blocking, close-on-exec socket. Errors: INVALID_ARGUMENT
// (unresolvable or malformed address), UNAVAILABLE (address in use or not available),
// PERMISSION_DENIED (privileged port), others mapped from errno. On error nothing is left open.
// Thread-safe.
[[nodiscard]] absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, std::uint16_t port,
                                                 int backlog, ListenTcpOptions options = {});

// CheckListeningSocket checks that `fd` is a listening TCP socket — SOCK_STREAM over TCP,
// AF_INET or AF_INET6, listen(2) called (SO_ACCEPTCONN) — and returns the address it is bound
// to. It changes nothing and does not take `fd`. Errors: INVALID_ARGUMENT (not an open
// descriptor, not a socket, not TCP over IPv4 or IPv6, not listening: the message says which).
// Thread-safe.
[[nodiscard]] absl::StatusOr<Endpoint> CheckListeningSocket(int fd);

}  // namespace weft

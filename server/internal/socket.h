// Internal header: do not include from outside the weft library and its tests.
//
// Socket helpers: every system call returns a Status; nothing here aborts on an environment
// error.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "weft/listen_socket.h"
#include "weft/unique_fd.h"
#include "weft/endpoint.h"

namespace weft::internal {

// EndpointFromSockaddr renders a socket address.
Endpoint EndpointFromSockaddr(const sockaddr_storage& addr);

// LocalEndpoint / PeerEndpoint query a socket; an empty Endpoint on failure.
Endpoint LocalEndpoint(int fd);

// IsWildcard tells whether `local` (a listener's LocalEndpoint) is the unspecified address
// (0.0.0.0 or ::), whose connections each have a local address of their own.
bool IsWildcard(const Endpoint& local);
Endpoint PeerEndpoint(int fd);

// DuplicateListeningSocket checks `fd` (CheckListeningSocket), makes it close-on-exec and the
// socket non-blocking, and returns a new close-on-exec descriptor of the same socket, for an
// Acceptor. O_NONBLOCK belongs to the socket, not the descriptor: every holder of it (systemd,
// which made it non-blocking already) sees it. Errors: those of CheckListeningSocket; others
// mapped from errno.
absl::StatusOr<UniqueFd> DuplicateListeningSocket(int fd);

}  // namespace weft::internal

// Internal header: do not include from outside the weft library and its tests.
//
// Socket helpers: every system call returns a Status; nothing here aborts on an environment
// error.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/internal/unique_fd.h"
#include "weft/endpoint.h"

namespace weft::internal {

// ListenTcp resolves `host` (IPv4, IPv6 — brackets allowed — or a name; the first address
// returned is used), then binds and listens with SO_REUSEADDR on a non-blocking, close-on-exec
// socket. Errors: INVALID_ARGUMENT (unresolvable or malformed address), UNAVAILABLE (address in
// use or not available), others mapped from errno. On error nothing is left open.
absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, std::uint16_t port, int backlog);

// EndpointFromSockaddr renders a socket address.
Endpoint EndpointFromSockaddr(const sockaddr_storage& addr);

// LocalEndpoint / PeerEndpoint query a socket; an empty Endpoint on failure.
Endpoint LocalEndpoint(int fd);
Endpoint PeerEndpoint(int fd);

}  // namespace weft::internal

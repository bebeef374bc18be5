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
Endpoint PeerEndpoint(int fd);

}  // namespace weft::internal

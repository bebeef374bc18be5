// ListenTcp: a listening TCP socket, for servers and for listeners Weft does not run itself
// (weftd's control gateway).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "weft/unique_fd.h"

namespace weft {

// ListenTcp resolves `host` (IPv4, IPv6 — brackets allowed — or a name; the first address
// returned is used), then binds and listens with SO_REUSEADDR on a non-blocking, close-on-exec
// socket. Errors: INVALID_ARGUMENT (unresolvable or malformed address), UNAVAILABLE (address in
// use or not available), PERMISSION_DENIED (privileged port), others mapped from errno. On error
// nothing is left open. Thread-safe.
[[nodiscard]] absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, std::uint16_t port,
                                                 int backlog);

}  // namespace weft

// Unix sockets for the control plane's public and private sockets and weftd's hand-off socket.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "absl/status/statusor.h"
#include "weft/unique_fd.h"

namespace weft::control {

// UnixSocketAddress returns the address of the unix socket at `path`. INVALID_ARGUMENT when the
// path is empty or does not fit sockaddr_un (107 bytes). Thread-safe.
absl::StatusOr<sockaddr_un> UnixSocketAddress(const std::string& path);

// NobodyListensOn is true when a non-blocking connect to the unix socket at `path` (of `type`,
// SOCK_STREAM or SOCK_SEQPACKET) is refused (ECONNREFUSED): the file is left by a process that
// is gone. False when someone listens, and when it cannot tell (no permission, a full backlog,
// no such file). Thread-safe; never blocks.
bool NobodyListensOn(const std::string& path, int type = SOCK_STREAM);

// ListenUnix binds a non-blocking, close-on-exec unix socket of `type` (SOCK_STREAM or
// SOCK_SEQPACKET) at `path` and listens with `backlog`. A socket file left by a process that is
// gone is replaced; a live one, or another kind of file, never. The file gets the process's
// umask; callers that need a mode set it (fchmod is not defined for sockets: chmod the path).
// Errors: INVALID_ARGUMENT (path), FAILED_PRECONDITION (the path is not a socket), UNAVAILABLE
// (another process listens there), others from errno. Thread-safe.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, int type, int backlog);

}  // namespace weft::control

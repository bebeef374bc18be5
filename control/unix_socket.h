// Unix stream socket addresses for the control plane's public and private sockets.
#pragma once

#include <sys/un.h>

#include <string>

#include "absl/status/statusor.h"

namespace weft::control {

// UnixSocketAddress returns the address of the unix socket at `path`. INVALID_ARGUMENT when the
// path is empty or does not fit sockaddr_un (107 bytes). Thread-safe.
absl::StatusOr<sockaddr_un> UnixSocketAddress(const std::string& path);

// NobodyListensOn is true when a non-blocking connect to the unix socket at `path` is refused
// (ECONNREFUSED): the file is left by a process that is gone. False when someone listens, and
// when it cannot tell (no permission, a full backlog, no such file). Thread-safe; never blocks.
bool NobodyListensOn(const std::string& path);

}  // namespace weft::control

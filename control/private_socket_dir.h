// The private directory that holds the control plane's gRPC backend socket (see
// control/control_plane.h): created 0700 under $TMPDIR (default /tmp), removed at shutdown, and
// swept of directories left by weftd processes that died without removing theirs.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace weft::control {

// MakePrivateSocketDirectory first removes stale directories of this user's earlier weftd
// processes (named weftd-control-*, whose socket file is at least a minute old and refuses
// connections: nobody listens on it any more), then creates a new one and returns its path.
// Errors: FAILED_PRECONDITION when the directory cannot be created (the message names $TMPDIR).
// Thread-safe; blocks on file system calls.
absl::StatusOr<std::string> MakePrivateSocketDirectory();

// PrivateSocketPath: the backend socket's path inside `dir`.
std::string PrivateSocketPath(const std::string& dir);

// RemovePrivateSocketDirectory removes the socket file and `dir`. Errors are ignored (the
// next start sweeps what is left).
void RemovePrivateSocketDirectory(const std::string& dir);

}  // namespace weft::control

// AuditFile: the append-only file an audit trail is copied to (config: audit.path).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "weft/unique_fd.h"

namespace weft::control::audit {

// AuditFile: one open file, written only at its end. Thread-compatible: AuditTrail serialises
// its calls.
class AuditFile {
 public:
  // Open opens `path` for appending (O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC), creating it with mode
  // 0600 if missing; an existing file keeps its mode and contents. Errors name the path:
  // INVALID_ARGUMENT when it is not absolute or is not a regular file; NOT_FOUND when its
  // directory is missing; PERMISSION_DENIED; others from errno.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AuditFile>> Open(const std::string& path);

  // AdoptForTest wraps an open descriptor without Open's checks (e.g. /dev/full, where every
  // write fails).
  static std::unique_ptr<AuditFile> AdoptForTest(UniqueFd fd, std::string path) {
    return std::unique_ptr<AuditFile>(new AuditFile(std::move(fd), std::move(path)));
  }

  AuditFile(const AuditFile&) = delete;
  AuditFile& operator=(const AuditFile&) = delete;
  // Closes the file (no fsync: see Append).
  ~AuditFile();

  // Append writes `line` and a newline with one write(2), so that lines of processes sharing
  // the file (a hand-off's two weftd) never interleave; retries on EINTR. Not fsynced: the
  // kernel has the line when Append returns, so only a power loss or kernel crash can lose
  // it, and a mutating call is not delayed by a disk flush. Errors from errno (e.g.
  // RESOURCE_EXHAUSTED for ENOSPC); DATA_LOSS when only part of the line was written.
  [[nodiscard]] absl::Status Append(absl::string_view line);

  const std::string& path() const { return path_; }

 private:
  AuditFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  const std::string path_;
};

}  // namespace weft::control::audit

#include "control/audit/audit_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace weft::control::audit {
namespace {

absl::Status FileError(int error_number, absl::string_view what, const std::string& path) {
  // ENOTDIR: a component of the configured path is a file, i.e. its directory is missing.
  const absl::StatusCode code =
      error_number == ENOTDIR ? absl::StatusCode::kNotFound : absl::ErrnoToStatusCode(error_number);
  return absl::Status(
      code, absl::ErrnoToStatus(error_number, absl::StrCat(what, " audit file ", path)).message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditFile>> AuditFile::Open(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("audit file ", path, " is not an absolute path"));
  }
  // O_NONBLOCK: a FIFO at the path must not hang weftd's start; no effect on regular files.
  UniqueFd fd(::open(path.c_str(),
                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600));
  if (!fd.valid()) return FileError(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FileError(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("audit file ", path, " is not a regular file"));
  }
  return std::unique_ptr<AuditFile>(new AuditFile(std::move(fd), path));
}

AuditFile::~AuditFile() = default;

absl::Status AuditFile::Append(absl::string_view line) {
  char newline = '\n';
  iovec parts[2] = {{const_cast<char*>(line.data()), line.size()}, {&newline, 1}};
  const std::size_t total = line.size() + 1;
  for (;;) {
    const ssize_t written = ::writev(fd_.get(), parts, 2);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return FileError(errno, "cannot write to", path_);
    if (static_cast<std::size_t>(written) != total) {
      return absl::DataLossError(absl::StrCat("short write to audit file ", path_, ": ", written,
                                              " of ", total, " bytes"));
    }
    return absl::OkStatus();
  }
}

}  // namespace weft::control::audit

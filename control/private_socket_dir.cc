#include "control/private_socket_dir.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/unix_socket.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

constexpr char kPrefix[] = "weftd-control-";
// A socket file younger than this may belong to a weftd that is still starting (bound, not yet
// listening): never swept.
constexpr time_t kStaleAfterSeconds = 60;

std::string TempDirectory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

void SweepStaleDirectories(const std::string& tmp) {
  DIR* dir = ::opendir(tmp.c_str());
  if (dir == nullptr) return;
  const time_t now = ::time(nullptr);
  while (const dirent* entry = ::readdir(dir)) {
    if (!absl::StartsWith(entry->d_name, kPrefix)) continue;
    const std::string path = absl::StrCat(tmp, "/", entry->d_name);
    struct stat dir_stat {};
    if (::lstat(path.c_str(), &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode) ||
        dir_stat.st_uid != ::geteuid()) {
      continue;
    }
    const std::string socket = PrivateSocketPath(path);
    struct stat socket_stat {};
    if (::lstat(socket.c_str(), &socket_stat) != 0 || !S_ISSOCK(socket_stat.st_mode) ||
        now - socket_stat.st_mtime < kStaleAfterSeconds || !NobodyListensOn(socket)) {
      continue;
    }
    RemovePrivateSocketDirectory(path);
    LOG(INFO) << "removed " << path << ", left by a weftd that is gone";
  }
  ::closedir(dir);
}

}  // namespace

absl::StatusOr<std::string> MakePrivateSocketDirectory() {
  const std::string tmp = TempDirectory();
  SweepStaleDirectories(tmp);
  std::string pattern = absl::StrCat(tmp, "/", kPrefix, "XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {  // Mode 0700.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a private directory for the control plane (", pattern,
                     "): ", std::strerror(errno), "; set TMPDIR to a writable directory"));
  }
  return pattern;
}

std::string PrivateSocketPath(const std::string& dir) { return absl::StrCat(dir, "/grpc.sock"); }

void RemovePrivateSocketDirectory(const std::string& dir) {
  ::unlink(PrivateSocketPath(dir).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace weft::control

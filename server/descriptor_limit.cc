#include "weft/descriptor_limit.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace weft {
namespace {

std::uint64_t FromRlim(rlim_t value) {
  return value == RLIM_INFINITY ? DescriptorLimit::kUnlimited : static_cast<std::uint64_t>(value);
}

// KernelMaxOpen returns fs.nr_open, the most any process may hold, or 0 if it cannot be read.
rlim_t KernelMaxOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  rlim_t value = 0;
  if (!(in >> value)) return 0;
  return value;
}

absl::Status ErrnoError(const char* call, int error) {
  return absl::InternalError(absl::StrCat(call, "(RLIMIT_NOFILE): ", std::strerror(error)));
}

}  // namespace

std::uint64_t SoftDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      limit.rlim_cur > static_cast<rlim_t>(kMaxSoftDescriptorLimit)) {
    return kMaxSoftDescriptorLimit;
  }
  return limit.rlim_cur;
}

absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return ErrnoError("getrlimit", errno);
  DescriptorLimit result{.before = FromRlim(limit.rlim_cur), .now = FromRlim(limit.rlim_cur),
                         .hard = FromRlim(limit.rlim_max)};
  rlim_t target = limit.rlim_max;
  if (target == RLIM_INFINITY) {
    const rlim_t kernel_max = KernelMaxOpen();
    if (kernel_max == 0) return result;  // Nothing safe to aim at: keep what we have.
    target = kernel_max;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= target) return result;
  limit.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return ErrnoError("setrlimit", errno);
  result.now = FromRlim(target);
  return result;
}

absl::StatusOr<std::uint64_t> CountOpenDescriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) {
    return absl::InternalError(absl::StrCat("opendir(/proc/self/fd): ", std::strerror(errno)));
  }
  std::uint64_t count = 0;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) {
    return absl::InternalError(absl::StrCat("readdir(/proc/self/fd): ", std::strerror(err)));
  }
  return count > 0 ? count - 1 : 0;  // Less the listing's own descriptor, closed by now.
}

}  // namespace weft

// The process's file descriptor limit. Every connection holds at least one descriptor, and the
// usual soft limit (1024) caps a server far below what the machine allows: servers raise it to
// the hard limit at start (weftd does, and logs what it got).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace weft {

// DescriptorLimit: RLIMIT_NOFILE around a RaiseDescriptorLimit call. kUnlimited stands for
// RLIM_INFINITY.
struct DescriptorLimit {
  static constexpr std::uint64_t kUnlimited = UINT64_MAX;
  std::uint64_t before = 0;  // Soft limit found, in descriptors.
  std::uint64_t now = 0;     // Soft limit set, in descriptors.
  std::uint64_t hard = 0;    // Hard limit, in descriptors.
};

// RaiseDescriptorLimit sets the soft RLIMIT_NOFILE of the process to its hard limit (an
// unlimited hard limit is capped at the kernel's fs.nr_open, which setrlimit would refuse to
// exceed). It never lowers the limit. Thread-safe (the limit is process-wide; call it before
// starting threads that open descriptors). Errors: INTERNAL (with errno's text) if getrlimit
// or setrlimit fails; the limit is then unchanged.
absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit();

// kMaxSoftDescriptorLimit: what SoftDescriptorLimit reports for an unlimited (or larger) limit;
// above any fs.nr_open Linux allows by default.
inline constexpr std::uint64_t kMaxSoftDescriptorLimit = std::uint64_t{1} << 30;

// SoftDescriptorLimit returns the current soft RLIMIT_NOFILE in descriptors, or
// kMaxSoftDescriptorLimit when it is unlimited, larger, or cannot be read. Thread-safe; cheap (one
// system call), so callers re-read it rather than cache it: the limit may change at run time.
std::uint64_t SoftDescriptorLimit();

// CountOpenDescriptors returns how many descriptors the process has open (the entries of
// /proc/self/fd, less the one the listing itself holds). Thread-safe; costs one descriptor for
// the duration and a directory walk. Errors: INTERNAL (with errno's text) when /proc/self/fd
// cannot be opened or read.
absl::StatusOr<std::uint64_t> CountOpenDescriptors();

}  // namespace weft

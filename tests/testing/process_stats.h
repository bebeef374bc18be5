// Process statistics from /proc for reliability tests: CPU time, resident memory, open
// descriptors and threads of any process (this one or a child), and env-overridable sizes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace weft::testing {

// kSanitized: built with ThreadSanitizer or AddressSanitizer (gcc's macros); reliability tests
// pick smaller default sizes then.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// CpuTicks returns utime + stime of `pid` in clock ticks (sysconf(_SC_CLK_TCK)), from
// /proc/PID/stat; nullopt if the process is gone or the file is malformed.
std::optional<long long> CpuTicks(pid_t pid);

// CpuShare returns the share of one core `pid` used over a measurement window of `window`
// (a window is load shape, not synchronisation: nothing is awaited). INTERNAL if /proc cannot
// be read.
absl::StatusOr<double> CpuShare(pid_t pid, absl::Duration window);

// RssKb returns VmRSS of `pid` in KiB from /proc/PID/status; nullopt if unreadable.
std::optional<std::int64_t> RssKb(pid_t pid);

// CountFdsOf / CountThreadsOf: entries in /proc/PID/fd and /proc/PID/task; -1 if unreadable.
int CountFdsOf(pid_t pid);
int CountThreadsOf(pid_t pid);

// SettledThreadCount starts and joins one thread, then returns CountThreads(): a baseline taken
// after runtimes that start a helper thread with the first thread (ThreadSanitizer's background
// thread) have done so.
int SettledThreadCount();

// EnvInt returns the integer in environment variable `name`, or `fallback` if it is unset or
// not a positive integer. Reliability tests use it so CI runs small sizes and a local run can
// ask for the full ones (e.g. WEFT_SLOWLORIS_CLIENTS=1000).
std::int64_t EnvInt(const char* name, std::int64_t fallback);

// RaiseDescriptorLimit raises this process's soft RLIMIT_NOFILE to its hard limit and returns
// the new soft limit.
std::int64_t RaiseDescriptorLimit();

// DescriptorLimit returns this process's soft RLIMIT_NOFILE.
std::int64_t DescriptorLimit();

// PickFreePort binds 127.0.0.1 port 0, reads the port back and closes the socket. The port may
// in principle be taken by someone else before it is used; good enough on a test machine.
absl::StatusOr<std::uint16_t> PickFreePort();

}  // namespace weft::testing

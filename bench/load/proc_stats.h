// Process figures read from /proc and getrusage: a server's RSS and thread count, and CPU time
// of a server or of this process, so a report can tell which side saturated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace weft::bench {

// ProcStatus: fields of /proc/PID/status.
struct ProcStatus {
  std::uint64_t rss_kib = 0;  // VmRSS.
  std::uint64_t threads = 0;  // Threads.
};

// ReadProcStatus returns `pid`'s RSS and thread count, or nullopt if it cannot be read.
std::optional<ProcStatus> ReadProcStatus(pid_t pid);

// ProcessCpuSeconds returns user+system CPU time of every thread of `pid` (from
// /proc/PID/stat), or nullopt.
std::optional<double> ProcessCpuSeconds(pid_t pid);

// CpuBusySeconds returns how long CPU `cpu` has been busy (everything but idle and iowait in
// /proc/stat), or nullopt.
std::optional<double> CpuBusySeconds(int cpu);

// PinnedCpu returns the only CPU `pid` (0 = this process) may run on, or -1 if it may run on
// several.
int PinnedCpu(pid_t pid);

// SelfCpuSeconds returns this process's user+system CPU time.
double SelfCpuSeconds();

// NowNanos returns CLOCK_MONOTONIC in nanoseconds.
std::int64_t NowNanos();

}  // namespace weft::bench

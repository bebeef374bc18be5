// The standard process_* metrics of the Prometheus client libraries, read from /proc.
#pragma once

#include "control/admin/metrics_writer.h"

namespace weft::control::admin {

// AppendProcessMetrics appends, with client_golang's names and meanings:
//   process_open_fds               gauge    descriptors open now (entries of /proc/self/fd)
//   process_max_fds                gauge    RLIMIT_NOFILE's soft limit
//   process_virtual_memory_bytes   gauge    virtual memory size (vsize of /proc/self/stat)
//   process_resident_memory_bytes  gauge    resident set size (rss pages × page size)
//   process_cpu_seconds_total      counter  user + system CPU time (utime + stime in ticks)
//   process_start_time_seconds     gauge    start time since the Unix epoch (boot time `btime`
//                                           of /proc/stat + starttime ticks)
// A metric whose source cannot be read or parsed (an exotic /proc, EMFILE while scraping) is
// left out and the failure logged (the first and every 100th); this never fails or crashes.
// Thread-safe (it only reads the process's state), but `writer` is the caller's.
void AppendProcessMetrics(MetricsWriter& writer);

}  // namespace weft::control::admin

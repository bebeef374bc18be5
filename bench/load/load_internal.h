// Internal to the load generator: do not include from elsewhere. Shared pieces of the modes —
// error counting, an epoll wrapper, CPU sampling over the measured window, bulk connect.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/common/json_line.h"
#include "bench/load/load.h"
#include "bench/load/net.h"

namespace weft::bench::load_internal {

// ErrorCounts: what went wrong, by cause. Thread-compatible.
struct ErrorCounts {
  std::uint64_t refused = 0;          // ECONNREFUSED.
  std::uint64_t reset = 0;            // ECONNRESET / EPIPE.
  std::uint64_t timeouts = 0;         // No connect or full echo within op_timeout.
  std::uint64_t closed_early = 0;     // EOF before the full echo (e.g. accept-then-close).
  std::uint64_t mismatches = 0;       // Echoed bytes differ from those sent.
  std::uint64_t ports_exhausted = 0;  // EADDRNOTAVAIL / EADDRINUSE at bind or connect.
  std::uint64_t fds_exhausted = 0;    // EMFILE / ENFILE / ENOBUFS / ENOMEM.
  std::uint64_t other = 0;            // Anything else; last_other says what.
  int last_other = 0;

  // Count classifies one errno.
  void Count(int error);
  // Total excludes ports_exhausted, which is retried from another source address.
  std::uint64_t Total() const;
  void AddTo(JsonLine* json) const;
  // Summary renders the non-zero counters, or "none".
  std::string Summary() const;
};

// Epoll: an epoll instance. Confined to its owner thread.
class Epoll {
 public:
  Epoll();
  ~Epoll();
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;

  bool ok() const { return fd_ >= 0; }
  // Add/Modify register `fd` with `events`, tagging it with `tag`. Return false on failure.
  bool Add(int fd, std::uint32_t events, std::uint64_t tag);
  bool Modify(int fd, std::uint32_t events, std::uint64_t tag);
  void Remove(int fd);
  // Wait returns the ready events (at most events.size()); EINTR counts as none.
  int Wait(std::vector<epoll_event>* events, int timeout_ms);

 private:
  int fd_;
};

// CpuWindow: CPU used by this process and by the server between Start and Stop, as a fraction
// of one core. When a side is pinned to a single CPU, also how busy that CPU was with anything
// else ("others": other processes, or the hypervisor's steal) — the figure that says whether a
// measurement shared its CPU.
class CpuWindow {
 public:
  void Start(pid_t server_pid, std::int64_t now_ns);
  void Stop(std::int64_t now_ns);
  void AddTo(JsonLine* json) const;
  // Summary renders "client 97% / server 100% (+ others 3%) of a core".
  std::string Summary() const;

 private:
  pid_t server_pid_ = 0;
  std::int64_t start_ns_ = 0;
  double client_start_ = 0;
  double server_start_ = -1;
  double client_ = -1;
  double server_ = -1;
  // The single CPU each side is pinned to, or -1; busy seconds of it at Start.
  int client_cpu_id_ = -1;
  int server_cpu_id_ = -1;
  double client_cpu_busy_start_ = -1;
  double server_cpu_busy_start_ = -1;
  double client_others_ = -1;
  double server_others_ = -1;
};

// PollTimeoutMs returns the epoll timeout until `deadline_ns`, at most `cap_ms`, at least 0.
int PollTimeoutMs(std::int64_t now_ns, std::int64_t deadline_ns, int cap_ms);

// ConnectAll opens `count` connections to `target`, at most `concurrency` handshakes at a time,
// each within `op_timeout`, and returns the connected descriptors (non-blocking; owned by the
// caller). Failures are counted in `errors`; EADDRNOTAVAIL grows `sources` and retries.
// Gives up at `deadline_ns`.
std::vector<int> ConnectAll(const SocketAddress& target, int count, int concurrency,
                            absl::Duration op_timeout, std::int64_t deadline_ns,
                            SourcePool* sources, ErrorCounts* errors);

// CheckFdBudget returns RESOURCE_EXHAUSTED when `needed` more descriptors do not fit under the
// soft RLIMIT_NOFILE.
absl::Status CheckFdBudget(std::uint64_t needed);

// FillPattern fills `n` bytes with a pattern that depends on `seed` (cheap, not random).
void FillPattern(char* data, std::size_t n, std::uint64_t seed);

// CloseAll closes every descriptor ≥ 0 in `fds`.
void CloseAll(std::vector<int>* fds);

// StartReport fills the fields every mode reports.
void StartReport(const LoadOptions& options, Report* report);

// Seconds converts nanoseconds to seconds.
inline double Seconds(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace weft::bench::load_internal

// bulk: C connections each stream S-byte writes as fast as the echo comes back (at most
// kWindow bytes unechoed per connection); throughput counts echoed bytes, all verified.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "bench/load/load.h"
#include "bench/load/load_internal.h"
#include "bench/load/proc_stats.h"

namespace weft::bench {

using load_internal::CpuWindow;
using load_internal::Epoll;
using load_internal::ErrorCounts;
using load_internal::Seconds;

namespace {

// The stream is a fixed pseudo-random pattern of prime length repeated, so any offset's bytes
// are a contiguous slice of a doubled buffer.
constexpr std::size_t kPatternLength = 65521;
constexpr std::size_t kReadSize = 256 * 1024;
constexpr std::uint64_t kWindow = 4 << 20;

struct Stream {
  int fd = -1;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

}  // namespace

absl::StatusOr<Report> RunBulk(const LoadOptions& options) {
  if (options.conns < 1 || options.size < 1 || options.size > (1 << 20)) {
    return absl::InvalidArgumentError("bulk needs --conns ≥ 1 and 1 ≤ --size ≤ 1 MiB");
  }
  if (absl::Status s = load_internal::CheckFdBudget(options.conns); !s.ok()) return s;
  Report report;
  load_internal::StartReport(options, &report);
  ErrorCounts errors;
  SourcePool sources(options.target, options.sources);
  const std::int64_t t_begin = NowNanos();
  const std::int64_t hard_deadline = t_begin + absl::ToInt64Nanoseconds(options.max_runtime);
  const std::int64_t timeout_ns = absl::ToInt64Nanoseconds(options.op_timeout);

  std::vector<char> pattern(kPatternLength + std::max(options.size, kReadSize));
  load_internal::FillPattern(pattern.data(), kPatternLength, 42);
  for (std::size_t i = kPatternLength; i < pattern.size(); ++i) {
    pattern[i] = pattern[i - kPatternLength];
  }
  std::vector<char> in(kReadSize);

  std::vector<int> fds = load_internal::ConnectAll(options.target, options.conns, 256,
                                                   options.op_timeout, hard_deadline, &sources,
                                                   &errors);
  Epoll epoll;
  if (!epoll.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");
  std::vector<Stream> streams(fds.size());
  for (std::size_t i = 0; i < fds.size(); ++i) {
    streams[i].fd = fds[i];
    epoll.Add(fds[i], EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, i);
  }
  const int connected = static_cast<int>(streams.size());
  int open = connected;

  const std::int64_t t_start = NowNanos();
  const std::int64_t t_measure = t_start + absl::ToInt64Nanoseconds(options.warmup);
  const std::int64_t t_end = t_measure + absl::ToInt64Nanoseconds(options.duration);
  bool measuring = false;
  bool stopping = false;
  std::uint64_t measured_bytes = 0;
  std::int64_t last_progress_ns = t_start;
  CpuWindow cpu;

  auto close_stream = [&](Stream& s) {
    ::close(s.fd);
    s.fd = -1;
    --open;
  };
  // More work than this per call goes back on `unfinished`, so one busy stream cannot starve
  // the others or the clock checks.
  constexpr int kRoundsPerPump = 8;
  std::vector<std::size_t> unfinished;
  // pump writes while the window allows and reads until EAGAIN (edge-triggered: the socket must
  // be driven to EAGAIN, or be put on `unfinished`, before waiting for the next edge).
  auto pump = [&](std::size_t index, std::int64_t now) {
    Stream& s = streams[index];
    for (int round = 0; s.fd >= 0; ++round) {
      if (round == kRoundsPerPump) {
        unfinished.push_back(index);
        return;
      }
      while (!stopping && s.sent - s.received < kWindow) {
        const std::size_t offset = s.sent % kPatternLength;
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(options.size, kWindow - (s.sent - s.received)));
        const ssize_t n = ::send(s.fd, pattern.data() + offset, want, MSG_NOSIGNAL);
        if (n > 0) {
          s.sent += static_cast<std::uint64_t>(n);
          continue;
        }
        if (n < 0 && errno == EAGAIN) break;  // EPOLLOUT will come.
        if (n < 0 && errno == EINTR) continue;
        errors.Count(n < 0 ? errno : EPIPE);
        close_stream(s);
        return;
      }
      while (true) {
        if (s.received == s.sent) {
          if (stopping) return;
          break;  // Window empty: write more.
        }
        const ssize_t n = ::recv(s.fd, in.data(), in.size(), 0);
        if (n > 0) {
          const std::size_t offset = s.received % kPatternLength;
          if (static_cast<std::uint64_t>(n) > s.sent - s.received ||
              std::memcmp(in.data(), pattern.data() + offset, static_cast<std::size_t>(n)) != 0) {
            ++errors.mismatches;
            close_stream(s);
            return;
          }
          s.received += static_cast<std::uint64_t>(n);
          last_progress_ns = now;
          if (measuring && !stopping) measured_bytes += static_cast<std::uint64_t>(n);
          if (!stopping && s.sent - s.received <= kWindow / 2) break;  // Room: write more.
          continue;
        }
        if (n == 0) {
          ++errors.closed_early;
          close_stream(s);
          return;
        }
        if (errno == EAGAIN) return;  // EPOLLIN will come.
        if (errno == EINTR) continue;
        errors.Count(errno);
        close_stream(s);
        return;
      }
    }
  };

  {
    const std::int64_t now = NowNanos();
    for (std::size_t i = 0; i < streams.size(); ++i) pump(i, now);
  }
  std::vector<epoll_event> events(256);
  bool aborted = false;
  while (open > 0) {
    std::int64_t now = NowNanos();
    if (now >= hard_deadline) {
      aborted = true;
      break;
    }
    if (!measuring && now >= t_measure) {
      measuring = true;
      cpu.Start(options.server_pid, now);
    }
    if (!stopping && now >= t_end) {
      stopping = true;
      cpu.Stop(now);
    }
    if (stopping) {
      bool pending = false;
      for (const Stream& s : streams) pending |= s.fd >= 0 && s.received < s.sent;
      if (!pending || now >= t_end + timeout_ns) break;
    }
    if (now - last_progress_ns > timeout_ns) {
      // Nothing echoed for op_timeout: the server stalled.
      for (Stream& s : streams) {
        if (s.fd >= 0 && s.received < s.sent) {
          ++errors.timeouts;
          close_stream(s);
        }
      }
      last_progress_ns = now;
      continue;
    }
    const std::int64_t next_phase = !measuring ? t_measure : !stopping ? t_end : t_end + timeout_ns;
    const int timeout =
        unfinished.empty() ? load_internal::PollTimeoutMs(now, next_phase, 50) : 0;
    const int n = epoll.Wait(&events, timeout);
    now = NowNanos();
    std::vector<std::size_t> again;
    again.swap(unfinished);
    for (std::size_t i : again) pump(i, now);
    for (int e = 0; e < n; ++e) pump(events[e].data.u64, now);
  }
  if (!stopping) cpu.Stop(NowNanos());
  for (Stream& s : streams) {
    if (s.fd >= 0) {
      if (s.received < s.sent) ++errors.timeouts;
      ::close(s.fd);
    }
  }

  const double window = measuring ? Seconds(std::max<std::int64_t>(1, t_end - t_measure)) : 0;
  const double mib_per_s = window > 0 ? static_cast<double>(measured_bytes) / window / 1048576 : 0;
  JsonLine& json = report.json;
  json.Set("connected", connected);
  json.Set("duration_s", window);
  json.Set("bytes", measured_bytes);
  json.Set("mib_per_s", mib_per_s);
  cpu.AddTo(&json);
  errors.AddTo(&json);
  report.clean = !aborted && errors.Total() == 0 && connected == options.conns;
  json.SetBool("aborted", aborted);
  json.SetBool("clean", report.clean);
  report.human = absl::StrFormat(
      "bulk %s: %d/%d streams, %zu B writes: %.1f MiB/s echoed (verified) over %.2f s; %s; "
      "errors: %s%s",
      options.target.ToString(), connected, options.conns, options.size, mib_per_s, window,
      cpu.Summary(), errors.Summary(), aborted ? " (ABORTED at --max-runtime)" : "");
  return report;
}

}  // namespace weft::bench

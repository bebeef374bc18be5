// connrate: C concurrent loops, each connect → send S bytes → read the full echo → close, and
// again. Latency is from socket() to the last echoed byte.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "bench/load/load.h"
#include "bench/load/load_internal.h"
#include "bench/load/proc_stats.h"
#include "bench/load/samples.h"

namespace weft::bench {

using load_internal::CpuWindow;
using load_internal::Epoll;
using load_internal::ErrorCounts;
using load_internal::Seconds;

namespace {

enum class LoopState { kIdle, kConnecting, kSending, kReceiving };

struct Loop {
  int fd = -1;
  LoopState state = LoopState::kIdle;
  std::int64_t started = 0;
  std::size_t tx_off = 0;
  std::size_t rx_off = 0;
};

}  // namespace

absl::StatusOr<Report> RunConnRate(const LoadOptions& options) {
  if (options.conns < 1 || options.size < 1) {
    return absl::InvalidArgumentError("connrate needs --conns ≥ 1 and --size ≥ 1");
  }
  if (absl::Status s = load_internal::CheckFdBudget(options.conns); !s.ok()) return s;
  Report report;
  load_internal::StartReport(options, &report);
  ErrorCounts errors;
  SourcePool sources(options.target, options.sources);
  Epoll epoll;
  if (!epoll.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");

  const std::size_t size = options.size;
  std::vector<Loop> loops(options.conns);
  std::vector<char> tx(loops.size() * size);
  std::vector<char> rx(loops.size() * size);
  for (std::size_t i = 0; i < loops.size(); ++i) {
    load_internal::FillPattern(&tx[i * size], size, i + 1);
  }
  const std::int64_t timeout_ns = absl::ToInt64Nanoseconds(options.op_timeout);
  const std::int64_t t_start = NowNanos();
  const std::int64_t hard_deadline = t_start + absl::ToInt64Nanoseconds(options.max_runtime);
  const std::int64_t t_measure = t_start + absl::ToInt64Nanoseconds(options.warmup);
  std::int64_t t_end = t_measure + absl::ToInt64Nanoseconds(options.duration);
  // In-flight loops may finish (uncounted) for at most this long after the end.
  const std::int64_t drain_ns = std::min<std::int64_t>(timeout_ns, 1'000'000'000);

  LatencySamples samples;
  std::uint64_t completed = 0;
  std::uint64_t attempts = 0;
  bool measuring = false;
  bool stopping = false;
  CpuWindow cpu;
  std::vector<std::size_t> retry;  // Loops whose connect failed at once; restarted next round.
  int active = 0;

  auto finish = [&](Loop& loop) {
    if (loop.fd >= 0) ::close(loop.fd);
    loop.fd = -1;
    loop.state = LoopState::kIdle;
    --active;
  };
  auto fail = [&](std::size_t i, int error) {
    errors.Count(error);
    finish(loops[i]);
    retry.push_back(i);
  };
  auto start = [&](std::size_t i) {
    Loop& loop = loops[i];
    ++attempts;
    loop.started = NowNanos();
    const ConnectResult r = StartConnect(options.target, sources.Next());
    if (r.error != 0) {
      errors.Count(r.error);
      if (r.error == EADDRNOTAVAIL || r.error == EADDRINUSE) sources.Grow();
      retry.push_back(i);
      return;
    }
    loop.fd = r.fd;
    loop.state = LoopState::kConnecting;
    loop.tx_off = 0;
    loop.rx_off = 0;
    ++active;
    // Edge-triggered, registered once: connected (OUT), echo arrived (IN), failure (ERR/HUP).
    epoll.Add(r.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, i);
  };
  // advance runs loop i's state machine as far as the socket allows.
  auto advance = [&](std::size_t i, std::uint32_t ev, std::int64_t now) {
    Loop& loop = loops[i];
    if (loop.state == LoopState::kConnecting) {
      if (ev & (EPOLLERR | EPOLLHUP)) {
        const int error = SocketError(loop.fd);
        fail(i, error != 0 ? error : ECONNRESET);
        return;
      }
      if (!(ev & EPOLLOUT)) return;
      loop.state = LoopState::kSending;
    }
    if (loop.state == LoopState::kSending) {
      while (loop.tx_off < size) {
        const ssize_t n =
            ::send(loop.fd, &tx[i * size] + loop.tx_off, size - loop.tx_off, MSG_NOSIGNAL);
        if (n > 0) {
          loop.tx_off += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EAGAIN) {
          return;
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          fail(i, n < 0 ? errno : EPIPE);
          return;
        }
      }
      loop.state = LoopState::kReceiving;
    }
    // kReceiving: edge-triggered, so read until the echo is complete or EAGAIN.
    while (loop.rx_off < size) {
      const ssize_t n = ::recv(loop.fd, &rx[i * size] + loop.rx_off, size - loop.rx_off, 0);
      if (n > 0) {
        loop.rx_off += static_cast<std::size_t>(n);
      } else if (n == 0) {
        ++errors.closed_early;
        finish(loop);
        retry.push_back(i);
        return;
      } else if (errno == EAGAIN) {
        return;
      } else if (errno != EINTR) {
        fail(i, errno);
        return;
      }
    }
    if (std::memcmp(&rx[i * size], &tx[i * size], size) != 0) {
      ++errors.mismatches;
    } else if (measuring && !stopping && now < t_end) {
      samples.Add(now - loop.started);
      ++completed;
      if (options.max_count > 0 && completed >= options.max_count) {
        stopping = true;
        t_end = now;
        cpu.Stop(now);
      }
    }
    finish(loop);
    if (!stopping && now < t_end) start(i);
  };

  for (std::size_t i = 0; i < loops.size(); ++i) start(i);
  std::vector<epoll_event> events(1024);
  std::int64_t next_timeout_scan = t_start + 50'000'000;
  bool aborted = false;
  while (true) {
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
    if (stopping && (active == 0 || now >= t_end + drain_ns)) break;
    // Loops whose connect failed at once restart after one poll round, never in a hot spin.
    std::vector<std::size_t> again;
    again.swap(retry);
    if (!stopping) {
      for (std::size_t i : again) start(i);
    }
    const std::int64_t next_phase =
        !measuring ? t_measure : !stopping ? t_end : t_end + drain_ns;
    const int timeout = retry.empty() ? load_internal::PollTimeoutMs(now, next_phase, 50) : 1;
    const int n = epoll.Wait(&events, timeout);
    now = NowNanos();
    for (int e = 0; e < n; ++e) {
      const std::size_t i = events[e].data.u64;
      if (loops[i].state == LoopState::kIdle) continue;
      advance(i, events[e].events, now);
    }
    if (now >= next_timeout_scan) {
      next_timeout_scan = now + 50'000'000;
      for (std::size_t i = 0; i < loops.size(); ++i) {
        if (loops[i].state != LoopState::kIdle && now - loops[i].started > timeout_ns) {
          ++errors.timeouts;
          finish(loops[i]);
          retry.push_back(i);
        }
      }
    }
  }
  if (!stopping) cpu.Stop(NowNanos());
  for (Loop& loop : loops) {
    if (loop.fd >= 0) ::close(loop.fd);
  }

  const double window = measuring ? Seconds(std::max<std::int64_t>(1, t_end - t_measure)) : 0;
  const double rate = window > 0 ? static_cast<double>(completed) / window : 0;
  JsonLine& json = report.json;
  json.Set("duration_s", window);
  json.Set("attempts", attempts);
  json.Set("completed", completed);
  json.Set("conns_per_s", rate);
  json.Set("lat_p50_us", samples.PercentileMicros(0.50));
  json.Set("lat_p99_us", samples.PercentileMicros(0.99));
  json.Set("lat_p999_us", samples.PercentileMicros(0.999));
  json.Set("lat_max_us", samples.MaxMicros());
  json.Set("lat_mean_us", samples.MeanMicros());
  json.Set("sources", sources.size());
  cpu.AddTo(&json);
  errors.AddTo(&json);
  report.clean = !aborted && errors.Total() == 0;
  json.SetBool("aborted", aborted);
  json.SetBool("clean", report.clean);
  report.human = absl::StrFormat(
      "connrate %s: %d loops x %zu B: %.0f conn/s over %.2f s; latency p50 %.1f us, p99 %.1f us, "
      "p99.9 %.1f us, max %.1f us; %d source address(es); %s; errors: %s%s",
      options.target.ToString(), options.conns, size, rate, window, samples.PercentileMicros(0.5),
      samples.PercentileMicros(0.99), samples.PercentileMicros(0.999), samples.MaxMicros(),
      sources.size(), cpu.Summary(), errors.Summary(),
      aborted ? " (ABORTED at --max-runtime)" : "");
  return report;
}

}  // namespace weft::bench

// pingpong: C connections, each with exactly one S-byte message in flight; the next message
// goes out when the full echo of the previous one has arrived and matched.
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

struct Conn {
  int fd = -1;
  std::size_t tx_off = 0;
  std::size_t rx_off = 0;
  std::int64_t sent_at = 0;
  std::uint64_t seq = 0;
  bool in_flight = false;
  bool want_out = false;
};

}  // namespace

absl::StatusOr<Report> RunPingPong(const LoadOptions& options) {
  if (options.conns < 1 || options.size < 1) {
    return absl::InvalidArgumentError("pingpong needs --conns ≥ 1 and --size ≥ 1");
  }
  if (absl::Status s = load_internal::CheckFdBudget(options.conns); !s.ok()) return s;
  Report report;
  load_internal::StartReport(options, &report);
  ErrorCounts errors;
  SourcePool sources(options.target, options.sources);
  const std::int64_t t_begin = NowNanos();
  const std::int64_t hard_deadline = t_begin + absl::ToInt64Nanoseconds(options.max_runtime);
  const std::int64_t timeout_ns = absl::ToInt64Nanoseconds(options.op_timeout);

  std::vector<int> fds =
      load_internal::ConnectAll(options.target, options.conns, 256, options.op_timeout,
                                hard_deadline, &sources, &errors);
  const std::size_t size = options.size;
  std::vector<Conn> conns(fds.size());
  std::vector<char> tx(conns.size() * size);
  std::vector<char> rx(conns.size() * size);
  Epoll epoll;
  if (!epoll.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = fds[i];
    load_internal::FillPattern(&tx[i * size], size, i + 1);
    epoll.Add(fds[i], EPOLLIN | EPOLLRDHUP, i);
  }
  const int connected = static_cast<int>(conns.size());

  LatencySamples samples;
  std::uint64_t measured = 0;
  bool count_reached = false;
  const std::int64_t t_start = NowNanos();
  const std::int64_t t_measure = t_start + absl::ToInt64Nanoseconds(options.warmup);
  std::int64_t t_end = t_measure + absl::ToInt64Nanoseconds(options.duration);
  CpuWindow cpu;
  bool measuring = false;
  bool stopped_sending = false;
  int open = connected;

  auto close_conn = [&](Conn& c) {
    ::close(c.fd);
    c.fd = -1;
    c.in_flight = false;
    --open;
  };
  // send_some writes what is left of the current message; false if the connection failed.
  auto send_some = [&](std::size_t i) {
    Conn& c = conns[i];
    char* data = &tx[i * size];
    while (c.tx_off < size) {
      const ssize_t n = ::send(c.fd, data + c.tx_off, size - c.tx_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.tx_off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EAGAIN) {
        if (!c.want_out) {
          c.want_out = true;
          epoll.Modify(c.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, i);
        }
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      errors.Count(n < 0 ? errno : EPIPE);
      close_conn(c);
      return false;
    }
    if (c.want_out) {
      c.want_out = false;
      epoll.Modify(c.fd, EPOLLIN | EPOLLRDHUP, i);
    }
    return true;
  };
  auto start_message = [&](std::size_t i, std::int64_t now) {
    Conn& c = conns[i];
    ++c.seq;
    char* data = &tx[i * size];
    // A sequence number in the message makes a stale or repeated echo a mismatch.
    std::memcpy(data, &c.seq, std::min(size, sizeof c.seq));
    c.tx_off = 0;
    c.rx_off = 0;
    c.sent_at = now;
    c.in_flight = true;
    send_some(i);
  };

  {
    const std::int64_t now = NowNanos();
    for (std::size_t i = 0; i < conns.size(); ++i) start_message(i, now);
  }

  std::vector<epoll_event> events(1024);
  std::int64_t next_timeout_scan = t_start + 100'000'000;
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
    if (!stopped_sending && (now >= t_end || count_reached)) {
      stopped_sending = true;
      if (count_reached) t_end = now;
      cpu.Stop(now);
    }
    // In-flight echoes get op_timeout after the end to arrive and be verified.
    if (stopped_sending && now >= t_end + timeout_ns) break;
    bool any_in_flight = false;
    if (stopped_sending) {
      for (const Conn& c : conns) any_in_flight |= c.fd >= 0 && c.in_flight;
      if (!any_in_flight) break;
    }
    const std::int64_t next_phase = !measuring ? t_measure : !stopped_sending ? t_end : t_end + timeout_ns;
    const int n = epoll.Wait(&events, load_internal::PollTimeoutMs(now, next_phase, 100));
    now = NowNanos();
    for (int e = 0; e < n; ++e) {
      const std::size_t i = events[e].data.u64;
      Conn& c = conns[i];
      if (c.fd < 0) continue;
      if ((events[e].events & EPOLLOUT) && c.tx_off < size && !send_some(i)) continue;
      if (!(events[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
      char* in = &rx[i * size];
      const ssize_t got = ::recv(c.fd, in + c.rx_off, size - c.rx_off, 0);
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        errors.Count(errno);
        close_conn(c);
        continue;
      }
      if (got == 0) {
        ++errors.closed_early;
        close_conn(c);
        continue;
      }
      c.rx_off += static_cast<std::size_t>(got);
      if (c.rx_off < size) continue;
      if (std::memcmp(in, &tx[i * size], size) != 0) {
        // The stream cannot be resynchronised after a bad echo.
        ++errors.mismatches;
        close_conn(c);
        continue;
      }
      c.in_flight = false;
      if (measuring && !stopped_sending && now < t_end) {
        samples.Add(now - c.sent_at);
        ++measured;
        if (options.max_count > 0 && measured >= options.max_count) count_reached = true;
      }
      if (!stopped_sending && !count_reached && now < t_end) start_message(i, now);
    }
    if (now >= next_timeout_scan) {
      next_timeout_scan = now + 100'000'000;
      for (Conn& c : conns) {
        if (c.fd >= 0 && c.in_flight && now - c.sent_at > timeout_ns) {
          ++errors.timeouts;
          close_conn(c);
        }
      }
    }
  }
  if (!stopped_sending) cpu.Stop(NowNanos());
  for (Conn& c : conns) {
    if (c.fd >= 0) {
      if (c.in_flight) ++errors.timeouts;
      ::close(c.fd);
    }
  }

  const double window = measuring ? Seconds(std::max<std::int64_t>(1, t_end - t_measure)) : 0;
  const double rate = window > 0 ? static_cast<double>(measured) / window : 0;
  JsonLine& json = report.json;
  json.Set("connected", connected);
  json.Set("duration_s", window);
  json.Set("msgs", measured);
  json.Set("msgs_per_s", rate);
  json.Set("lat_p50_us", samples.PercentileMicros(0.50));
  json.Set("lat_p99_us", samples.PercentileMicros(0.99));
  json.Set("lat_p999_us", samples.PercentileMicros(0.999));
  json.Set("lat_max_us", samples.MaxMicros());
  json.Set("lat_mean_us", samples.MeanMicros());
  json.Set("sources", sources.size());
  cpu.AddTo(&json);
  errors.AddTo(&json);
  report.clean = !aborted && errors.Total() == 0 && connected == options.conns;
  json.SetBool("aborted", aborted);
  json.SetBool("clean", report.clean);
  report.human = absl::StrFormat(
      "pingpong %s: %d/%d conns x %zu B: %.0f msg/s over %.2f s; latency p50 %.1f us, p99 %.1f "
      "us, p99.9 %.1f us, max %.1f us; %s; errors: %s%s",
      options.target.ToString(), connected, options.conns, size, rate, window,
      samples.PercentileMicros(0.5), samples.PercentileMicros(0.99),
      samples.PercentileMicros(0.999), samples.MaxMicros(), cpu.Summary(), errors.Summary(),
      aborted ? " (ABORTED at --max-runtime)" : "");
  return report;
}

}  // namespace weft::bench

// idle: open C connections (at most connect_concurrency handshakes at a time), check that each
// echoes a probe, hold them all for `duration` while sampling the server's RSS and thread count
// from /proc, check each echoes again, then close them.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/load/load.h"
#include "bench/load/load_internal.h"
#include "bench/load/proc_stats.h"

namespace weft::bench {

using load_internal::Epoll;
using load_internal::ErrorCounts;
using load_internal::Seconds;

namespace {

enum class IdleState { kUnused, kConnecting, kProbing, kHeld, kClosed };

struct IdleConn {
  int fd = -1;
  IdleState state = IdleState::kUnused;
  std::int64_t started = 0;
  std::size_t tx_off = 0;
  std::size_t rx_off = 0;
};

constexpr std::uint32_t kHeldEvents = EPOLLIN | EPOLLRDHUP;

}  // namespace

absl::StatusOr<Report> RunIdle(const LoadOptions& options) {
  if (options.conns < 1 || options.size < 1 || options.connect_concurrency < 1) {
    return absl::InvalidArgumentError("idle needs --conns, --size, --concurrency ≥ 1");
  }
  if (absl::Status s = load_internal::CheckFdBudget(options.conns); !s.ok()) return s;
  Report report;
  load_internal::StartReport(options, &report);
  ErrorCounts errors;
  SourcePool sources(options.target, options.sources);
  Epoll epoll;
  if (!epoll.ok()) return absl::ErrnoToStatus(errno, "epoll_create1");

  const std::size_t size = options.size;
  const std::int64_t timeout_ns = absl::ToInt64Nanoseconds(options.op_timeout);
  const std::int64_t t_start = NowNanos();
  const std::int64_t hard_deadline = t_start + absl::ToInt64Nanoseconds(options.max_runtime);

  std::optional<ProcStatus> before;
  if (options.server_pid > 0) before = ReadProcStatus(options.server_pid);

  std::vector<IdleConn> conns(options.conns);
  // One probe per round, the same for every connection; the echo buffer is per connection.
  std::vector<char> probe(size);
  std::vector<char> rx(conns.size() * size);
  std::uint64_t round = 1;
  load_internal::FillPattern(probe.data(), size, round);

  std::size_t next_unused = 0;
  int in_flight = 0;  // kConnecting or kProbing.
  int held = 0;
  std::uint64_t dropped_while_held = 0;
  std::uint64_t unexpected_data = 0;

  auto close_conn = [&](IdleConn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    if (c.state == IdleState::kConnecting || c.state == IdleState::kProbing) --in_flight;
    if (c.state == IdleState::kHeld) --held;
    c.state = IdleState::kClosed;
  };
  auto mark_held = [&](std::size_t i) {
    IdleConn& c = conns[i];
    c.state = IdleState::kHeld;
    --in_flight;
    ++held;
    epoll.Modify(c.fd, kHeldEvents, i);
  };
  // send_probe starts (or continues) writing the probe; the echo is awaited on EPOLLIN.
  auto send_probe = [&](std::size_t i) {
    IdleConn& c = conns[i];
    while (c.tx_off < size) {
      const ssize_t n = ::send(c.fd, probe.data() + c.tx_off, size - c.tx_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.tx_off += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        epoll.Modify(c.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, i);
        return;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        errors.Count(n < 0 ? errno : EPIPE);
        close_conn(c);
        return;
      }
    }
    epoll.Modify(c.fd, EPOLLIN | EPOLLRDHUP, i);
  };
  auto begin_probe = [&](std::size_t i, std::int64_t now) {
    IdleConn& c = conns[i];
    if (c.state == IdleState::kHeld) {
      --held;
      ++in_flight;
    }
    c.state = IdleState::kProbing;
    c.started = now;
    c.tx_off = 0;
    c.rx_off = 0;
    send_probe(i);
  };
  // receive_probe reads the echo; the connection is held again once it is complete.
  auto receive_probe = [&](std::size_t i) {
    IdleConn& c = conns[i];
    char* in = &rx[i * size];
    while (c.rx_off < size) {
      const ssize_t n = ::recv(c.fd, in + c.rx_off, size - c.rx_off, 0);
      if (n > 0) {
        c.rx_off += static_cast<std::size_t>(n);
      } else if (n == 0) {
        ++errors.closed_early;
        close_conn(c);
        return;
      } else if (errno == EAGAIN) {
        return;
      } else if (errno != EINTR) {
        errors.Count(errno);
        close_conn(c);
        return;
      }
    }
    if (std::memcmp(in, probe.data(), size) != 0) {
      ++errors.mismatches;
      close_conn(c);
      return;
    }
    mark_held(i);
  };
  auto start_connect = [&](std::size_t i) -> bool {
    IdleConn& c = conns[i];
    while (true) {
      const ConnectResult r = StartConnect(options.target, sources.Next());
      if (r.error == EADDRNOTAVAIL || r.error == EADDRINUSE) {
        errors.Count(r.error);
        if (sources.Grow()) continue;
      }
      if (r.error != 0) {
        errors.Count(r.error);
        c.state = IdleState::kClosed;
        return false;
      }
      c.fd = r.fd;
      c.state = IdleState::kConnecting;
      c.started = NowNanos();
      ++in_flight;
      epoll.Add(r.fd, EPOLLOUT, i);
      return true;
    }
  };
  auto on_event = [&](std::size_t i, std::uint32_t ev, std::int64_t now) {
    IdleConn& c = conns[i];
    switch (c.state) {
      case IdleState::kConnecting: {
        const int error = SocketError(c.fd);
        if (error != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
          errors.Count(error != 0 ? error : ECONNRESET);
          close_conn(c);
          return;
        }
        if (options.probe) {
          begin_probe(i, now);
        } else {
          mark_held(i);
        }
        return;
      }
      case IdleState::kProbing:
        if ((ev & EPOLLOUT) && c.tx_off < size) send_probe(i);
        if (c.state == IdleState::kProbing && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
          receive_probe(i);
        }
        return;
      case IdleState::kHeld: {
        // A held connection should stay silent; anything here means the server acted on it.
        char buffer[256];
        const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
          unexpected_data += static_cast<std::uint64_t>(n);
          return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        ++dropped_while_held;
        close_conn(c);
        return;
      }
      default:
        return;
    }
  };
  auto expire = [&](std::int64_t now) {
    for (IdleConn& c : conns) {
      if ((c.state == IdleState::kConnecting || c.state == IdleState::kProbing) &&
          now - c.started > timeout_ns) {
        ++errors.timeouts;
        close_conn(c);
      }
    }
  };

  std::vector<epoll_event> events(1024);
  bool aborted = false;
  // run_until processes events until `done()` or `deadline`; returns false on the hard cap.
  auto run_until = [&](auto done, std::int64_t deadline, auto on_tick) {
    std::int64_t next_scan = NowNanos() + 100'000'000;
    while (true) {
      std::int64_t now = NowNanos();
      if (now >= hard_deadline) {
        aborted = true;
        return;
      }
      if (done() || now >= deadline) return;
      const int n = epoll.Wait(&events, load_internal::PollTimeoutMs(now, deadline, 50));
      now = NowNanos();
      for (int e = 0; e < n; ++e) on_event(events[e].data.u64, events[e].events, now);
      on_tick(now);
      if (now >= next_scan) {
        next_scan = now + 100'000'000;
        expire(now);
      }
    }
  };

  // Ramp: keep up to connect_concurrency set-ups going until every connection was attempted.
  const std::int64_t ramp_start = NowNanos();
  auto refill = [&](std::int64_t) {
    while (in_flight < options.connect_concurrency && next_unused < conns.size()) {
      start_connect(next_unused++);
    }
  };
  refill(ramp_start);
  run_until([&] { return next_unused == conns.size() && in_flight == 0; }, hard_deadline, refill);
  const std::int64_t ramp_end = NowNanos();
  const int held_after_ramp = held;

  // Hold, sampling the server.
  std::optional<ProcStatus> peak;
  std::uint64_t samples_taken = 0;
  auto sample = [&] {
    if (options.server_pid <= 0) return;
    if (const std::optional<ProcStatus> s = ReadProcStatus(options.server_pid)) {
      ++samples_taken;
      if (!peak) peak = s;
      peak->rss_kib = std::max(peak->rss_kib, s->rss_kib);
      peak->threads = std::max(peak->threads, s->threads);
    }
  };
  sample();
  const std::int64_t hold_end = NowNanos() + absl::ToInt64Nanoseconds(options.duration);
  std::int64_t next_sample = NowNanos() + 250'000'000;
  if (!aborted) {
    run_until([] { return false; }, hold_end, [&](std::int64_t now) {
      if (now >= next_sample) {
        next_sample = now + 250'000'000;
        sample();
      }
    });
  }
  sample();
  const int held_after_hold = held;

  // Re-check: every held connection must still echo.
  int rechecked_ok = -1;
  if (options.probe && !aborted) {
    ++round;
    load_internal::FillPattern(probe.data(), size, round);
    const std::int64_t now = NowNanos();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (conns[i].state == IdleState::kHeld) begin_probe(i, now);
    }
    // Sending thousands of probes takes a while (on loopback each send also runs the server's
    // receive path and wakes its thread): the echo timeout runs from the end of the batch.
    const std::int64_t sent = NowNanos();
    for (IdleConn& c : conns) {
      if (c.state == IdleState::kProbing) c.started = sent;
    }
    run_until([&] { return in_flight == 0; }, NowNanos() + timeout_ns + 100'000'000,
              [](std::int64_t) {});
    expire(NowNanos() + timeout_ns + 1);
    rechecked_ok = held;
  }
  for (IdleConn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }

  JsonLine& json = report.json;
  const double ramp_s = Seconds(ramp_end - ramp_start);
  json.Set("held", held_after_ramp);
  json.Set("held_after_hold", held_after_hold);
  if (rechecked_ok >= 0) json.Set("rechecked_ok", rechecked_ok);
  json.Set("ramp_s", ramp_s);
  json.Set("open_per_s", ramp_s > 0 ? held_after_ramp / ramp_s : 0.0);
  json.Set("hold_s", absl::ToDoubleSeconds(options.duration));
  json.Set("dropped_while_held", dropped_while_held);
  json.Set("unexpected_bytes", unexpected_data);
  json.Set("sources", sources.size());
  double rss_per_conn = -1;
  if (before && peak) {
    json.Set("server_rss_before_kib", before->rss_kib);
    json.Set("server_rss_held_kib", peak->rss_kib);
    json.Set("server_threads_before", before->threads);
    json.Set("server_threads_held", peak->threads);
    if (held_after_ramp > 0) {
      rss_per_conn = (static_cast<double>(peak->rss_kib) - static_cast<double>(before->rss_kib)) /
                     held_after_ramp;
      json.Set("rss_per_conn_kib", rss_per_conn);
    }
  }
  errors.AddTo(&json);
  report.clean = !aborted && errors.Total() == 0 && held_after_ramp == options.conns &&
                 dropped_while_held == 0 && unexpected_data == 0 &&
                 (rechecked_ok < 0 || rechecked_ok == options.conns);
  json.SetBool("aborted", aborted);
  json.SetBool("clean", report.clean);
  std::string server;
  if (before && peak) {
    server = absl::StrFormat("; server RSS %.1f -> %.1f MiB (%.1f KiB/conn), threads %d -> %d",
                             before->rss_kib / 1024.0, peak->rss_kib / 1024.0, rss_per_conn,
                             static_cast<int>(before->threads), static_cast<int>(peak->threads));
  }
  report.human = absl::StrFormat(
      "idle %s: held %d/%d (opened in %.2f s, %.0f/s, %d source address(es)), %d after %.1f s "
      "hold, %s echo again%s; errors: %s%s",
      options.target.ToString(), held_after_ramp, options.conns, ramp_s,
      ramp_s > 0 ? held_after_ramp / ramp_s : 0.0, sources.size(), held_after_hold,
      absl::ToDoubleSeconds(options.duration),
      rechecked_ok >= 0 ? absl::StrCat(rechecked_ok) : std::string("not checked"), server,
      errors.Summary(), aborted ? " (ABORTED at --max-runtime)" : "");
  return report;
}

}  // namespace weft::bench

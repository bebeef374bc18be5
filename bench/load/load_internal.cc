#include "bench/load/load_internal.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/load/proc_stats.h"

namespace weft::bench::load_internal {

void ErrorCounts::Count(int error) {
  switch (error) {
    case ECONNREFUSED:
      ++refused;
      break;
    case ECONNRESET:
    case EPIPE:
      ++reset;
      break;
    case ETIMEDOUT:
      ++timeouts;
      break;
    case EADDRNOTAVAIL:
    case EADDRINUSE:
      ++ports_exhausted;
      break;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      ++fds_exhausted;
      break;
    default:
      ++other;
      last_other = error;
  }
}

std::uint64_t ErrorCounts::Total() const {
  return refused + reset + timeouts + closed_early + mismatches + fds_exhausted + other;
}

void ErrorCounts::AddTo(JsonLine* json) const {
  json->Set("errors", Total());
  json->Set("refused", refused);
  json->Set("reset", reset);
  json->Set("timeouts", timeouts);
  json->Set("closed_early", closed_early);
  json->Set("mismatches", mismatches);
  json->Set("ports_exhausted", ports_exhausted);
  json->Set("fds_exhausted", fds_exhausted);
  json->Set("other_errors", other);
  if (other > 0) json->Set("last_other_error", std::strerror(last_other));
}

std::string ErrorCounts::Summary() const {
  std::vector<std::string> parts;
  auto add = [&](const char* name, std::uint64_t n) {
    if (n > 0) parts.push_back(absl::StrCat(name, " ", n));
  };
  add("refused", refused);
  add("reset", reset);
  add("timeouts", timeouts);
  add("closed early", closed_early);
  add("MISMATCHES", mismatches);
  add("ports exhausted (retried)", ports_exhausted);
  add("fds exhausted", fds_exhausted);
  if (other > 0) parts.push_back(absl::StrCat("other ", other, " (", std::strerror(last_other), ")"));
  return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
}

Epoll::Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {}
Epoll::~Epoll() {
  if (fd_ >= 0) ::close(fd_);
}

bool Epoll::Add(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

bool Epoll::Modify(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  return ::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &event) == 0;
}

void Epoll::Remove(int fd) { ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

int Epoll::Wait(std::vector<epoll_event>* events, int timeout_ms) {
  const int n = ::epoll_wait(fd_, events->data(), static_cast<int>(events->size()), timeout_ms);
  return n < 0 ? 0 : n;
}

void CpuWindow::Start(pid_t server_pid, std::int64_t now_ns) {
  server_pid_ = server_pid;
  start_ns_ = now_ns;
  client_start_ = SelfCpuSeconds();
  server_start_ = -1;
  client_cpu_id_ = PinnedCpu(0);
  server_cpu_id_ = server_pid_ > 0 ? PinnedCpu(server_pid_) : -1;
  // Sharing the other side's CPU is not "other work": only count a CPU we have to ourselves.
  if (client_cpu_id_ == server_cpu_id_) client_cpu_id_ = server_cpu_id_ = -1;
  if (server_pid_ > 0) {
    if (const std::optional<double> cpu = ProcessCpuSeconds(server_pid_)) server_start_ = *cpu;
  }
  if (client_cpu_id_ >= 0) client_cpu_busy_start_ = CpuBusySeconds(client_cpu_id_).value_or(-1);
  if (server_cpu_id_ >= 0) server_cpu_busy_start_ = CpuBusySeconds(server_cpu_id_).value_or(-1);
}

void CpuWindow::Stop(std::int64_t now_ns) {
  const double wall = Seconds(now_ns - start_ns_);
  if (wall <= 0) return;
  client_ = (SelfCpuSeconds() - client_start_) / wall;
  if (server_start_ >= 0) {
    if (const std::optional<double> cpu = ProcessCpuSeconds(server_pid_)) {
      server_ = (*cpu - server_start_) / wall;
    }
  }
  // others = how busy the CPU was minus what our process used on it; /proc/stat counts in
  // clock ticks, so this is good to a few percent over seconds.
  auto others = [&](int cpu, double busy_start, double own) {
    if (cpu < 0 || busy_start < 0 || own < 0) return -1.0;
    const std::optional<double> busy = CpuBusySeconds(cpu);
    if (!busy) return -1.0;
    return std::max(0.0, (*busy - busy_start) / wall - own);
  };
  client_others_ = others(client_cpu_id_, client_cpu_busy_start_, client_);
  server_others_ = others(server_cpu_id_, server_cpu_busy_start_, server_);
}

void CpuWindow::AddTo(JsonLine* json) const {
  if (client_ >= 0) json->Set("client_cpu", client_);
  if (server_ >= 0) json->Set("server_cpu", server_);
  if (client_others_ >= 0) json->Set("client_cpu_others", client_others_);
  if (server_others_ >= 0) json->Set("server_cpu_others", server_others_);
}

std::string CpuWindow::Summary() const {
  auto side = [](const char* name, double own, double others) {
    std::string out = absl::StrFormat("%s %.0f%%", name, own * 100);
    if (others >= 0) absl::StrAppend(&out, absl::StrFormat(" (+ others %.0f%%)", others * 100));
    return out;
  };
  std::string out = side("client", client_, client_others_);
  if (server_ >= 0) absl::StrAppend(&out, " / ", side("server", server_, server_others_));
  return out + " of a core";
}

int PollTimeoutMs(std::int64_t now_ns, std::int64_t deadline_ns, int cap_ms) {
  if (deadline_ns <= now_ns) return 0;
  const std::int64_t ms = (deadline_ns - now_ns + 999999) / 1000000;
  return static_cast<int>(std::min<std::int64_t>(ms, cap_ms));
}

std::vector<int> ConnectAll(const SocketAddress& target, int count, int concurrency,
                            absl::Duration op_timeout, std::int64_t deadline_ns,
                            SourcePool* sources, ErrorCounts* errors) {
  struct Pending {
    int fd = -1;
    std::int64_t started = 0;
  };
  std::vector<int> connected;
  connected.reserve(count);
  Epoll epoll;
  if (!epoll.ok()) {
    errors->Count(errno);
    return connected;
  }
  const std::int64_t timeout_ns = absl::ToInt64Nanoseconds(op_timeout);
  std::vector<Pending> pending(std::max(1, concurrency));
  std::vector<std::size_t> free_slots;
  for (std::size_t i = 0; i < pending.size(); ++i) free_slots.push_back(i);
  std::vector<epoll_event> events(256);
  int started = 0;
  int in_flight = 0;
  while ((started < count || in_flight > 0) && NowNanos() < deadline_ns) {
    while (started < count && !free_slots.empty()) {
      const SocketAddress* source = sources->Next();
      const ConnectResult result = StartConnect(target, source);
      if (result.error == EADDRNOTAVAIL || result.error == EADDRINUSE) {
        errors->Count(result.error);
        if (sources->Grow()) continue;
        ++started;  // No source left: this connection is lost.
        ++errors->other;
        errors->last_other = result.error;
        continue;
      }
      ++started;
      if (result.error != 0) {
        errors->Count(result.error);
        continue;
      }
      const std::size_t slot = free_slots.back();
      free_slots.pop_back();
      pending[slot] = Pending{result.fd, NowNanos()};
      epoll.Add(result.fd, EPOLLOUT, slot);
      ++in_flight;
    }
    const int n = epoll.Wait(&events, 50);
    for (int i = 0; i < n; ++i) {
      const std::size_t slot = events[i].data.u64;
      Pending& p = pending[slot];
      if (p.fd < 0) continue;
      const int error = SocketError(p.fd);
      // The slot is reused at once: the descriptor must not report here again.
      epoll.Remove(p.fd);
      if (error == 0) {
        connected.push_back(p.fd);
      } else {
        errors->Count(error);
        ::close(p.fd);
      }
      p.fd = -1;
      free_slots.push_back(slot);
      --in_flight;
    }
    const std::int64_t now = NowNanos();
    for (std::size_t slot = 0; slot < pending.size(); ++slot) {
      Pending& p = pending[slot];
      if (p.fd >= 0 && now - p.started > timeout_ns) {
        ++errors->timeouts;
        ::close(p.fd);
        p.fd = -1;
        free_slots.push_back(slot);
        --in_flight;
      }
    }
  }
  for (Pending& p : pending) {
    if (p.fd >= 0) {
      ++errors->timeouts;
      ::close(p.fd);
    }
  }
  return connected;
}

absl::Status CheckFdBudget(std::uint64_t needed) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  // Room for stdio, epoll instances and /proc reads.
  constexpr std::uint64_t kReserve = 32;
  if (needed + kReserve > limit.rlim_cur) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "need ", needed + kReserve, " descriptors but RLIMIT_NOFILE is ", limit.rlim_cur,
        " (hard limit ", limit.rlim_max, "); lower --conns"));
  }
  return absl::OkStatus();
}

void FillPattern(char* data, std::size_t n, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    data[i] = static_cast<char>((x * 0x2545f4914f6cdd1dull) >> 56);
  }
}

void CloseAll(std::vector<int>* fds) {
  for (int& fd : *fds) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

void StartReport(const LoadOptions& options, Report* report) {
  report->json.Set("tool", "weft-load");
  report->json.Set("mode", LoadModeName(options.mode));
  report->json.Set("target", options.target.ToString());
  report->json.Set("conns", options.conns);
  report->json.Set("size", static_cast<std::uint64_t>(options.size));
}

}  // namespace weft::bench::load_internal

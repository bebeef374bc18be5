// weft-load: Weft's load generator — bounded, single-threaded, epoll-based, loopback only.
//
//   weft-load --mode pingpong|connrate|idle|bulk --target 127.0.0.1:PORT [options]
//
// Prints one JSON line per run on stdout and a human summary on stderr. Exit status: 0 when
// the run was clean, 1 when it counted errors or aborted, 2 on a usage error.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/load/load.h"
#include "bench/load/net.h"

namespace {

constexpr char kUsage[] = R"(usage: weft-load --mode MODE --target HOST:PORT [options]

Modes (every echoed byte is verified):
  pingpong   C connections, one S-byte message in flight each; msgs/s and latency
  connrate   C concurrent loops of connect -> send S bytes -> full echo -> close; conns/s
  idle       open C connections, probe each, hold them, probe again; with --server-pid,
             samples the server's RSS and threads from /proc/PID/status
  bulk       C connections streaming S-byte writes; echoed MiB/s

Options:
  --target HOST:PORT    127.0.0.0/8 or [::1] only; anything else is refused
  --conns C             default: pingpong 64, connrate 32, idle 10000, bulk 1
  --size S              bytes per message (bulk: per write); default 64 (bulk 65536)
  --warmup SECONDS      not measured; default 1 (idle: unused)
  --duration SECONDS    measured window (idle: hold time); default 5
  --timeout SECONDS     per connect / per echo; default 3
  --max-runtime SECONDS hard cap on the whole run; default warmup+duration+60
  --max-count N         stop after N measured messages / connections (0 = none)
  --server-pid PID      sample the server's CPU (and RSS/threads in idle)
  --sources N           start with source addresses 127.0.0.1..N (grows when ports run out)
  --concurrency K       idle: connection set-ups in flight; default 256
  --no-probe            idle: hold connections without an echo check (e.g. queued tasks)
  --label TEXT          copied into the JSON record ("label")
  --tag KEY=VALUE       extra string field in the JSON record (repeatable)

  weft-load --free-port  prints a currently free 127.0.0.1 port (for servers that cannot
                         report an ephemeral one, such as nginx) and exits
)";

bool ParseSeconds(const std::string& text, absl::Duration* out) {
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || seconds < 0) return false;
  *out = absl::Seconds(seconds);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using weft::bench::LoadMode;
  weft::bench::LoadOptions options;
  std::string target;
  std::string mode;
  std::string label;
  std::vector<std::pair<std::string, std::string>> tags;
  int conns = -1;
  long long size = -1;
  bool max_runtime_set = false;
  auto usage_error = [](const std::string& why) {
    std::cerr << "weft-load: " << why << "\n" << kUsage;
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--free-port") {
      absl::StatusOr<std::uint16_t> port = weft::bench::FreeLoopbackPort();
      if (!port.ok()) {
        std::cerr << "weft-load: " << port.status().message() << "\n";
        return 1;
      }
      std::cout << *port << "\n";
      return 0;
    }
    if (arg == "--no-probe") {
      options.probe = false;
      continue;
    }
    if (i + 1 >= argc) return usage_error(absl::StrCat(arg, " needs a value"));
    const std::string value = argv[++i];
    bool ok = true;
    if (arg == "--mode") {
      mode = value;
    } else if (arg == "--target") {
      target = value;
    } else if (arg == "--conns") {
      ok = absl::SimpleAtoi(value, &conns) && conns > 0;
    } else if (arg == "--size") {
      ok = absl::SimpleAtoi(value, &size) && size > 0;
    } else if (arg == "--warmup") {
      ok = ParseSeconds(value, &options.warmup);
    } else if (arg == "--duration") {
      ok = ParseSeconds(value, &options.duration);
    } else if (arg == "--timeout") {
      ok = ParseSeconds(value, &options.op_timeout) && options.op_timeout > absl::ZeroDuration();
    } else if (arg == "--max-runtime") {
      ok = ParseSeconds(value, &options.max_runtime) && options.max_runtime > absl::ZeroDuration();
      max_runtime_set = true;
    } else if (arg == "--max-count") {
      ok = absl::SimpleAtoi(value, &options.max_count);
    } else if (arg == "--server-pid") {
      ok = absl::SimpleAtoi(value, &options.server_pid) && options.server_pid >= 0;
    } else if (arg == "--sources") {
      ok = absl::SimpleAtoi(value, &options.sources) && options.sources >= 1;
    } else if (arg == "--concurrency") {
      ok = absl::SimpleAtoi(value, &options.connect_concurrency) &&
           options.connect_concurrency >= 1;
    } else if (arg == "--label") {
      label = value;
    } else if (arg == "--tag") {
      const std::size_t eq = value.find('=');
      ok = eq != std::string::npos && eq > 0;
      if (ok) tags.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else {
      return usage_error(absl::StrCat("unknown argument \"", arg, "\""));
    }
    if (!ok) return usage_error(absl::StrCat("bad value \"", value, "\" for ", arg));
  }
  if (mode == "pingpong") {
    options.mode = LoadMode::kPingPong;
  } else if (mode == "connrate") {
    options.mode = LoadMode::kConnRate;
  } else if (mode == "idle") {
    options.mode = LoadMode::kIdle;
  } else if (mode == "bulk") {
    options.mode = LoadMode::kBulk;
  } else {
    return usage_error("--mode must be pingpong, connrate, idle or bulk");
  }
  if (target.empty()) return usage_error("--target is required");
  absl::StatusOr<weft::bench::SocketAddress> address = weft::bench::ParseLoopbackTarget(target);
  if (!address.ok()) {
    std::cerr << "weft-load: " << address.status().message() << "\n";
    return 2;
  }
  options.target = *address;
  switch (options.mode) {
    case LoadMode::kPingPong:
      options.conns = conns > 0 ? conns : 64;
      break;
    case LoadMode::kConnRate:
      options.conns = conns > 0 ? conns : 32;
      break;
    case LoadMode::kIdle:
      options.conns = conns > 0 ? conns : 10000;
      options.warmup = absl::ZeroDuration();
      break;
    case LoadMode::kBulk:
      options.conns = conns > 0 ? conns : 1;
      break;
  }
  options.size = size > 0 ? static_cast<std::size_t>(size)
                          : (options.mode == LoadMode::kBulk ? 65536 : 64);
  if (!max_runtime_set) {
    options.max_runtime = options.warmup + options.duration + absl::Seconds(60);
  }

  // Our own process: a peer that vanishes must show up as EPIPE, not kill the run.
  ::signal(SIGPIPE, SIG_IGN);
  const std::uint64_t fd_limit = weft::bench::RaiseFdLimit();

  absl::StatusOr<weft::bench::Report> report = weft::bench::RunLoad(options);
  if (!report.ok()) {
    std::cerr << "weft-load: " << report.status().message() << "\n";
    return 2;
  }
  if (!label.empty()) report->json.Set("label", label);
  for (const auto& [key, value] : tags) report->json.Set(key, value);
  report->json.Set("fd_limit", fd_limit);
  std::cout << report->json.ToString() << std::endl;
  std::cerr << (label.empty() ? "" : label + ": ") << report->human << "\n";
  return report->clean ? 0 : 1;
}

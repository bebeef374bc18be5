// The load generator's modes. Each runs one bounded, single-threaded epoll loop against an echo
// server on loopback and returns a Report: one JSON record plus a human summary.
//
// Every mode is bounded: in time (warm-up + duration, or `max_runtime` at the outside, after
// which it aborts and reports what it has), in connections (`conns`), and optionally in count
// (`max_messages`). Every echoed byte is compared with what was sent.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/common/json_line.h"
#include "bench/load/net.h"

namespace weft::bench {

enum class LoadMode { kPingPong, kConnRate, kIdle, kBulk };

// LoadModeName returns "pingpong", "connrate", "idle" or "bulk".
const char* LoadModeName(LoadMode mode);

struct LoadOptions {
  LoadMode mode = LoadMode::kPingPong;
  SocketAddress target;
  // pingpong: connections each with one message in flight. connrate: concurrent
  // connect→echo→close loops. idle: connections to open and hold. bulk: streaming connections.
  int conns = 64;
  // pingpong/connrate/idle: bytes per message. bulk: bytes per write.
  std::size_t size = 64;
  // Results cover only the `duration` after `warmup`. idle: how long the connections are held.
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(5);
  // A connect, or a message's full echo, that takes longer counts as a timeout.
  absl::Duration op_timeout = absl::Seconds(3);
  // Hard cap on the whole run (connection set-up included); the run aborts past it.
  absl::Duration max_runtime = absl::Seconds(120);
  // Stop after this many measured messages (pingpong) or connections (connrate); 0 = no cap.
  std::uint64_t max_count = 0;
  // The server's pid, to sample its CPU (all modes) and RSS/threads (idle); 0 = none.
  pid_t server_pid = 0;
  // Source addresses 127.0.0.1..N to start with (grows on EADDRNOTAVAIL).
  int sources = 1;
  // idle: connections being set up at once.
  int connect_concurrency = 256;
  // idle: send a probe and wait for its echo on each connection after connecting (and again
  // after the hold). Off: a connection counts once the TCP handshake completes.
  bool probe = true;
};

// Report: what a run measured.
struct Report {
  JsonLine json;
  std::string human;
  // False if any error was counted (mismatch, reset, refused, timeout...) or the run aborted.
  bool clean = true;
};

// RunLoad runs `options.mode`. Returns INVALID_ARGUMENT for impossible options and
// RESOURCE_EXHAUSTED when the descriptor limit cannot hold `conns` connections; environment
// failures during the run (refused, reset, timeouts) are counted in the report, not returned.
absl::StatusOr<Report> RunLoad(const LoadOptions& options);

// Per-mode entry points (RunLoad dispatches to them).
absl::StatusOr<Report> RunPingPong(const LoadOptions& options);
absl::StatusOr<Report> RunConnRate(const LoadOptions& options);
absl::StatusOr<Report> RunIdle(const LoadOptions& options);
absl::StatusOr<Report> RunBulk(const LoadOptions& options);

}  // namespace weft::bench

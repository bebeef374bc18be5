// weftd's hand-off wired to its Daemon: the predecessor's HandoffServer and the successor's
// takeover, as weftd's main runs them (control/daemon/main.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/daemon/daemon.h"
#include "control/daemon/handoff/handoff_server.h"
#include "control/daemon/handoff/takeover.h"
#include "weft/base/signal_fd.h"
#include "weft/config/v1/config.pb.h"

namespace weft::control {

// ProcessIdentity: what a hand-off tells the other process about this one.
struct ProcessIdentity {
  absl::Time start_time;
  // 1 for a process started fresh; the predecessor's plus one after a takeover.
  std::uint64_t generation = 1;
};

// How long a successor waits for each answer of its predecessor.
inline constexpr absl::Duration kTakeoverTimeout = absl::Seconds(30);
// How long a successor whose predecessor died mid-way retries to listen on the hand-off path.
inline constexpr absl::Duration kDeadPredecessorGrace = absl::Seconds(5);

// StartHandoffServer serves takeovers of `daemon` on the config's handoff.path; nullptr without
// a handoff block. `handed_off` is notified once a successor is fully up (this process should
// then Drain(kHandedOff) and exit). The daemon and `handed_off` must outlive the server; the
// server's thread calls the daemon's hand-off methods, so stop the server (HandoffServer::Stop)
// before Drain or Stop. Errors: those of HandoffServer::Start.
absl::StatusOr<std::unique_ptr<HandoffServer>> StartHandoffServer(const config::v1::Config& config,
                                                                  Daemon* daemon,
                                                                  ProcessIdentity identity,
                                                                  WakeFd* handed_off);

// FinishTakeover is the successor's side once its daemon serves what it adopted: Complete (the
// predecessor stops accepting there and frees the hand-off path), start serving takeovers of
// its own (StartHandoffServer), then Done (the predecessor drains). A predecessor that dies
// meanwhile is logged, not an error: this process serves alone (retrying for
// kDeadPredecessorGrace to listen on the path, and serving without a hand-off socket — nullptr —
// should that fail). Errors: those of StartHandoffServer after a complete hand-off (the
// predecessor, not yet told Done, takes its sockets back when this process exits).
absl::StatusOr<std::unique_ptr<HandoffServer>> FinishTakeover(Takeover& takeover,
                                                              const config::v1::Config& config,
                                                              Daemon* daemon,
                                                              ProcessIdentity identity,
                                                              WakeFd* handed_off);

}  // namespace weft::control

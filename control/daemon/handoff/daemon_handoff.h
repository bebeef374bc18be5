// weftd's hand-off wired to its Daemon: the predecessor's HandoffServer and the successor's
// takeover, as weftd's main runs them (control/daemon/main.cc). Both keep the daemon's
// ProcessInfo up to date, so that GetProcess (`weftctl process`) shows the peer.
#pragma once

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/daemon/daemon.h"
#include "control/daemon/handoff/handoff_server.h"
#include "control/daemon/handoff/takeover.h"
#include "control/process_info.h"
#include "weft/base/signal_fd.h"
#include "weft/config/v1/config.pb.h"

namespace weft::control {

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
                                                                  WakeFd* handed_off);

// FinishTakeover is the successor's side once its daemon serves what it adopted (generation
// set): Complete (the predecessor stops accepting there and frees the hand-off path), start
// serving takeovers of its own (StartHandoffServer), then Done (the predecessor drains, and is
// recorded as this process's draining predecessor). A predecessor that dies meanwhile is
// logged, not an error: this process serves alone (retrying for kDeadPredecessorGrace to
// listen on the path, and serving without a hand-off socket — nullptr — should that fail).
// Errors: those of StartHandoffServer after a complete hand-off (the predecessor, not yet told
// Done, takes its sockets back when this process exits).
absl::StatusOr<std::unique_ptr<HandoffServer>> FinishTakeover(Takeover& takeover,
                                                              const config::v1::Config& config,
                                                              Daemon* daemon, WakeFd* handed_off);

// PredecessorWatch forgets the predecessor (ProcessInfo::clear_peer) once it has exited, on a
// thread of its own that the destructor wakes and joins. Borrows both, which must outlive it.
class PredecessorWatch {
 public:
  PredecessorWatch(Takeover* takeover, ProcessInfo* process_info);
  ~PredecessorWatch();
  PredecessorWatch(const PredecessorWatch&) = delete;
  PredecessorWatch& operator=(const PredecessorWatch&) = delete;

 private:
  WakeFd stop_;
  std::thread thread_;
};

}  // namespace weft::control

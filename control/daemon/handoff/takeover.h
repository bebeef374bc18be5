// Takeover: the successor's side of weftd's hand-off (proto/weft/control/v1/handoff.proto):
// `weftd --config NEW --takeover=PATH` takes the listening sockets of the weftd listening on
// PATH, serves them, and lets that process drain.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/daemon/handoff/handoff_channel.h"
#include "control/daemon/inherited_sockets.h"
#include "weft/config/v1/config.pb.h"
#include "weft/control/v1/handoff.pb.h"

namespace weft::control {

// Takeover: one thread at a time. Begin, Adopt, Complete, Done in that order; then
// WaitForPredecessorExit, on a thread of its own if wanted.
class Takeover {
 public:
  // Begin connects to the hand-off socket at `path` and receives the predecessor's offer.
  // Errors: those of HandoffChannel::Connect (UNAVAILABLE nobody listens, PERMISSION_DENIED
  // another user); FAILED_PRECONDITION with the predecessor's reason when it refuses (another
  // takeover in progress); DEADLINE_EXCEEDED after `timeout`; DATA_LOSS for a malformed offer.
  static absl::StatusOr<std::unique_ptr<Takeover>> Begin(const std::string& path,
                                                         absl::Duration timeout);

  const v1::HandoffOffer& offer() const { return offer_; }
  pid_t predecessor() const { return static_cast<pid_t>(offer_.pid()); }

  // Adopt matches the offered sockets to `config`: a listener by name and address (port 0
  // matches any port), the control plane and the admin endpoint by address. What matches is
  // returned for Daemon::Create; the rest is closed (logged: those listeners bind afresh, the
  // predecessor drains the old ones).
  InheritedSockets Adopt(const config::v1::Config& config);

  // Complete tells the predecessor that this process serves what it adopted (call once it
  // does: after Daemon::Start) and waits for it to stop accepting there and free the hand-off
  // path. `pid`, `start_time` and `generation` describe this process. Errors: UNAVAILABLE when
  // the predecessor died meanwhile (this process then serves alone: nothing is lost),
  // DEADLINE_EXCEEDED, DATA_LOSS.
  absl::Status Complete(absl::Time start_time, std::uint64_t generation, absl::Duration timeout);

  // Done tells the predecessor that this process is fully up (listening on the hand-off path
  // itself): it drains and exits. Errors: UNAVAILABLE (it is gone already).
  absl::Status Done();

  // WaitForPredecessorExit blocks until the predecessor's end of the connection closes (it
  // exited) or `wake` is readable; true in the first case.
  bool WaitForPredecessorExit(int wake);

 private:
  explicit Takeover(HandoffChannel channel, v1::HandoffOffer offer, std::vector<UniqueFd> fds)
      : channel_(std::move(channel)), offer_(std::move(offer)), fds_(std::move(fds)) {}

  HandoffChannel channel_;
  v1::HandoffOffer offer_;
  // The offered descriptors, in the offer's order; Adopt moves out what it takes.
  std::vector<UniqueFd> fds_;
  v1::HandoffReady ready_;
};

}  // namespace weft::control

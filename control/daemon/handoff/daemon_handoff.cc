#include "control/daemon/handoff/daemon_handoff.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include <glog/logging.h>

#include "absl/time/clock.h"
#include "weft/base/proto_time.h"

namespace weft::control {

absl::StatusOr<std::unique_ptr<HandoffServer>> StartHandoffServer(const config::v1::Config& config,
                                                                  Daemon* daemon,
                                                                  ProcessIdentity identity,
                                                                  WakeFd* handed_off) {
  if (!config.has_handoff()) return nullptr;
  HandoffParticipant participant{
      .offer =
          [daemon, identity](std::vector<UniqueFd>* fds) {
            v1::HandoffOffer offer = daemon->OfferSockets(fds);
            offer.set_pid(::getpid());
            *offer.mutable_start_time() = TimeToProto(identity.start_time);
            offer.set_generation(identity.generation);
            return offer;
          },
      .release = [daemon](const v1::HandoffReady& ready) { daemon->ReleaseSockets(ready); },
      .resume = [daemon] { daemon->ResumeSockets(); },
      .done = [handed_off](const v1::HandoffReady&) { handed_off->Notify(); },
  };
  return HandoffServer::Start(HandoffServerOptions{.path = config.handoff().path()},
                              std::move(participant));
}

absl::StatusOr<std::unique_ptr<HandoffServer>> FinishTakeover(Takeover& takeover,
                                                              const config::v1::Config& config,
                                                              Daemon* daemon,
                                                              ProcessIdentity identity,
                                                              WakeFd* handed_off) {
  const absl::Status completed =
      takeover.Complete(identity.start_time, identity.generation, kTakeoverTimeout);
  if (absl::IsUnavailable(completed)) {
    LOG(WARNING) << "takeover: the predecessor (pid " << takeover.predecessor()
                 << ") died during the hand-off; serving alone";
  } else if (!completed.ok()) {
    LOG(WARNING) << "takeover: " << completed << "; serving (the predecessor may still accept)";
  }
  absl::StatusOr<std::unique_ptr<HandoffServer>> server =
      StartHandoffServer(config, daemon, identity, handed_off);
  if (!completed.ok()) {
    // The predecessor is gone or going, and this process holds every listener now: never fail.
    // Its hand-off socket may outlive its connection for a moment.
    const absl::Time deadline = absl::Now() + kDeadPredecessorGrace;
    while (!server.ok() && absl::IsUnavailable(server.status()) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      server = StartHandoffServer(config, daemon, identity, handed_off);
    }
    if (!server.ok()) {
      LOG(ERROR) << "takeover: " << server.status()
                 << "; serving without a hand-off socket (this process cannot be taken over)";
      return nullptr;
    }
    return server;
  }
  if (!server.ok()) return server.status();
  if (absl::Status done = takeover.Done(); !done.ok()) {
    LOG(WARNING) << "takeover: the predecessor (pid " << takeover.predecessor()
                 << ") is gone: " << done;
  } else {
    LOG(INFO) << "takeover from pid " << takeover.predecessor() << " (generation "
              << takeover.offer().generation() << ") complete; it drains";
  }
  return server;
}

}  // namespace weft::control

#include "control/daemon/handoff/daemon_handoff.h"

#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "weft/base/log.h"
#include "weft/base/proto_time.h"

namespace weft::control {

absl::StatusOr<std::unique_ptr<HandoffServer>> StartHandoffServer(const config::v1::Config& config,
                                                                  Daemon* daemon,
                                                                  WakeFd* handed_off) {
  if (!config.has_handoff()) return nullptr;
  ProcessInfo* info = &daemon->process_info();
  HandoffParticipant participant{
      .offer =
          [daemon, info](std::vector<UniqueFd>* fds) {
            v1::HandoffOffer offer = daemon->OfferSockets(fds);
            const ProcessSnapshot self = info->Snapshot();
            offer.set_pid(self.pid);
            *offer.mutable_start_time() = TimeToProto(self.start_time);
            offer.set_generation(self.generation);
            return offer;
          },
      .release =
          [daemon, info](const v1::HandoffReady& ready) {
            daemon->ReleaseSockets(ready);
            info->set_peer(ProcessPeer{.role = ProcessPeer::kSuccessor,
                                       .pid = static_cast<pid_t>(ready.pid()),
                                       .start_time = TimeFromProto(ready.start_time()),
                                       .generation = ready.generation()});
          },
      .resume =
          [daemon, info] {
            daemon->ResumeSockets();
            info->clear_peer();
          },
      .done = [handed_off](const v1::HandoffReady&) { handed_off->Notify(); },
  };
  return HandoffServer::Start(HandoffServerOptions{.path = config.handoff().path()},
                              std::move(participant));
}

absl::StatusOr<std::unique_ptr<HandoffServer>> FinishTakeover(Takeover& takeover,
                                                              const config::v1::Config& config,
                                                              Daemon* daemon, WakeFd* handed_off) {
  ProcessInfo& info = daemon->process_info();
  const ProcessSnapshot self = info.Snapshot();
  const absl::Status completed =
      takeover.Complete(self.start_time, self.generation, kTakeoverTimeout);
  if (absl::IsUnavailable(completed)) {
    LOG(WARNING) << "takeover: the predecessor (pid " << takeover.predecessor()
                 << ") died during the hand-off; serving alone";
  } else if (!completed.ok()) {
    LOG(WARNING) << "takeover: " << completed << "; serving (the predecessor may still accept)";
  }
  absl::StatusOr<std::unique_ptr<HandoffServer>> server =
      StartHandoffServer(config, daemon, handed_off);
  if (!completed.ok()) {
    // The predecessor is gone or going, and this process holds every listener now: never fail.
    // Its hand-off socket may outlive its connection for a moment.
    const absl::Time deadline = absl::Now() + kDeadPredecessorGrace;
    while (!server.ok() && absl::IsUnavailable(server.status()) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      server = StartHandoffServer(config, daemon, handed_off);
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
    return server;
  }
  const v1::HandoffOffer& offer = takeover.offer();
  info.set_peer(ProcessPeer{.role = ProcessPeer::kPredecessor,
                            .pid = takeover.predecessor(),
                            .start_time = TimeFromProto(offer.start_time()),
                            .generation = offer.generation(),
                            .draining = true});
  LOG(INFO) << "takeover from pid " << takeover.predecessor() << " (generation "
            << offer.generation() << ") complete; it drains";
  return server;
}

PredecessorWatch::PredecessorWatch(Takeover* takeover, ProcessInfo* process_info) {
  thread_ = std::thread([this, takeover, process_info] {
    if (!takeover->WaitForPredecessorExit(stop_.fd())) return;
    const ProcessSnapshot self = process_info->Snapshot();
    if (self.peer.has_value() && self.peer->role == ProcessPeer::kPredecessor) {
      process_info->clear_peer();
      LOG(INFO) << "the predecessor (pid " << takeover->predecessor() << ") has exited";
    }
  });
}

PredecessorWatch::~PredecessorWatch() {
  stop_.Notify();
  thread_.join();
}

}  // namespace weft::control

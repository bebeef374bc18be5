// HandoffServer: the predecessor's side of weftd's hand-off (proto/weft/control/v1/
// handoff.proto). It listens on the config's handoff path (a unix SOCK_SEQPACKET socket, 0600)
// and serves one takeover at a time: offer the listening sockets, release them once the
// successor serves them, and take them back should the successor go away before it is done.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/daemon/handoff/handoff_channel.h"
#include "weft/base/signal_fd.h"
#include "weft/control/v1/handoff.pb.h"
#include "weft/unique_fd.h"

namespace weft::control {

// HandoffParticipant: what the process being replaced does at each step. Every callback runs on
// the HandoffServer's thread, one at a time.
struct HandoffParticipant {
  // offer describes the listening sockets (pid, start time and generation included) and
  // appends a duplicate descriptor of each to `fds`, in order (Daemon::OfferSockets).
  std::function<v1::HandoffOffer(std::vector<UniqueFd>* fds)> offer;
  // release stops accepting on what the successor took, leaving it listening.
  std::function<void(const v1::HandoffReady& ready)> release;
  // resume takes released sockets back: the successor went away before it was done.
  std::function<void()> resume;
  // done: the successor is fully up; the process should now drain and exit. Called once.
  std::function<void(const v1::HandoffReady& ready)> done;
};

struct HandoffServerOptions {
  // The unix socket's path (config handoff.path).
  std::string path;
  // How long a successor has, after the offer, to serve the sockets and say ready.
  absl::Duration ready_timeout = absl::Seconds(60);
  // How long it has, after the release, to say done.
  absl::Duration done_timeout = absl::Seconds(30);
};

// HandoffServer: thread-safe. Serves on a thread of its own, joined by Stop.
class HandoffServer {
 public:
  // Start listens on options.path (mode 0600; a socket file nobody answers on is replaced) and
  // starts the thread. Errors: those of ListenUnix (INVALID_ARGUMENT path, UNAVAILABLE another
  // process listens there, FAILED_PRECONDITION not a socket); others from errno;
  // RESOURCE_EXHAUSTED when no eventfd can be made for the thread's wake-up.
  static absl::StatusOr<std::unique_ptr<HandoffServer>> Start(HandoffServerOptions options,
                                                              HandoffParticipant participant);
  ~HandoffServer();  // Stop()
  HandoffServer(const HandoffServer&) = delete;
  HandoffServer& operator=(const HandoffServer&) = delete;

  // Stop ends the thread: a takeover not yet released is abandoned (its connection closed: the
  // successor fails and exits), one released but not done is left to the successor (this process
  // is stopping anyway). Removes the socket file if this process still listens there. Blocks
  // until the thread has exited; idempotent.
  void Stop();

 private:
  class Loop;
  explicit HandoffServer(std::unique_ptr<Loop> loop);

  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace weft::control

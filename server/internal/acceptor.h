// Internal header: do not include from outside the weft library and its tests.
//
// Acceptor: the accept loop of one listening socket, with a wake-up for stopping and
// descriptor-exhaustion handling that neither spins nor aborts.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "weft/base/sync.h"
#include "weft/endpoint.h"
#include "weft/unique_fd.h"

namespace weft::internal {

// Acceptor: Loop runs on one thread; Stop is thread-safe.
class Acceptor {
 public:
  // OnAccept receives each accepted connection (non-blocking, close-on-exec).
  using OnAccept = std::function<void(UniqueFd fd, Endpoint peer)>;
  // OnShed is told of a connection accepted and closed at once because descriptors ran out.
  using OnShed = std::function<void(Endpoint peer)>;

  // StopMode: what Stop does to the listening socket.
  enum class StopMode {
    // Shut it down: pending and new connects are refused (or, with SO_REUSEPORT, go to the
    // group's other listeners).
    kShutDown,
    // Leave it listening, for the other holders of the socket (systemd; a successor process
    // it was handed to), which go on accepting from its queue.
    kLeaveListening,
  };

  // Create takes the listening socket. Errors: the wake-up eventfd cannot be created.
  static absl::StatusOr<std::unique_ptr<Acceptor>> Create(UniqueFd listen_fd, OnAccept on_accept,
                                                          OnShed on_shed);
  ~Acceptor();

  // Loop accepts until Stop is called, calling `after_batch` after each wake-up. On EMFILE or
  // ENFILE it sheds pending connections (accept and close) with a reserved descriptor; if the
  // reserve is gone too it backs off (10 ms doubling to 200 ms) instead of spinning, retrying
  // the reserve each time. Transient errors are retried. A connection accepted into the last
  // 1/8 of RLIMIT_NOFILE (8 to 64 descriptors) is shed too, so that the rest of the process
  // (weftd's gRPC control plane, whose listener dies on EMFILE) always has descriptors left.
  void Loop(absl::FunctionRef<void()> after_batch);

  // Stop wakes Loop for good and, with kShutDown, shuts the listening socket down (new
  // connects are refused from now on). Never blocks; only the first call acts. The descriptor
  // is closed when the Acceptor is destroyed.
  void Stop(StopMode mode);

  int listen_fd() const { return listen_fd_.get(); }

 private:
  Acceptor(UniqueFd listen_fd, UniqueFd wake_fd, OnAccept on_accept, OnShed on_shed);
  enum class ShedResult { kShed, kNothingPending, kNoReserve };
  // ShedOne accepts and closes one pending connection using the reserve descriptor.
  ShedResult ShedOne();

  UniqueFd listen_fd_;
  UniqueFd wake_fd_;
  UniqueFd reserve_fd_;  // Confined to the Loop thread.
  const OnAccept on_accept_;
  const OnShed on_shed_;
  std::atomic<bool> stopping_{false};
};

// DescriptorReserveMutex: held by the acceptor while it briefly frees its reserve descriptor
// to shed a connection under EMFILE, and by Weft's own descriptor allocations on task threads,
// so that they cannot take that slot and leave the acceptor without a reserve.
Mutex& DescriptorReserveMutex();

}  // namespace weft::internal

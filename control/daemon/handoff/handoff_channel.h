// HandoffChannel: one connection of weftd's hand-off protocol (proto/weft/control/v1/
// handoff.proto): whole HandoffMessage records over a unix SOCK_SEQPACKET socket, with listening
// sockets attached as SCM_RIGHTS, and the peer's credentials.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/control/v1/handoff.pb.h"
#include "weft/unique_fd.h"

namespace weft::control {

// HandoffRecord: one received message and the descriptors that came with it (close-on-exec).
struct HandoffRecord {
  v1::HandoffMessage message;
  std::vector<UniqueFd> fds;
};

// HandoffChannel: not thread-safe; one thread uses it at a time. Owns its socket.
class HandoffChannel {
 public:
  // Most descriptors one record carries.
  static constexpr int kMaxDescriptors = 250;
  // Largest record, bytes.
  static constexpr std::size_t kMaxRecordBytes = 64 * 1024;

  // Connect connects to the hand-off socket at `path` and checks that the process listening
  // there runs as this process's effective user. Errors: INVALID_ARGUMENT (path too long),
  // UNAVAILABLE (nobody listens there: no such file, refused), PERMISSION_DENIED (the socket's
  // mode forbids it, or its process runs as another user; the message gives both uids).
  static absl::StatusOr<HandoffChannel> Connect(const std::string& path);

  explicit HandoffChannel(UniqueFd socket) : socket_(std::move(socket)) {}

  // Send writes `message` as one record with `fds` attached (at most kMaxDescriptors; the
  // descriptors stay the caller's). Errors: UNAVAILABLE (the peer hung up), RESOURCE_EXHAUSTED
  // (too large), others from errno.
  absl::Status Send(const v1::HandoffMessage& message, const std::vector<int>& fds = {});

  // Receive waits for the next record until `deadline`, or until `wake` (an eventfd or pipe; -1
  // for none) is readable. Errors: DEADLINE_EXCEEDED, CANCELLED (woken), UNAVAILABLE (the peer
  // hung up or died), DATA_LOSS (a record that does not parse, or was truncated: its
  // descriptors are closed), others from errno.
  absl::StatusOr<HandoffRecord> Receive(absl::Time deadline, int wake = -1);

  // PeerUid and PeerPid: the peer's credentials (SO_PEERCRED) as of its connect. Errors from
  // errno.
  absl::StatusOr<uid_t> PeerUid() const;
  absl::StatusOr<pid_t> PeerPid() const;

  int fd() const { return socket_.get(); }

 private:
  UniqueFd socket_;
};

}  // namespace weft::control

// weftd's side of systemd: the listening sockets of socket activation (sd_listen_fds), and the
// readiness and stopping notifications of Type=notify (sd_notify). Outside systemd there are no
// sockets to take and nothing to notify.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/daemon/inherited_sockets.h"
#include "weft/config/v1/config.pb.h"

namespace weft::control {

// TakeActivatedSockets takes the sockets systemd passed (LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES; removed from the environment, so that nothing weftd starts inherits them)
// and matches each to the listener of `config` it is named after (FileDescriptorName= in the
// socket unit). A socket must be a listening TCP socket bound to the address its listener would
// bind (the listener's address resolved as weft::ListenTcp does) and to its port, any port for
// a listener with port 0. Logs each listener it matches. Returns an empty map when weftd was
// not socket-activated.
// Errors: INVALID_ARGUMENT — a socket named after no listener, two sockets of one name, a
// socket that is not a listening TCP socket, or one bound elsewhere than its listener (the
// message names the socket and says what it found); FAILED_PRECONDITION when the environment
// variables are malformed. On error every passed descriptor is closed.
// Call once, before weftd starts threads (it changes the environment).
[[nodiscard]] absl::StatusOr<InheritedSockets> TakeActivatedSockets(
    const config::v1::Config& config);

// NotifyReady tells systemd that weftd is ready (READY=1), with `status` as the status line
// `systemctl status` shows. NotifyStopping tells it that weftd has begun to stop (STOPPING=1).
// Both send to $NOTIFY_SOCKET and do nothing without it; a failure to send is logged, never
// fatal. Thread-safe.
void NotifyReady(absl::string_view status);
void NotifyStopping();

}  // namespace weft::control

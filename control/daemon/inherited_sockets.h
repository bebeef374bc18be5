// InheritedSockets: listening sockets weftd did not bind itself — passed by systemd (socket
// activation) or handed over by a predecessor weftd — and how they are matched to the
// configuration: listeners by name and address, the control plane and admin endpoint by
// address.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "weft/config/v1/config.pb.h"
#include "weft/endpoint.h"
#include "weft/unique_fd.h"

namespace weft::control {

// InheritedSocket: one listening socket and whether another holder keeps it listening (systemd:
// weftd must never shut it down; see ServerOptions::listen_socket_shared).
struct InheritedSocket {
  UniqueFd fd;
  bool shared = false;
};

// InheritedSockets: what Daemon::Create adopts instead of binding. Empty members = bind.
struct InheritedSockets {
  // Listener name -> its socket.
  std::map<std::string, InheritedSocket> listeners;
  // The control plane's and the admin endpoint's public sockets.
  UniqueFd control;
  UniqueFd admin;
};

// MatchListenerSocket checks that `socket`, passed under `name` by `source` ("socket
// activation", "hand-off"), is a listening TCP socket bound to the address `listener` would
// bind (its address resolved as weft::ListenTcp does; default 127.0.0.1) and to its port, any
// port for a listener with port 0. Returns where it listens. Errors: INVALID_ARGUMENT naming the
// socket and saying what it found. Thread-safe.
absl::StatusOr<Endpoint> MatchListenerSocket(const std::string& source, const std::string& name,
                                             int socket, const config::v1::Listener& listener);

// SocketListensOn is true when `socket` is a listening socket bound to `address` — "HOST:PORT"
// (PORT 0: any port; HOST resolved as ListenTcp does) or "unix:/path" — as the control plane
// and admin endpoint addresses are written. False for anything else or a malformed address.
// Thread-safe.
bool SocketListensOn(int socket, const std::string& address);

// ListeningAddress renders where `socket` is bound, in the form SocketListensOn reads:
// "HOST:PORT", "[V6]:PORT" or "unix:/path"; "?" when getsockname fails. Thread-safe.
std::string ListeningAddress(int socket);

}  // namespace weft::control

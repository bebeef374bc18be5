// ControlGateway: the control plane's public endpoint. gRPC never listens where clients can
// reach it: it listens on a private unix socket (the "backend", in a 0700 directory), and the
// gateway accepts every control connection itself and relays its bytes — plaintext or TLS,
// untouched — to a connection of its own to that backend.
//
// Why: gRPC 1.51's listener stops accepting for good after one EMFILE (grpc/grpc #16058, #20418,
// #31080), and it has no connection cap, so a flood of control connections (or a data-plane
// flood that uses up the process's descriptors) locked the operator out. The gateway
//   - caps control connections (max_connections). At the cap a new connection evicts the
//     oldest connection that has sent nothing for silent_grace (an idle raw-TCP flood), or else
//     the least recently active one among those older than min_age (stalled handshakes,
//     clients that stopped reading, floods of busy connections); if none qualifies — every
//     connection is younger than min_age — the new one is refused (closed). So every connection
//     that speaks gets min_age to make its calls, and under any flood a legitimate client (which
//     sends its preface or TLS ClientHello at once) finds a slot within about min_age;
//   - so bounds its descriptors: kDescriptorsPerConnection per connection (client socket, the
//     relay's backend socket, and gRPC's end of it), which weftd keeps in its descriptor
//     reserve, so neither the gateway nor gRPC ever meet EMFILE;
//   - bounds memory: buffer_bytes per direction per connection; a side that does not read is
//     not read for (TCP and HTTP/2 flow control push back to the sender);
//   - leaves timeouts of the protocol to gRPC, which sees every connection: the handshake
//     timeout (TLS handshake and HTTP/2 preface), keepalive and max idle (GRPC_ARG_* set by
//     ControlPlane).
// Should accept(2) still fail with EMFILE (descriptors used by something outside the budget),
// the gateway backs off for kAcceptBackoff and tries again; it never stops listening.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/base/sync.h"
#include "weft/unique_fd.h"

namespace weft::control {

struct ControlGatewayOptions {
  // The endpoint's name in messages and logs: "control", "admin".
  std::string name = "control";
  // The public address: "HOST:PORT" (PORT may be 0; IPv6 hosts in brackets) or "unix:/path".
  // A socket file at the unix path is replaced only if nobody listens on it.
  std::string address;
  // A listening socket for `address` to accept from instead of binding it: one handed over by
  // a predecessor process (weftd's hand-off). Empty = bind. The gateway checks only that it
  // listens; the caller matched it to the address.
  UniqueFd listen_socket;
  // The backend: the path of the unix socket gRPC listens on. Exactly one of backend_path and
  // backend_port is set.
  std::string backend_path;
  // Or a backend on TCP 127.0.0.1:backend_port, for a server that cannot listen on a unix socket
  // (the admin endpoint's HTTP library). Its connect completes asynchronously: what the client
  // sends meanwhile is buffered; a refused connect ends that connection.
  std::uint16_t backend_port = 0;
  // Most control connections open at once (>= 1).
  std::size_t max_connections = 64;
  // At the cap, a connection that has sent nothing for this long may be replaced first.
  absl::Duration silent_grace = absl::Milliseconds(100);
  // At the cap, else the least recently active connection older than this may be replaced.
  absl::Duration min_age = absl::Milliseconds(500);
  // Bytes buffered per direction per connection.
  std::size_t buffer_bytes = 64 * 1024;
};

// ControlGatewayStats: counts since Start.
struct ControlGatewayStats {
  std::uint64_t accepted = 0;  // Connections relayed to the backend.
  std::uint64_t evicted = 0;   // Connections closed to make room for a new one.
  std::uint64_t refused = 0;   // New connections closed at once: at the cap, none replaceable.
  std::uint64_t backend_failed = 0;  // New connections closed: the backend did not take them.
  std::uint64_t accept_failed = 0;   // accept(2) failures on descriptors or memory (backed off).
  std::size_t open = 0;              // Connections open now.
};

// ControlGateway: thread-safe. One thread of its own runs the accept and relay loop (epoll).
class ControlGateway {
 public:
  // Descriptors one control connection costs the process while open.
  static constexpr std::size_t kDescriptorsPerConnection = 3;
  static constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

  // Start binds the public address and starts the loop. Errors: INVALID_ARGUMENT (malformed
  // address, max_connections or buffer_bytes 0, empty backend path), UNAVAILABLE (in use —
  // for a unix path, another process answers on it — or not local), PERMISSION_DENIED, others
  // from errno. Nothing is left open on error.
  static absl::StatusOr<std::unique_ptr<ControlGateway>> Start(ControlGatewayOptions options);
  ~ControlGateway();  // Stop()
  ControlGateway(const ControlGateway&) = delete;
  ControlGateway& operator=(const ControlGateway&) = delete;

  // port: the bound TCP port; 0 for a unix address.
  int port() const { return port_; }

  // listen_fd: the listening descriptor, for a hand-off to a successor (which duplicates it).
  // Valid until Stop.
  int listen_fd() const;

  // ReleaseListener stops accepting without shutting the listening socket down, so that a
  // successor holding it goes on accepting from its queue; connections open now are relayed
  // as before. A connection the loop was already told of may still be accepted. A unix
  // socket's file is no longer removed at Stop (it is the successor's). ResumeListener undoes
  // it (the successor died). Both thread-safe; idempotent.
  void ReleaseListener();
  void ResumeListener();

  // Stop closes the listener and every connection, joins the loop thread and removes a unix
  // socket file; the first call blocks until the loop has exited, later ones return at once.
  void Stop();

  ControlGatewayStats stats() const;

  // WaitUntilIdle blocks until no connection is open or `deadline` passes; returns whether none
  // is. After ReleaseListener it lets the requests in flight finish before Stop, which would
  // cut them. Thread-safe.
  bool WaitUntilIdle(absl::Time deadline) const;

  // ClientAddress returns the address of the client behind a backend connection, given gRPC's
  // name for that connection's peer (ServerContext::peer(), "unix-abstract:weft-gateway-...":
  // each relay connects to a unix backend from an abstract address of its own), as gRPC would
  // name the client had it connected directly: "ipv4:10.0.0.5:41234", "ipv6:[::1]:41234"; for a
  // unix public address, the client's credentials, "unix:pid=42,uid=1000". Returns
  // `backend_peer` unchanged when it is not an open relay of this gateway (a TCP backend, a
  // relay closed meanwhile, an in-process call). Thread-safe.
  std::string ClientAddress(const std::string& backend_peer) const;

 private:
  class Loop;
  ControlGateway(std::unique_ptr<Loop> loop, int port, std::string unix_path);

  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  const int port_;
  const std::string unix_path_;
  std::atomic<bool> stopped_{false};
  // Serialises ReleaseListener and ResumeListener.
  Mutex listener_mu_;
};

}  // namespace weft::control

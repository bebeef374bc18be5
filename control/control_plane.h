// ControlPlane: the gRPC server that carries the Control service, the standard health service
// and server reflection, behind its ControlGateway: gRPC listens on a private unix socket (in a
// new 0700 directory under $TMPDIR, default /tmp, removed at Shutdown) and the gateway owns the
// public address (see control/gateway/control_gateway.h for why).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/control_service.h"
#include "control/gateway/control_gateway.h"
#include "control/health_reporter.h"
#include "weft/unique_fd.h"

namespace weft::control {

struct ControlPlaneOptions {
  // "HOST:PORT" (PORT may be 0) or "unix:/path".
  std::string address = "127.0.0.1:7070";
  // A listening socket for `address` handed over by a predecessor process; empty = bind.
  UniqueFd listen_socket;
  // From MakeServerCredentials; insecure when null.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Most control connections open at once; see ControlGateway for what happens at the cap.
  std::size_t max_connections = 64;
  // A connection must finish its TLS handshake and send its HTTP/2 preface within this long.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // A connection without calls for this long is closed (GOAWAY); clients reconnect on demand.
  absl::Duration max_connection_idle = absl::Minutes(5);
  // Server interceptors (e.g. the admin endpoint's RPC metrics), in call order.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
};

// ControlPlane: thread-safe. Borrows the service and the health reporter, which must outlive it.
class ControlPlane {
 public:
  // Start binds and starts serving. Errors: those of ControlGateway::Start for the public
  // address (INVALID_ARGUMENT malformed, UNAVAILABLE in use or not local, PERMISSION_DENIED,
  // ...); FAILED_PRECONDITION when the private directory cannot be made (TMPDIR unwritable or
  // too long for a socket path) or gRPC cannot start on it (with TLS: a key that does not match
  // its certificate). Nothing is left running or on disk on error.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(ControlPlaneOptions options,
                                                             ControlService* service,
                                                             HealthReporter* health);
  ~ControlPlane();

  // port returns the bound TCP port (0 for a unix socket).
  int port() const { return gateway_->port(); }
  const std::string& address() const { return address_; }
  // gateway: the public endpoint, for a hand-off of its listening socket.
  ControlGateway& gateway() { return *gateway_; }

  // InProcessChannel returns a channel to this server that bypasses the network (and the
  // gateway): for calls weftd makes on behalf of its admin endpoint, which carry their
  // caller's credentials as metadata and are authorized like any other call.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // Shutdown ends watch streams, stops the gRPC server, cancelling calls still running after
  // `grace`, then closes the public endpoint and removes the private directory.
  // Idempotent (later calls return at once); the destructor calls it with zero grace.
  void Shutdown(absl::Duration grace);

 private:
  ControlPlane(std::unique_ptr<grpc::Server> server, std::unique_ptr<ControlGateway> gateway,
               ControlService* service, HealthReporter* health, std::string address,
               std::string private_dir);

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ControlGateway> gateway_;
  ControlService* const service_;
  HealthReporter* const health_;
  const std::string address_;
  // Holds gRPC's backend socket.
  const std::string private_dir_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace weft::control

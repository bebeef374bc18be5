// ControlPlane: the gRPC server that carries the Control service, the standard health service
// and server reflection.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/control_service.h"
#include "control/health_reporter.h"

namespace weft::control {

struct ControlPlaneOptions {
  // "HOST:PORT" (PORT may be 0) or "unix:/path".
  std::string address = "127.0.0.1:7070";
  // From MakeServerCredentials; insecure when null.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

// ControlPlane: thread-safe. Borrows the service and the health reporter, which must outlive it.
class ControlPlane {
 public:
  // Start binds and starts serving. UNAVAILABLE if the address cannot be bound (in use, not
  // local); INVALID_ARGUMENT if it is malformed.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(ControlPlaneOptions options,
                                                             ControlService* service,
                                                             HealthReporter* health);
  ~ControlPlane();

  // port returns the bound TCP port (0 for a unix socket).
  int port() const { return port_; }
  const std::string& address() const { return address_; }

  // Shutdown ends watch streams, then stops the gRPC server, cancelling calls still running
  // after `grace`. Idempotent (later calls return at once); the destructor calls it with zero
  // grace.
  void Shutdown(absl::Duration grace);

 private:
  ControlPlane(std::unique_ptr<grpc::Server> server, ControlService* service,
               HealthReporter* health, std::string address, int port);

  std::unique_ptr<grpc::Server> server_;
  ControlService* const service_;
  HealthReporter* const health_;
  const std::string address_;
  const int port_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace weft::control

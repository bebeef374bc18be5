// InterceptedServer: a real in-process gRPC server whose RPCs RpcMetrics counts, for the admin
// metrics tests.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/admin/rpc_metrics.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control::admin::testing {

// InterceptedServer listens on 127.0.0.1 (port 0) with RpcMetrics' interceptor and serves
// gRPC's default health service (grpc.health.v1.Health: Check answers OK for "" and NOT_FOUND
// for an unknown service; Watch streams) and the Control service's generated base class,
// whose every method answers UNIMPLEMENTED (gRPC creates the default health service only next
// to another service). The destructor shuts the server down. Thread-compatible.
class InterceptedServer {
 public:
  // Start starts the server; `metrics` must outlive it. UNAVAILABLE if it cannot listen.
  static absl::StatusOr<std::unique_ptr<InterceptedServer>> Start(RpcMetrics& metrics);
  ~InterceptedServer();

  // Check calls Health/Check for `service` (10 s deadline).
  grpc::Status Check(const std::string& service);

  grpc::health::v1::Health::Stub& health() { return *health_; }
  weft::control::v1::Control::Stub& control() { return *control_; }

 private:
  InterceptedServer() = default;

  weft::control::v1::Control::Service control_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<weft::control::v1::Control::Stub> control_;
};

}  // namespace weft::control::admin::testing

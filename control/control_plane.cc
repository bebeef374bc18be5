#include "control/control_plane.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace weft::control {
namespace {

// Keep control-plane messages small: no legitimate request comes near this.
constexpr int kMaxReceiveMessageBytes = 64 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(ControlPlaneOptions options,
                                                                  ControlService* service,
                                                                  HealthReporter* health) {
  if (options.address.empty()) return absl::InvalidArgumentError("control address is empty");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(options.address, credentials, &port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const bool is_unix = absl::StartsWith(options.address, "unix:");
  if (server == nullptr || (!is_unix && port == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on control address ", options.address,
                     " (in use, not a local address, or malformed)"));
  }
  health->Attach(server->GetHealthCheckService());
  LOG(INFO) << "control plane listening on " << options.address
            << (is_unix ? "" : absl::StrCat(" (port ", port, ")"));
  return std::unique_ptr<ControlPlane>(
      new ControlPlane(std::move(server), service, health, options.address, port));
}

ControlPlane::ControlPlane(std::unique_ptr<grpc::Server> server, ControlService* service,
                           HealthReporter* health, std::string address, int port)
    : server_(std::move(server)),
      service_(service),
      health_(health),
      address_(std::move(address)),
      port_(port) {}

ControlPlane::~ControlPlane() { Shutdown(absl::ZeroDuration()); }

void ControlPlane::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  service_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
  health_->Detach();
}

}  // namespace weft::control

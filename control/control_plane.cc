#include "control/control_plane.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/private_socket_dir.h"
#include "control/unix_socket.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

// Keep control-plane messages small: no legitimate request comes near this.
constexpr int kMaxReceiveMessageBytes = 64 * 1024;
// Calls at once on one connection: enough for a dashboard's watches, few enough that one
// client cannot take every thread.
constexpr int kMaxConcurrentStreams = 100;
// Keepalive pings find dead peers of long watch streams.
constexpr absl::Duration kKeepaliveTime = absl::Seconds(60);
constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(20);
constexpr absl::Duration kPollerIdleRetirement = absl::Seconds(1);

int Ms(absl::Duration d) {
  return static_cast<int>(std::min<std::int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(ControlPlaneOptions options,
                                                                  ControlService* service,
                                                                  HealthReporter* health) {
  if (options.address.empty()) return absl::InvalidArgumentError("control address is empty");
  absl::StatusOr<std::string> dir = MakePrivateSocketDirectory();
  if (!dir.ok()) return dir.status();
  const std::string backend_path = PrivateSocketPath(*dir);
  auto remove_dir = [&] { RemovePrivateSocketDirectory(*dir); };
  if (absl::StatusOr<sockaddr_un> fits = UnixSocketAddress(backend_path); !fits.ok()) {
    remove_dir();
    return absl::FailedPreconditionError(
        absl::StrCat("the control plane's private socket: ", fits.status().message(),
                     "; set TMPDIR to a shorter directory"));
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(absl::StrCat("unix:", backend_path), credentials);
  builder.RegisterService(service);
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, Ms(options.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Ms(options.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(kKeepaliveTime));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(kKeepaliveTimeout));
  // Threads the sync server starts for a burst of calls retire after this long idle (gRPC's
  // default is 10 s), so a flood's threads are gone soon after it.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC,
                              Ms(kPollerIdleRetirement));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    remove_dir();
    return absl::InternalError(
        absl::StrCat("cannot start the gRPC control server on unix:", backend_path,
                     " (with TLS: does the key match the certificate?)"));
  }
  absl::StatusOr<std::unique_ptr<ControlGateway>> gateway =
      ControlGateway::Start(ControlGatewayOptions{.address = options.address,
                                                  .listen_socket = std::move(options.listen_socket),
                                                  .backend_path = backend_path,
                                                  .max_connections = options.max_connections});
  if (!gateway.ok()) {
    server->Shutdown();
    server->Wait();
    remove_dir();
    return gateway.status();
  }
  health->Attach(server->GetHealthCheckService());
  const bool is_unix = absl::StartsWith(options.address, "unix:");
  LOG(INFO) << "control plane listening on " << options.address
            << (is_unix ? "" : absl::StrCat(" (port ", (*gateway)->port(), ")")) << ", at most "
            << options.max_connections << " connections";
  return std::unique_ptr<ControlPlane>(new ControlPlane(
      std::move(server), std::move(*gateway), service, health, options.address, std::move(*dir)));
}

ControlPlane::ControlPlane(std::unique_ptr<grpc::Server> server,
                           std::unique_ptr<ControlGateway> gateway, ControlService* service,
                           HealthReporter* health, std::string address, std::string private_dir)
    : server_(std::move(server)),
      gateway_(std::move(gateway)),
      service_(service),
      health_(health),
      address_(std::move(address)),
      private_dir_(std::move(private_dir)) {}

ControlPlane::~ControlPlane() { Shutdown(absl::ZeroDuration()); }

std::shared_ptr<grpc::Channel> ControlPlane::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void ControlPlane::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  service_->Shutdown();
  // Calls still running get `grace` through the gateway's open relays; then the gateway goes.
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
  gateway_->Stop();
  const ControlGatewayStats stats = gateway_->stats();
  LOG(INFO) << "control plane stopped; its gateway relayed " << stats.accepted
            << " connections, replaced " << stats.evicted << " at the cap, refused "
            << stats.refused << " (none replaceable), " << stats.backend_failed
            << " failed to reach gRPC, accept failed " << stats.accept_failed << " times";
  health_->Detach();
  RemovePrivateSocketDirectory(private_dir_);
}

}  // namespace weft::control

#include "tests/control/admin/intercepted_server.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace weft::control::admin::testing {

absl::StatusOr<std::unique_ptr<InterceptedServer>> InterceptedServer::Start(RpcMetrics& metrics) {
  grpc::EnableDefaultHealthCheckService(true);
  std::unique_ptr<InterceptedServer> server(new InterceptedServer());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(metrics.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  builder.RegisterService(&server->control_service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError("cannot start the gRPC server on 127.0.0.1:0");
  }
  const std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  server->health_ = grpc::health::v1::Health::NewStub(channel);
  server->control_ = weft::control::v1::Control::NewStub(channel);
  return server;
}

InterceptedServer::~InterceptedServer() {
  if (server_ != nullptr) server_->Shutdown();
}

grpc::Status InterceptedServer::Check(const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  return health_->Check(&context, request, &response);
}

}  // namespace weft::control::admin::testing

#include "tests/control/service/service_harness.h"

#include <utility>

#include "absl/types/span.h"
#include "weft/server.h"

namespace weft::testing {

using control::ControlPlane;
using control::ControlPlaneOptions;
using control::ControlService;
using control::ManagedServer;

void EchoUntilEof(Connection& connection, const HandlerArgs&) {
  char buffer[4096];
  while (true) {
    absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    if (!n.ok() || *n == 0) return;
    if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
  }
}

absl::Status AddRunningServer(control::ServerSet& servers, const std::string& name,
                              ServerOptions options) {
  ManagedServer managed{name, "test-" + name, absl::Seconds(5),
                        std::make_unique<weft::Server>(std::move(options))};
  if (absl::Status status = managed.server->Run(); !status.ok()) return status;
  return servers.Add(std::move(managed));
}

absl::StatusOr<ServedControl> ServeControl(const control::ServerSet* servers,
                                           control::EventHub* events,
                                           const control::Authenticator* auth,
                                           const control::ProcessInfo* process,
                                           control::HealthReporter* health) {
  ServedControl served;
  served.service = std::make_unique<ControlService>(servers, events, auth, process);
  absl::StatusOr<std::unique_ptr<ControlPlane>> plane = ControlPlane::Start(
      ControlPlaneOptions{.address = "127.0.0.1:0"}, served.service.get(), health);
  if (!plane.ok()) return plane.status();
  served.plane = std::move(*plane);
  return served;
}

}  // namespace weft::testing

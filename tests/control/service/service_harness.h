// The pieces the control-service tests share: a listener handler, a running listener added to a
// ServerSet, and a ControlService served on a real ControlPlane at 127.0.0.1:0.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/auth.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "control/event_hub.h"
#include "control/health_reporter.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "weft/connection.h"
#include "weft/server_options.h"

namespace weft::testing {

// EchoUntilEof: a listener handler that echoes until the client closes; a blocked read ends
// cooperatively on stop.
void EchoUntilEof(Connection& connection, const HandlerArgs& args);

// AddRunningServer builds a Server from `options`, runs it and adds it to `servers` as `name`
// (drain timeout 5 s).
absl::Status AddRunningServer(control::ServerSet& servers, const std::string& name,
                              ServerOptions options);

// ServedControl: a ControlService and the ControlPlane serving it. Destroy the plane first (the
// member order does).
struct ServedControl {
  std::unique_ptr<control::ControlService> service;
  std::unique_ptr<control::ControlPlane> plane;
};

// ServeControl serves the servers of `servers` on 127.0.0.1:0. Everything passed must outlive the
// returned value.
absl::StatusOr<ServedControl> ServeControl(const control::ServerSet* servers,
                                           control::EventHub* events,
                                           const control::Authenticator* auth,
                                           const control::ProcessInfo* process,
                                           control::HealthReporter* health);

}  // namespace weft::testing

// BuildListener: turns one validated config listener into a managed (not yet running) server.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "control/daemon/inherited_sockets.h"
#include "control/server_set.h"
#include "weft/config/v1/config.pb.h"
#include "weft/descriptor_budget.h"
#include "weft/handlers/handler_registry.h"
#include "weft/server_observer.h"

namespace weft::control {

// BuildListener creates the handler (from `registry`), the task manager and the server, whose
// connections draw from `budget` (may be null: no budget). A valid `listen_socket` (one systemd
// passed, or a predecessor handed over) is the server's, which accepts from it instead of
// binding the listener's address.
// Errors: those of HandlerRegistry::Create and ParseConfigDuration (the config was validated,
// so only a registry that changed since validation can fail here).
absl::StatusOr<ManagedServer> BuildListener(const config::v1::Listener& listener,
                                            const HandlerRegistry& registry,
                                            std::shared_ptr<ServerObserver> observer,
                                            std::shared_ptr<DescriptorBudget> budget,
                                            InheritedSocket listen_socket = {});

}  // namespace weft::control

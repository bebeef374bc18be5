// BuildListener: turns one validated config listener into a managed (not yet running) server.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "control/server_set.h"
#include "weft/config/v1/config.pb.h"
#include "weft/handlers/handler_registry.h"
#include "weft/descriptor_budget.h"
#include "weft/server_observer.h"

namespace weft::control {

// BuildListener creates the handler (from `registry`), the task manager and the server, whose
// connections draw from `budget` (may be null: no budget).
// Errors: those of HandlerRegistry::Create and ParseConfigDuration (the config was validated,
// so only a registry that changed since validation can fail here).
absl::StatusOr<ManagedServer> BuildListener(const config::v1::Listener& listener,
                                            const HandlerRegistry& registry,
                                            std::shared_ptr<ServerObserver> observer,
                                            std::shared_ptr<DescriptorBudget> budget);

}  // namespace weft::control

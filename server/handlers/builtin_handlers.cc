// RegisterBuiltinHandlers and BuiltinHandlers; the built-ins themselves live one per file.
#include "server/handlers/builtin_handlers.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "weft/base/log.h"
#include "weft/handlers/handler_registry.h"

namespace weft {
namespace handlers_internal {

absl::Status RequireNoArguments(const HandlerArgs& args) {
  if (args.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("takes no arguments, got ", args.size(),
                                                 " (the first is \"", args.front(), "\")"));
}

}  // namespace handlers_internal

absl::Status RegisterBuiltinHandlers(HandlerRegistry* registry) {
  CHECK(registry != nullptr);
  namespace hi = handlers_internal;
  const std::pair<const char*, HandlerFactory> builtins[] = {
      {hi::kChargenName, hi::CreateChargenHandler},
      {hi::kDaytimeName, hi::CreateDaytimeHandler},
      {hi::kDiscardName, hi::CreateDiscardHandler},
      {hi::kEchoName, hi::CreateEchoHandler},
      {hi::kHttpHelloName, hi::CreateHttpHelloHandler},
  };
  // Check every name first so that a clash leaves the registry unchanged.
  for (const auto& [name, factory] : builtins) {
    if (registry->Contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat("cannot register the built-in handlers: \"",
                                                   name, "\" is already registered"));
    }
  }
  for (const auto& [name, factory] : builtins) {
    const absl::Status status = registry->Register(name, factory);
    CHECK(status.ok()) << status;  // Names were checked above; a failure here is a bug.
  }
  return absl::OkStatus();
}

HandlerRegistry BuiltinHandlers() {
  HandlerRegistry registry;
  const absl::Status status = RegisterBuiltinHandlers(&registry);
  CHECK(status.ok()) << status;  // An empty registry has no clashes.
  return registry;
}

}  // namespace weft

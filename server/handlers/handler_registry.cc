#include "weft/handlers/handler_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace weft {
namespace {

// AbslView: this Abseil's string_view is its own type, not std::string_view.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::Status HandlerRegistry::Register(std::string name, HandlerFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("a handler name must not be empty");
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("handler \"", name, "\" has no factory"));
  }
  if (factories_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("handler \"", name, "\" is already registered"));
  }
  factories_.emplace(std::move(name), std::move(factory));
  return absl::OkStatus();
}

absl::StatusOr<Handler> HandlerRegistry::Create(std::string_view name,
                                                const HandlerArgs& args) const {
  const auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown handler \"", AbslView(name),
                                            "\" (known: ", absl::StrJoin(Names(), ", "), ")"));
  }
  absl::StatusOr<Handler> handler = it->second(args);
  if (!handler.ok()) {
    return absl::Status(handler.status().code(), absl::StrCat("handler \"", AbslView(name),
                                                              "\": ", handler.status().message()));
  }
  if (!*handler) {
    return absl::InternalError(
        absl::StrCat("the factory of handler \"", AbslView(name), "\" returned an empty handler"));
  }
  return handler;
}

bool HandlerRegistry::Contains(std::string_view name) const { return factories_.contains(name); }

std::vector<std::string> HandlerRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace weft

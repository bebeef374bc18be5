#include "control/server_set.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace weft::control {

absl::Status ServerSet::Add(ManagedServer server) {
  std::string name = server.name;
  auto [it, inserted] =
      servers_.try_emplace(std::move(name), std::make_unique<ManagedServer>(std::move(server)));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("duplicate server name \"", it->first, "\""));
  }
  return absl::OkStatus();
}

ManagedServer* ServerSet::Find(std::string_view name) const {
  auto it = servers_.find(name);
  return it == servers_.end() ? nullptr : it->second.get();
}

std::vector<ManagedServer*> ServerSet::All() const {
  std::vector<ManagedServer*> all;
  all.reserve(servers_.size());
  for (const auto& [name, server] : servers_) all.push_back(server.get());
  return all;
}

}  // namespace weft::control

#include "control/daemon/reuse_port_check.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace weft::control {

std::optional<std::string> ReusePortMigrationWarning(const config::v1::Config& config,
                                                     const std::string& sysctl_path) {
  std::vector<std::string> names;
  for (const config::v1::Listener& listener : config.listeners()) {
    if (listener.reuse_port()) names.push_back(absl::StrCat("\"", listener.name(), "\""));
  }
  if (names.empty()) return std::nullopt;
  std::ifstream in(sysctl_path);
  int value = -1;
  if (!(in >> value) || value != 0) return std::nullopt;
  return absl::StrCat(
      "reuse_port is set (listeners ", absl::StrJoin(names, ", "),
      ") but net.ipv4.tcp_migrate_req is 0: connections queued on a listener that closes during "
      "a drain are reset instead of moving to another process on the same port; set "
      "net.ipv4.tcp_migrate_req=1");
}

}  // namespace weft::control

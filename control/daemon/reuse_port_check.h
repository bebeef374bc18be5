// ReusePortMigrationWarning: weftd's start-up check that listeners sharing a port with
// reuse_port can hand over their queued connections when one of them closes.
#pragma once

#include <optional>
#include <string>

#include "weft/config/v1/config.pb.h"

namespace weft::control {

// kTcpMigrateReqPath: the sysctl net.ipv4.tcp_migrate_req (Linux 5.14+). With 1, connections
// queued on a reuseport listener that closes move to another listener of its group; with 0
// they are reset.
inline constexpr char kTcpMigrateReqPath[] = "/proc/sys/net/ipv4/tcp_migrate_req";

// ReusePortMigrationWarning returns the warning weftd logs at start when some listener of
// `config` sets reuse_port and the file at `sysctl_path` reads 0; nullopt otherwise, including
// when the file is missing or unreadable (an older kernel, a restricted /proc): nothing is
// known then. Thread-safe.
std::optional<std::string> ReusePortMigrationWarning(
    const config::v1::Config& config, const std::string& sysctl_path = kTcpMigrateReqPath);

}  // namespace weft::control

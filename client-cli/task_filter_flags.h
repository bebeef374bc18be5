// The task-selection flags that `weftctl tasks` and `weftctl stop-tasks` share, and --order-by:
// their names, their help, and how each fills a weft.control.v1 TaskFilter. No I/O.
#pragma once

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "weft/control/v1/control.pb.h"

namespace weft::cli {

// kTaskFilterValueFlags take a value; kTaskFilterSwitches do not.
inline constexpr std::array<absl::string_view, 6> kTaskFilterValueFlags = {
    "--state", "--peer", "--idle-over", "--age-over", "--min-bytes", "--max-bytes"};
inline constexpr std::array<absl::string_view, 1> kTaskFilterSwitches = {"--stuck"};

// kTaskFilterHelp: the flags' lines for a command's --help.
inline constexpr absl::string_view kTaskFilterHelp =
    "  --state S        only tasks in state S: running, queued or stopping (repeat the flag\n"
    "                   or give a comma list for several)\n"
    "  --peer CIDR      only clients in this network, e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7\n"
    "  --idle-over D    only tasks idle at least D\n"
    "  --age-over D     only tasks at least D old\n"
    "  --min-bytes N    only tasks that moved at least N bytes (in and out together)\n"
    "  --max-bytes N    only tasks that moved at most N bytes\n"
    "  --stuck          only tasks stuck in a stop (they ignored it past its grace)\n";

// IsTaskFilterFlag is true for the names above.
bool IsTaskFilterFlag(absl::string_view name);

// ApplyTaskFilterFlag adds flag `name` with `value` (empty for a switch) to `filter`.
// INVALID_ARGUMENT, naming the flag, for a bad value: an unknown state, an empty peer, a
// negative or malformed duration, a byte count that is not a decimal number, --max-bytes below
// --min-bytes (checked when the second of the two arrives). The server checks the peer's syntax.
[[nodiscard]] absl::Status ApplyTaskFilterFlag(absl::string_view name, absl::string_view value,
                                               control::v1::TaskFilter& filter);

// ParseOrderBy reads --order-by: idle, idle-desc, age, age-desc, id, or the AIP-132 strings the
// server takes ("idle desc", ...); returns the server's string. INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<std::string> ParseOrderBy(absl::string_view value);

// DescribeTaskFilter renders `filter` as the flags that would select it, e.g.
// "--peer 10.0.0.0/8 --idle-over 5m", for confirmation prompts; "(every task)" when empty.
std::string DescribeTaskFilter(const control::v1::TaskFilter& filter);

}  // namespace weft::cli

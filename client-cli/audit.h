// The `weftctl audit` table: one row per audit record (ListAuditRecords).
#pragma once

#include <string>
#include <vector>

#include "weft/control/v1/control.pb.h"

namespace weft::cli {

// AuditHeaders and AuditRow: TIME (RFC 3339, UTC, milliseconds), METHOD, RESOURCE ("-" for
// none), CALLER (the token's name; "-" without one, e.g. a refused bad token), ROLE ("-" when
// none was granted), PEER, CODE (canonical name) and DURATION (short form).
std::vector<std::string> AuditHeaders();
std::vector<std::string> AuditRow(const control::v1::AuditRecord& record);

}  // namespace weft::cli

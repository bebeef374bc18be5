// ListAuditRecords: the Control method that pages through an AuditTrail (its authorization is
// ControlService's).
#pragma once

#include "absl/status/status.h"
#include "control/audit/audit_trail.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control::audit {

// ListAuditRecords fills `response` with the newest records of `trail` (or, with a page token,
// the ones older than the previous page), newest first: page_size of them (0 = 100; more than
// 1000 = 1000), and a next_page_token while older records are kept. INVALID_ARGUMENT for a
// negative page_size or a page token this process did not issue. Thread-safe.
[[nodiscard]] absl::Status ListAuditRecords(const AuditTrail& trail,
                                            const v1::ListAuditRecordsRequest& request,
                                            v1::ListAuditRecordsResponse* response);

}  // namespace weft::control::audit

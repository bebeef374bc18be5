#include "client-cli/audit.h"

#include "absl/time/time.h"
#include "client-cli/output.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

}  // namespace

std::vector<std::string> AuditHeaders() {
  return {"TIME", "METHOD", "RESOURCE", "CALLER", "ROLE", "PEER", "CODE", "DURATION"};
}

std::vector<std::string> AuditRow(const control::v1::AuditRecord& record) {
  return {
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", TimeFromProto(record.time()), absl::UTCTimeZone()),
      record.method(),
      OrDash(record.resource()),
      OrDash(record.caller()),
      OrDash(record.role()),
      OrDash(record.peer()),
      record.code(),
      FormatDurationShort(DurationFromProto(record.duration()))};
}

}  // namespace weft::cli

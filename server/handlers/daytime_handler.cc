// daytime (RFC 867): one human-readable line with the current date and time in UTC.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/handlers/builtin_handlers.h"
#include "weft/connection.h"

namespace weft::handlers_internal {
namespace {

// DaytimeLine renders `now` as "Thursday, November 26, 2026 09:17:48-UTC\r\n", the format of
// RFC 867's example (day of the month without padding).
std::string DaytimeLine(absl::Time now) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilDay day = absl::ToCivilDay(now, utc);
  return absl::StrCat(absl::FormatTime("%A, %B ", now, utc), day.day(),
                      absl::FormatTime(", %Y %H:%M:%S-UTC\r\n", now, utc));
}

}  // namespace

absl::StatusOr<Handler> CreateDaytimeHandler(const HandlerArgs& args) {
  if (absl::Status status = RequireNoArguments(args); !status.ok()) return status;
  return Handler([](Connection& connection, const HandlerArgs&) {
    // The server closes the connection when we return; a failed write leaves nothing to do.
    (void)connection.WriteAll(DaytimeLine(absl::Now()));
  });
}

}  // namespace weft::handlers_internal

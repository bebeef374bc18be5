#include "control/audit/list_audit_records.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace weft::control::audit {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Tokens are opaque to clients: web-safe base64 of "a:<sequence of the oldest record sent>".
constexpr absl::string_view kTokenPrefix = "a:";

absl::StatusOr<std::uint64_t> ParsePageToken(const std::string& token) {
  std::string decoded;
  std::uint64_t before = 0;
  if (token.size() <= 64 && absl::WebSafeBase64Unescape(token, &decoded)) {
    absl::string_view rest = decoded;
    if (absl::ConsumePrefix(&rest, kTokenPrefix) && absl::SimpleAtoi(rest, &before) && before > 0) {
      return before;
    }
  }
  return absl::InvalidArgumentError("page_token is not one this server issued");
}

}  // namespace

absl::Status ListAuditRecords(const AuditTrail& trail, const v1::ListAuditRecordsRequest& request,
                              v1::ListAuditRecordsResponse* response) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  // AIP-158: coerce values above the maximum.
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::uint64_t before = 0;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::uint64_t> parsed = ParsePageToken(request.page_token());
    if (!parsed.ok()) return parsed.status();
    before = *parsed;
  }
  AuditTrail::Page page = trail.List(before, static_cast<std::size_t>(page_size));
  for (v1::AuditRecord& record : page.records) *response->add_records() = std::move(record);
  if (page.next_before != 0) {
    response->set_next_page_token(
        absl::WebSafeBase64Escape(absl::StrCat(kTokenPrefix, page.next_before)));
  }
  return absl::OkStatus();
}

}  // namespace weft::control::audit

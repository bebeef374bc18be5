#include "control/paging.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace weft::control {

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) return absl::InvalidArgumentError("page_size must not be negative");
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);  // AIP-158: coerce values above the maximum.
}

std::string MakePageToken(absl::string_view kind, absl::string_view position) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, ":", position));
}

absl::StatusOr<std::string> ParsePageToken(absl::string_view kind, const std::string& token) {
  std::string decoded;
  if (token.size() <= 1024 && absl::WebSafeBase64Unescape(token, &decoded)) {
    absl::string_view rest = decoded;
    if (absl::ConsumePrefix(&rest, absl::StrCat(kind, ":"))) return std::string(rest);
  }
  return absl::InvalidArgumentError("page_token is not one this server issued");
}

}  // namespace weft::control

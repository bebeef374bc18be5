// Paging helpers shared by the List methods (AIP-158): page sizes and opaque page tokens.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::control {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// PageSize resolves a request's page_size: 0 means kDefaultPageSize, values above kMaxPageSize
// are coerced down to it; INVALID_ARGUMENT if negative.
absl::StatusOr<int> PageSize(int requested);

// MakePageToken returns an opaque token (web-safe base64 of "<kind>:<position>"); `kind` tells
// apart the listings that issue tokens, `position` is where the next page starts.
std::string MakePageToken(absl::string_view kind, absl::string_view position);

// ParsePageToken returns the position of a token MakePageToken made with the same `kind`;
// INVALID_ARGUMENT for anything else.
absl::StatusOr<std::string> ParsePageToken(absl::string_view kind, const std::string& token);

}  // namespace weft::control

#include "weft/base/json.h"

#include "absl/strings/str_cat.h"

namespace weft {

std::string JsonDump(const Json& value) {
  return value.dump(/*indent=*/-1, /*indent_char=*/' ', /*ensure_ascii=*/false,
                    Json::error_handler_t::replace);
}

absl::StatusOr<Json> JsonParse(absl::string_view text) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& error) {
    return absl::InvalidArgumentError(absl::StrCat("bad JSON: ", error.what()));
  }
}

}  // namespace weft

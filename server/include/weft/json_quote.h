// JSON string literals, for the JSON Weft writes by hand: weftd's log lines, weftctl's output,
// test and benchmark reports.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace weft {

// JsonQuote returns `text` as a JSON string literal, quotes included: `"`, `\` and control
// characters escaped (\n, \r, \t, else \u00XX, DEL too); valid UTF-8 kept as it is; a byte
// that is not part of valid UTF-8 escaped as if Latin-1 (\u00XX), so the result is always valid
// JSON whatever the input. Thread-safe; no state.
std::string JsonQuote(absl::string_view text);

}  // namespace weft

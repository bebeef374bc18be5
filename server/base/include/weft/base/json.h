// Json, JsonDump, JsonParse: how Weft writes and reads JSON — weftd's JSON log lines, weftctl's
// `-o json` output, test figures and benchmark records — over nlohmann::json.
//
// Part of weft::base: any Weft component may include it. Where the data is a protobuf message,
// use protobuf's JSON utilities (google/protobuf/util/json_util.h) instead. Thread-safe: no
// state (a Json value itself is thread-compatible).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft {

// Json: a JSON value whose objects keep their keys in insertion order, so the output reads in
// the order the writer chose.
using Json = nlohmann::ordered_json;

// JsonDump renders `value` on one line without spaces ({"a":1,"b":"x"}). Strings are written as
// UTF-8; `"`, `\` and the control characters U+0000-U+001F are escaped (\n, \t, ... else
// \u00XX); bytes that are not valid UTF-8 are replaced by U+FFFD, so the result is valid JSON
// whatever the strings held. Never throws.
std::string JsonDump(const Json& value);

// JsonParse parses one JSON text (surrounding whitespace allowed). \uXXXX escapes, surrogate
// pairs included, become UTF-8. INVALID_ARGUMENT, with the parser's reason, for anything else.
[[nodiscard]] absl::StatusOr<Json> JsonParse(absl::string_view text);

}  // namespace weft

// JsonLine: one flat JSON object per line — the machine-readable record every bench tool
// prints for a run, and the parser the report reads them back with. Values are strings,
// numbers or booleans; no nesting (a run is a flat record by design).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "weft/base/json.h"

namespace weft::bench {

// Thread-compatible. Keys keep insertion order; setting a key again replaces its value.
class JsonLine {
 public:
  void Set(absl::string_view key, absl::string_view value);
  void Set(absl::string_view key, const char* value) { Set(key, absl::string_view(value)); }
  // Set(double) keeps 6 significant digits; a non-finite value is written as null.
  void Set(absl::string_view key, double value);
  void Set(absl::string_view key, std::int64_t value);
  void Set(absl::string_view key, std::uint64_t value);
  void Set(absl::string_view key, int value) { Set(key, static_cast<std::int64_t>(value)); }
  void SetBool(absl::string_view key, bool value);

  // ToString renders the object on one line, without a trailing newline (see weft::JsonDump).
  std::string ToString() const;

 private:
  Json fields_ = Json::object();
};

// JsonRecord: a parsed flat object.
struct JsonRecord {
  Json values = Json::object();

  // String returns the value of `key`: a string as it is, a number or boolean as JSON text;
  // `fallback` when absent or null.
  std::string String(const std::string& key, const std::string& fallback = "") const;
  // Number returns the numeric value of `key` (booleans as 0/1, numeric strings parsed), or
  // nullopt.
  std::optional<double> Number(const std::string& key) const;
};

// ParseJsonLine parses one object whose values are strings, numbers, booleans or null;
// INVALID_ARGUMENT on anything else.
absl::StatusOr<JsonRecord> ParseJsonLine(absl::string_view line);

}  // namespace weft::bench

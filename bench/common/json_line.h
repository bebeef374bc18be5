// JsonLine: one flat JSON object per line — the machine-readable record every bench tool
// prints for a run, and the parser the report reads them back with. Values are strings,
// numbers or booleans; no nesting (a run is a flat record by design).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::bench {

// Thread-compatible. Keys keep insertion order; setting a key again replaces its value.
class JsonLine {
 public:
  void Set(absl::string_view key, absl::string_view value);
  void Set(absl::string_view key, const char* value) { Set(key, absl::string_view(value)); }
  void Set(absl::string_view key, double value);
  void Set(absl::string_view key, std::int64_t value);
  void Set(absl::string_view key, std::uint64_t value);
  void Set(absl::string_view key, int value) { Set(key, static_cast<std::int64_t>(value)); }
  void SetBool(absl::string_view key, bool value);

  // ToString renders the object on one line, without a trailing newline.
  std::string ToString() const;

 private:
  void SetRaw(absl::string_view key, std::string rendered);
  std::vector<std::pair<std::string, std::string>> fields_;
};

// JsonRecord: a parsed flat object; numbers and booleans are kept as text, read them with the
// accessors.
struct JsonRecord {
  std::map<std::string, std::string> values;

  // String returns the value of `key` (strings unescaped), or `fallback`.
  std::string String(const std::string& key, const std::string& fallback = "") const;
  // Number returns the numeric value of `key` (booleans as 0/1), or nullopt.
  std::optional<double> Number(const std::string& key) const;
};

// ParseJsonLine parses one flat object; INVALID_ARGUMENT on anything else.
absl::StatusOr<JsonRecord> ParseJsonLine(absl::string_view line);

}  // namespace weft::bench

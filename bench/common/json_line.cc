#include "bench/common/json_line.h"

#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace weft::bench {

void JsonLine::Set(absl::string_view key, absl::string_view value) {
  fields_[std::string(key)] = std::string(value);
}

void JsonLine::Set(absl::string_view key, double value) {
  if (!std::isfinite(value)) {
    fields_[std::string(key)] = nullptr;
    return;
  }
  // Round to 6 significant digits: the figures carry no more, and the lines stay short.
  double rounded = 0;
  if (!absl::SimpleAtod(absl::StrFormat("%.6g", value), &rounded)) rounded = value;
  fields_[std::string(key)] = rounded;
}

void JsonLine::Set(absl::string_view key, std::int64_t value) { fields_[std::string(key)] = value; }
void JsonLine::Set(absl::string_view key, std::uint64_t value) {
  fields_[std::string(key)] = value;
}
void JsonLine::SetBool(absl::string_view key, bool value) { fields_[std::string(key)] = value; }

std::string JsonLine::ToString() const { return JsonDump(fields_); }

std::string JsonRecord::String(const std::string& key, const std::string& fallback) const {
  const auto it = values.find(key);
  if (it == values.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return JsonDump(*it);
}

std::optional<double> JsonRecord::Number(const std::string& key) const {
  const auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>() ? 1.0 : 0.0;
  if (it->is_number()) return it->get<double>();
  double value = 0;
  if (it->is_string() && absl::SimpleAtod(it->get<std::string>(), &value)) return value;
  return std::nullopt;
}

absl::StatusOr<JsonRecord> ParseJsonLine(absl::string_view line) {
  absl::StatusOr<Json> json = JsonParse(line);
  if (!json.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("JSON line: ", json.status().message()));
  }
  if (!json->is_object()) return absl::InvalidArgumentError("JSON line: expected an object");
  for (const auto& [key, value] : json->items()) {
    if (value.is_object() || value.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON line: the value of \"", key, "\" is not flat"));
    }
  }
  return JsonRecord{.values = *std::move(json)};
}

}  // namespace weft::bench

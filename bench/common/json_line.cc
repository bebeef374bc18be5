#include "bench/common/json_line.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "weft/json_quote.h"

namespace weft::bench {

void JsonLine::SetRaw(absl::string_view key, std::string rendered) {
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(rendered);
      return;
    }
  }
  fields_.emplace_back(std::string(key), std::move(rendered));
}

void JsonLine::Set(absl::string_view key, absl::string_view value) { SetRaw(key, JsonQuote(value)); }

void JsonLine::Set(absl::string_view key, double value) {
  if (!std::isfinite(value)) {
    SetRaw(key, "null");
    return;
  }
  SetRaw(key, absl::StrFormat("%.6g", value));
}

void JsonLine::Set(absl::string_view key, std::int64_t value) { SetRaw(key, absl::StrCat(value)); }
void JsonLine::Set(absl::string_view key, std::uint64_t value) {
  SetRaw(key, absl::StrCat(value));
}
void JsonLine::SetBool(absl::string_view key, bool value) {
  SetRaw(key, value ? "true" : "false");
}

std::string JsonLine::ToString() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : fields_) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, JsonQuote(key), ":", value);
  }
  out += "}";
  return out;
}

std::string JsonRecord::String(const std::string& key, const std::string& fallback) const {
  const auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

std::optional<double> JsonRecord::Number(const std::string& key) const {
  const auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  if (it->second == "true") return 1.0;
  if (it->second == "false") return 0.0;
  double value = 0;
  if (!absl::SimpleAtod(it->second, &value)) return std::nullopt;
  return value;
}

absl::StatusOr<JsonRecord> ParseJsonLine(absl::string_view line) {
  JsonRecord record;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < line.size() && absl::ascii_isspace(static_cast<unsigned char>(line[i]))) ++i;
  };
  auto fail = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("JSON line: ", what, " at offset ", i));
  };
  // ParseString reads a quoted string at i into *out.
  auto parse_string = [&](std::string* out) -> bool {
    if (i >= line.size() || line[i] != '"') return false;
    ++i;
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\' && i + 1 < line.size()) {
        ++i;
        switch (line[i]) {
          case 'n':
            *out += '\n';
            break;
          case 't':
            *out += '\t';
            break;
          case 'u':
            // Only control characters are escaped this way by JsonLine; keep them lossy.
            *out += '?';
            i += 4;
            break;
          default:
            *out += line[i];
        }
      } else {
        *out += line[i];
      }
      ++i;
    }
    if (i >= line.size()) return false;
    ++i;
    return true;
  };
  skip();
  if (i >= line.size() || line[i] != '{') return fail("expected '{'");
  ++i;
  skip();
  if (i < line.size() && line[i] == '}') return record;
  while (true) {
    skip();
    std::string key;
    if (!parse_string(&key)) return fail("expected a key");
    skip();
    if (i >= line.size() || line[i] != ':') return fail("expected ':'");
    ++i;
    skip();
    std::string value;
    if (i < line.size() && line[i] == '"') {
      if (!parse_string(&value)) return fail("unterminated string");
    } else {
      while (i < line.size() && line[i] != ',' && line[i] != '}' &&
             !absl::ascii_isspace(static_cast<unsigned char>(line[i]))) {
        value += line[i++];
      }
      if (value.empty()) return fail("expected a value");
    }
    record.values[key] = std::move(value);
    skip();
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i] == '}') return record;
    return fail("expected ',' or '}'");
  }
}

}  // namespace weft::bench

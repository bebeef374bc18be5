#include "weft/json_quote.h"

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace weft {
namespace {

// Utf8SequenceLength returns the length of the valid UTF-8 sequence at text[i], or 0.
std::size_t Utf8SequenceLength(absl::string_view text, std::size_t i) {
  const auto byte = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (byte >= 0xc2 && byte <= 0xdf) {
    length = 2;
    min = 0x80;
  } else if (byte >= 0xe0 && byte <= 0xef) {
    length = 3;
    min = 0x800;
  } else if (byte >= 0xf0 && byte <= 0xf4) {
    length = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  std::uint32_t code = byte & (0x7f >> length);
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xc0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

}  // namespace

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      if (const std::size_t length = Utf8SequenceLength(text, i); length > 0) {
        out.append(text.data() + i, length);
        i += length;
      } else {
        absl::StrAppend(&out, absl::StrFormat("\\u%04x", byte));
        ++i;
      }
      continue;
    }
    switch (byte) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          absl::StrAppend(&out, absl::StrFormat("\\u%04x", byte));
        } else {
          out.push_back(static_cast<char>(byte));
        }
    }
    ++i;
  }
  out += "\"";
  return out;
}

}  // namespace weft

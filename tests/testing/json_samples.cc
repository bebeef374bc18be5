#include "tests/testing/json_samples.h"

namespace weft::testing {

std::vector<std::string> JsonRoundTripSamples() {
  std::vector<std::string> samples = {
      "",
      "plain",
      "quote \" backslash \\ slash / both \\\"",
      "caf\xc3\xa9",                // U+00E9: 2 bytes.
      "\xe6\x97\xa5\xe6\x9c\xac",   // U+65E5 U+672C: 3 bytes each.
      "smile \xf0\x9f\x98\x80",     // U+1F600: 4 bytes (a surrogate pair in \u form).
      "\xef\xbf\xbf",               // U+FFFF.
      "\xf4\x8f\xbf\xbf",           // U+10FFFF, the last code point.
      "line\xe2\x80\xa8separator",  // U+2028.
      "del \x7f",
  };
  std::string all_controls;
  for (char c = 0; c < 0x20; ++c) {
    samples.push_back(std::string(1, c));
    all_controls.push_back(c);
  }
  samples.push_back(all_controls);
  samples.push_back(std::string("mixed") + '\0' + "\x01\"\\\n\xf0\x9f\x98\x80\x1f" + all_controls);
  return samples;
}

std::vector<std::pair<std::string, std::string>> JsonEscapeSamples() {
  return {
      {R"("\u0000")", std::string(1, '\0')},
      {R"("\u001f\u0008\u000C")", "\x1f\b\f"},
      {R"("\u00e9")", "\xc3\xa9"},
      {R"("\u65E5\u672c")", "\xe6\x97\xa5\xe6\x9c\xac"},
      {R"("\ud83d\ude00")", "\xf0\x9f\x98\x80"},
      {R"("\uDBFF\uDFFF")", "\xf4\x8f\xbf\xbf"},
      {R"("\"\\\/\b\f\n\r\t")", "\"\\/\b\f\n\r\t"},
  };
}

}  // namespace weft::testing

#include "tests/testing/figure.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace weft::testing {
namespace {

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

void ReportFigure(const Figure& figure) {
  const std::string line = absl::StrCat(
      "WEFT_FIGURE {\"scenario\":", JsonString(figure.scenario),
      ",\"load\":", JsonString(figure.load), ",\"fault\":", JsonString(figure.fault),
      ",\"figure\":", JsonString(figure.figure), ",\"result\":", JsonString(figure.result), "}\n");
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

std::string ResultOfCurrentTest() {
  return ::testing::Test::HasFailure() ? "fail" : "pass";
}

}  // namespace weft::testing

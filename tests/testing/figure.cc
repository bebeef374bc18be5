#include "tests/testing/figure.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "weft/json_quote.h"

namespace weft::testing {

void ReportFigure(const Figure& figure) {
  const std::string line = absl::StrCat(
      "WEFT_FIGURE {\"scenario\":", JsonQuote(figure.scenario),
      ",\"load\":", JsonQuote(figure.load), ",\"fault\":", JsonQuote(figure.fault),
      ",\"figure\":", JsonQuote(figure.figure), ",\"result\":", JsonQuote(figure.result), "}\n");
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

std::string ResultOfCurrentTest() {
  return ::testing::Test::HasFailure() ? "fail" : "pass";
}

}  // namespace weft::testing

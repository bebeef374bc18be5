#include "tests/testing/figure.h"

#include <cstdio>

#include "gtest/gtest.h"
#include "weft/base/json.h"

namespace weft::testing {

void ReportFigure(const Figure& figure) {
  Json json = Json::object();
  json["scenario"] = figure.scenario;
  json["load"] = figure.load;
  json["fault"] = figure.fault;
  json["figure"] = figure.figure;
  json["result"] = figure.result;
  const std::string line = "WEFT_FIGURE " + JsonDump(json) + "\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

std::string ResultOfCurrentTest() { return ::testing::Test::HasFailure() ? "fail" : "pass"; }

}  // namespace weft::testing

// Figure: the one machine-readable line each reliability scenario prints, collected by
// tests/reliability/make_report.py into RELIABILITY.md.
#pragma once

#include <string>

namespace weft::testing {

// Figure: what a scenario measured. `result` is "pass" or "fail".
struct Figure {
  std::string scenario;  // e.g. "slowloris"
  std::string load;      // e.g. "1000 trickling clients + 200 well-behaved"
  std::string fault;     // e.g. "one byte every 2 s per trickler"
  std::string figure;    // e.g. "well-behaved served 100%, p99 12 ms"
  std::string result;    // "pass" or "fail"
};

// ReportFigure prints `WEFT_FIGURE {json}` on one line of stdout and flushes.
void ReportFigure(const Figure& figure);

// ResultOf returns "pass" when the current test has no failure so far, else "fail".
std::string ResultOfCurrentTest();

}  // namespace weft::testing

// weftd's JSON log lines: one object per line that carries any message unchanged.
#include "control/daemon/json_log_formatter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/json_samples.h"
#include "weft/base/json.h"

namespace weft::control {
namespace {

absl::Time SomeTime() {
  return absl::FromCivil(absl::CivilSecond(2026, 1, 2, 3, 4, 5), absl::UTCTimeZone()) +
         absl::Microseconds(6);
}

TEST(JsonLogLineTest, KeepsTheDocumentedShape) {
  EXPECT_EQ(JsonLogLine(base::LogSeverity::kWarning, SomeTime(), "main.cc:12", "a \"b\"\n"),
            "{\"time\":\"2026-01-02T03:04:05.000006Z\",\"severity\":\"WARNING\","
            "\"source\":\"main.cc:12\",\"message\":\"a \\\"b\\\"\\n\"}\n");
}

TEST(JsonLogLineTest, EveryMessageSurvivesTheRoundTrip) {
  for (const std::string& message : weft::testing::JsonRoundTripSamples()) {
    const std::string line = JsonLogLine(base::LogSeverity::kInfo, SomeTime(), "x.cc:1", message);
    ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
    absl::StatusOr<Json> parsed = JsonParse(line);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << " for " << line;
    EXPECT_EQ((*parsed)["message"].get<std::string>(), message) << line;
  }
}

}  // namespace
}  // namespace weft::control

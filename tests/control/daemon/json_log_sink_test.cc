// weftd's JSON log lines: one object per line that carries any message unchanged.
#include "control/daemon/json_log_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/json_samples.h"
#include "weft/base/json.h"

namespace weft::control {
namespace {

struct ::tm SomeTime() {
  struct ::tm time {};
  time.tm_year = 2026 - 1900;
  time.tm_mon = 0;
  time.tm_mday = 2;
  time.tm_hour = 3;
  time.tm_min = 4;
  time.tm_sec = 5;
  return time;
}

TEST(JsonLogLineTest, KeepsTheDocumentedShape) {
  EXPECT_EQ(JsonLogLine(google::GLOG_WARNING, SomeTime(), "main.cc:12", "a \"b\"\n"),
            "{\"time\":\"2026-01-02T03:04:05Z\",\"severity\":\"WARNING\",\"source\":\"main.cc:12\","
            "\"message\":\"a \\\"b\\\"\\n\"}\n");
}

TEST(JsonLogLineTest, EveryMessageSurvivesTheRoundTrip) {
  for (const std::string& message : weft::testing::JsonRoundTripSamples()) {
    const std::string line = JsonLogLine(google::GLOG_INFO, SomeTime(), "x.cc:1", message);
    ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
    absl::StatusOr<Json> parsed = JsonParse(line);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << " for " << line;
    EXPECT_EQ((*parsed)["message"].get<std::string>(), message) << line;
  }
}

}  // namespace
}  // namespace weft::control

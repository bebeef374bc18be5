// weftd's JSON log lines: one object per line that carries any message unchanged.
#include "control/daemon/json_log_formatter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

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

// What spdlog hands the formatter becomes one line: the source's file name without its
// directory, spdlog's levels under Weft's severities.
TEST(JsonLogFormatterTest, FormatsWhatSpdlogHandsIt) {
  JsonLogFormatter formatter;
  const struct {
    spdlog::level::level_enum level;
    base::LogSeverity severity;
  } kCases[] = {{spdlog::level::debug, base::LogSeverity::kDebug},
                {spdlog::level::info, base::LogSeverity::kInfo},
                {spdlog::level::warn, base::LogSeverity::kWarning},
                {spdlog::level::err, base::LogSeverity::kError},
                {spdlog::level::critical, base::LogSeverity::kFatal}};
  for (const auto& c : kCases) {
    spdlog::details::log_msg msg(spdlog::source_loc{"/src/server/server.cc", 315, ""}, "weft",
                                 c.level, "listening");
    msg.time = absl::ToChronoTime(SomeTime());
    spdlog::memory_buf_t out;
    formatter.format(msg, out);
    EXPECT_EQ(std::string(out.data(), out.size()),
              JsonLogLine(c.severity, SomeTime(), "server.cc:315", "listening"));
  }
}

}  // namespace
}  // namespace weft::control

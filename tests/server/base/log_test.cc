// weft/base/log.h: what a line carries, when it is written, and what a failed CHECK says.
#include "weft/base/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cerrno>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace weft::base {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// LogCapture adds a sink to WeftLogger() that keeps "level|file:line|message" lines, and
// removes it again. Tests in this binary run on one thread, so the sink list is not raced.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_st>(out_)) {
    sink_->set_pattern("%l|%s|%v");
    WeftLogger().sinks().push_back(sink_);
  }
  ~LogCapture() { std::erase(WeftLogger().sinks(), sink_); }

  std::vector<std::string> Lines() const {
    return absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
};

TEST(LogTest, ALineCarriesItsSeverityItsSourceFileAndItsText) {
  LogCapture capture;
  LOG(INFO) << "listening on " << 7007;
  LOG(WARNING) << "slow";
  LOG(ERROR) << "lost";
  EXPECT_THAT(capture.Lines(), ElementsAre("info|log_test.cc|listening on 7007",
                                           "warning|log_test.cc|slow", "error|log_test.cc|lost"));
}

TEST(LogTest, DebugLinesAreDroppedUnlessTheLevelIsLowered) {
  LogCapture capture;
  int formatted = 0;
  LOG(DEBUG) << "hidden " << ++formatted;
  EXPECT_EQ(formatted, 0) << "a dropped line is not formatted";
  WeftLogger().set_level(spdlog::level::debug);
  LOG(DEBUG) << "shown " << ++formatted;
  WeftLogger().set_level(spdlog::level::info);
  EXPECT_THAT(capture.Lines(), ElementsAre("debug|log_test.cc|shown 1"));
}

TEST(LogTest, PlogAppendsTheErrorOfErrno) {
  LogCapture capture;
  errno = ENOENT;
  PLOG(WARNING) << "open /nonexistent";
  EXPECT_THAT(capture.Lines(),
              ElementsAre("warning|log_test.cc|open /nonexistent: No such file or directory [2]"));
}

TEST(LogTest, LogEveryNWritesTheFirstAndEveryNthWithItsCount) {
  LogCapture capture;
  for (int i = 0; i < 7; ++i) {
    LOG_EVERY_N(WARNING, 3) << "refused (" << WEFT_LOG_OCCURRENCES << " so far)";
  }
  EXPECT_THAT(capture.Lines(), ElementsAre("warning|log_test.cc|refused (1 so far)",
                                           "warning|log_test.cc|refused (4 so far)",
                                           "warning|log_test.cc|refused (7 so far)"));
}

TEST(LogTest, PlogEveryNCountsApartFromLogEveryNAndAppendsErrno) {
  LogCapture capture;
  for (int i = 0; i < 3; ++i) {
    errno = EMFILE;
    PLOG_EVERY_N(ERROR, 2) << "accept";
  }
  EXPECT_THAT(capture.Lines(), ElementsAre("error|log_test.cc|accept: Too many open files [24]",
                                           "error|log_test.cc|accept: Too many open files [24]"));
}

TEST(LogTest, AnElseAfterALogStatementBindsToTheIfBeforeIt) {
  LogCapture capture;
  const bool quiet = true;
  if (!quiet)
    LOG(INFO) << "loud";
  else
    LOG(INFO) << "quiet";
  if (!quiet)
    LOG_EVERY_N(INFO, 1) << "loud every time";
  else
    LOG(INFO) << "quiet again";
  EXPECT_THAT(capture.Lines(),
              ElementsAre("info|log_test.cc|quiet", "info|log_test.cc|quiet again"));
}

TEST(LogTest, APassingCheckEvaluatesItsConditionOnceAndLogsNothing) {
  LogCapture capture;
  int evaluated = 0;
  CHECK(++evaluated == 1) << "never formatted";
  CHECK_EQ(++evaluated, 2);
  EXPECT_EQ(evaluated, 2);
  EXPECT_TRUE(capture.Lines().empty());
}

TEST(LogDeathTest, FatalWritesAGlogShapedLineAndTheStackThenAborts) {
  EXPECT_DEATH(LOG(FATAL) << "boom " << 42,
               "C[0-9]{8} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} [0-9]+ log_test\\.cc:[0-9]+\\] "
               "boom 42\n\\*\\*\\* stack trace: \\*\\*\\*");
}

TEST(LogDeathTest, AFailedCheckSaysWhatFailedAndWhy) {
  const int fd = -1;
  EXPECT_DEATH(CHECK(fd >= 0) << "no socket", "Check failed: fd >= 0 no socket");
}

TEST(LogDeathTest, AFailedComparisonPrintsBothValues) {
  const int want = 3;
  std::size_t got = 2;
  EXPECT_DEATH(CHECK_EQ(got, want) << "tasks", "Check failed: got == want \\(2 vs\\. 3\\) tasks");
  EXPECT_DEATH(CHECK_GT(got, 5u), "Check failed: got > 5u \\(2 vs\\. 5\\)");
}

TEST(LogDeathTest, PcheckSaysTheErrorOfErrno) {
  EXPECT_DEATH(
      {
        errno = EBADF;
        PCHECK(errno == 0) << "close";
      },
      "Check failed: errno == 0 close: Bad file descriptor \\[9\\]");
}

}  // namespace
}  // namespace weft::base

// Smoke test of weft-load's modes against the epoll baseline server (a real process): each mode
// runs a fraction of a second, must see no error, and must measure something. < 5 s in total.
#include <signal.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "bench/common/json_line.h"
#include "bench/load/load.h"
#include "bench/load/net.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"

namespace weft::bench {
namespace {

using ::weft::testing::ChildProcess;

class LoadSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ChildProcess> child = ChildProcess::Start({WEFT_EPOLL_ECHO_SERVER_PATH});
    ASSERT_TRUE(child.ok()) << child.status();
    server_.emplace(std::move(*child));
    absl::StatusOr<std::string> line = server_->ReadLine(absl::Seconds(5));
    ASSERT_TRUE(line.ok()) << line.status() << " " << server_->Stderr();
    absl::string_view rest = *line;
    ASSERT_TRUE(absl::ConsumePrefix(&rest, "epoll-echo-server ready port=")) << *line;
    absl::StatusOr<SocketAddress> target = ParseLoopbackTarget(absl::StrCat("127.0.0.1:", rest));
    ASSERT_TRUE(target.ok()) << target.status();
    options_.target = *target;
    options_.server_pid = server_->pid();
    options_.warmup = absl::Milliseconds(100);
    options_.duration = absl::Milliseconds(300);
    options_.op_timeout = absl::Seconds(2);
    options_.max_runtime = absl::Seconds(4);
  }

  void TearDown() override {
    if (server_) {
      server_->Signal(SIGTERM);
      EXPECT_TRUE(server_->Wait(absl::Seconds(5)).ok());
    }
  }

  // Run runs `mode` and checks the record is clean and `metric` is positive.
  void Run(LoadMode mode, const std::string& metric) {
    options_.mode = mode;
    absl::StatusOr<Report> report = RunLoad(options_);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->clean) << report->human;
    absl::StatusOr<JsonRecord> record = ParseJsonLine(report->json.ToString());
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->Number("errors"), 0) << report->human;
    EXPECT_GT(record->Number(metric).value_or(0), 0) << report->human;
  }

  std::optional<ChildProcess> server_;
  LoadOptions options_;
};

TEST_F(LoadSmokeTest, PingPongEchoesEveryMessage) {
  options_.conns = 8;
  options_.size = 64;
  Run(LoadMode::kPingPong, "msgs_per_s");
}

TEST_F(LoadSmokeTest, ConnRateCompletesConnectionsFromSeveralSources) {
  options_.conns = 4;
  options_.sources = 3;
  Run(LoadMode::kConnRate, "conns_per_s");
}

TEST_F(LoadSmokeTest, BulkStreamsVerifiedBytes) {
  options_.conns = 2;
  options_.size = 16 * 1024;
  Run(LoadMode::kBulk, "mib_per_s");
}

TEST_F(LoadSmokeTest, IdleHoldsProbedConnectionsAndSamplesTheServer) {
  options_.conns = 200;
  options_.duration = absl::Milliseconds(300);
  Run(LoadMode::kIdle, "server_rss_held_kib");
}

TEST(LoadTargetTest, RefusesNonLoopbackTargets) {
  EXPECT_TRUE(ParseLoopbackTarget("127.0.0.1:80").ok());
  EXPECT_TRUE(ParseLoopbackTarget("127.1.2.3:80").ok());
  EXPECT_TRUE(ParseLoopbackTarget("[::1]:80").ok());
  EXPECT_FALSE(ParseLoopbackTarget("10.0.0.1:80").ok());
  EXPECT_FALSE(ParseLoopbackTarget("0.0.0.0:80").ok());
  EXPECT_FALSE(ParseLoopbackTarget("[::ffff:127.0.0.1]:80").ok());
  EXPECT_FALSE(ParseLoopbackTarget("[2001:db8::1]:80").ok());
  EXPECT_FALSE(ParseLoopbackTarget("127.0.0.1:0").ok());
  EXPECT_FALSE(ParseLoopbackTarget("example.com:80").ok());
}

}  // namespace
}  // namespace weft::bench

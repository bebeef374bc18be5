// Close spreading: the schedule, and SpreadCloses against a real weft::Server's connections.
#include "control/daemon/close_spreader.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/loopback_client.h"
#include "weft/handlers/handler_registry.h"
#include "weft/server.h"

namespace weft::control {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(SpreadCloseTimesTest, SpacesTheClosesEvenlyEndingAtTheWindowsEnd) {
  EXPECT_EQ(
      SpreadCloseTimes(kStart, absl::Seconds(2), 4),
      (std::vector<absl::Time>{kStart + absl::Milliseconds(500), kStart + absl::Seconds(1),
                               kStart + absl::Milliseconds(1500), kStart + absl::Seconds(2)}));
}

TEST(SpreadCloseTimesTest, ASingleConnectionClosesAtTheWindowsEnd) {
  EXPECT_EQ(SpreadCloseTimes(kStart, absl::Seconds(3), 1),
            std::vector<absl::Time>{kStart + absl::Seconds(3)});
}

TEST(SpreadCloseTimesTest, NoConnectionsGiveNoCloses) {
  EXPECT_TRUE(SpreadCloseTimes(kStart, absl::Seconds(3), 0).empty());
}

TEST(SpreadCloseTimesTest, AnUnevenDivisionStillEndsExactlyAtTheWindowsEnd) {
  const std::vector<absl::Time> times = SpreadCloseTimes(kStart, absl::Seconds(1), 3);
  ASSERT_EQ(times.size(), 3u);
  EXPECT_GT(times[0], kStart);
  EXPECT_LT(times[0], times[1]);
  EXPECT_LT(times[1], times[2]);
  EXPECT_EQ(times[2], kStart + absl::Seconds(1));
}

// SpreadClosesTest: an echo server as a ManagedServer with a close_spread, and clients of it.
class SpreadClosesTest : public ::testing::Test {
 protected:
  void StartServer(absl::Duration close_spread) {
    absl::StatusOr<Handler> handler = BuiltinHandlers().Create("echo", {});
    ASSERT_TRUE(handler.ok()) << handler.status();
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.handler = *std::move(handler);
    options.observer = waiter_.Observer();
    managed_.name = "echo";
    managed_.close_spread = close_spread;
    managed_.server = std::make_unique<Server>(std::move(options));
    const absl::Status status = managed_.server->Run();
    ASSERT_TRUE(status.ok()) << status;
  }

  // Connect opens `count` clients, each served once.
  void Connect(int count) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(managed_.server->port());
      ASSERT_TRUE(client.ok()) << client.status();
      ASSERT_EQ(client->Echo("x").value_or(""), "x");
      clients_.push_back(*std::move(client));
    }
  }

  std::size_t OpenTasks() { return managed_.server->task_manager().AllTasks().size(); }

  void TearDown() override {
    if (managed_.server != nullptr) managed_.server->Stop();
  }

  DrainWaiter waiter_;
  ManagedServer managed_;
  std::vector<LoopbackClient> clients_;
};

TEST_F(SpreadClosesTest, ClosesEveryConnectionAndSkipsOneThatEndedBeforeItsTurn) {
  ASSERT_NO_FATAL_FAILURE(StartServer(absl::Seconds(3)));
  ASSERT_NO_FATAL_FAILURE(Connect(3));
  managed_.server->StopAccepting();
  CloseSpreadReport report;
  std::thread spreader([&] {
    report = SpreadCloses({&managed_}, &waiter_, absl::Now() + absl::Seconds(30), absl::Seconds(2));
  });
  // The first client's turn comes at 1s; the third (due at 3s) leaves by itself meanwhile.
  EXPECT_TRUE(clients_[0].ReadUntilClosed().ok());
  clients_[2].Close();
  EXPECT_TRUE(WaitUntil([&] { return OpenTasks() <= 1; }));
  EXPECT_TRUE(clients_[1].ReadUntilClosed().ok());
  spreader.join();
  EXPECT_EQ(report.closed, 2u);
  EXPECT_EQ(report.skipped, 1u);
  EXPECT_FALSE(report.aborted);
  EXPECT_EQ(OpenTasks(), 0u);
}

TEST_F(SpreadClosesTest, AbortCutsTheSpreadShort) {
  ASSERT_NO_FATAL_FAILURE(StartServer(absl::Minutes(10)));
  ASSERT_NO_FATAL_FAILURE(Connect(2));
  managed_.server->StopAccepting();
  CloseSpreadReport report;
  const absl::Time start = absl::Now();
  std::thread spreader([&] {
    report = SpreadCloses({&managed_}, &waiter_, absl::Now() + absl::Minutes(20), absl::Seconds(2));
  });
  waiter_.Abort();
  spreader.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(report.aborted);
  EXPECT_EQ(report.closed, 0u);
  EXPECT_EQ(OpenTasks(), 2u) << "an aborted spread leaves the rest to the drain's stop";
}

TEST_F(SpreadClosesTest, AListenerWithoutASpreadIsLeftAlone) {
  ASSERT_NO_FATAL_FAILURE(StartServer(absl::ZeroDuration()));
  ASSERT_NO_FATAL_FAILURE(Connect(2));
  const CloseSpreadReport report =
      SpreadCloses({&managed_}, &waiter_, absl::Now() + absl::Seconds(30), absl::Seconds(2));
  EXPECT_EQ(report.closed, 0u);
  EXPECT_EQ(OpenTasks(), 2u);
  EXPECT_EQ(clients_[0].Echo("still served").value_or(""), "still served");
}

}  // namespace
}  // namespace weft::control

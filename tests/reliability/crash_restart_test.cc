// Scenario 9 — crash and restart: weftd is killed with SIGKILL while it has open connections on
// its listener and its control port, and is restarted at once on the same fixed ports. The new
// process must bind at once (the dead one's connections linger in FIN_WAIT/TIME_WAIT on those
// ports: without SO_REUSEADDR the bind fails with EADDRINUSE for up to a minute) and serve.
//
// Sizes: WEFT_CRASH_CONNECTIONS (default 50), WEFT_CRASH_CYCLES (default 3).
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "tests/testing/weftd_process.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WeftdProcess;

TEST(CrashRestartTest, WeftdKilledWithOpenConnectionsRestartsAtOnceOnTheSamePorts) {
  const int connections = static_cast<int>(testing::EnvInt("WEFT_CRASH_CONNECTIONS", 50));
  const int cycles = static_cast<int>(testing::EnvInt("WEFT_CRASH_CYCLES", 3));
  testing::RaiseDescriptorLimit();
  absl::StatusOr<std::uint16_t> port = testing::PickFreePort();
  absl::StatusOr<std::uint16_t> control_port = testing::PickFreePort();
  ASSERT_TRUE(port.ok() && control_port.ok());
  ASSERT_NE(*port, *control_port);
  const std::string config = absl::StrCat(
      "control { address: \"127.0.0.1:", *control_port, "\" }\n",
      "listeners { name: \"echo\" port: ", *port,
      " handler { name: \"echo\" } drain_timeout: \"1s\" }\n");

  absl::Duration worst_restart = absl::ZeroDuration();
  int broken_seen = 0;
  std::unique_ptr<WeftdProcess> weftd;
  {
    absl::StatusOr<std::unique_ptr<WeftdProcess>> started = WeftdProcess::Start(WEFTD_PATH, config);
    ASSERT_TRUE(started.ok()) << started.status();
    weftd = std::move(*started);
  }
  for (int cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    ASSERT_EQ(weftd->port("echo"), *port);
    ASSERT_EQ(weftd->control_port(), *control_port);
    // Open connections, each proven served, plus raw connections to the control port.
    std::vector<LoopbackClient> clients;
    for (int i = 0; i < connections; ++i) {
      absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(*port);
      ASSERT_TRUE(client.ok()) << client.status();
      ASSERT_EQ(client->Echo("hello").value_or(""), "hello");
      clients.push_back(std::move(*client));
    }
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(*control_port);
      ASSERT_TRUE(client.ok()) << client.status();
      clients.push_back(std::move(*client));
    }

    weftd->process().Signal(SIGKILL);
    absl::StatusOr<int> status = weftd->process().Wait(absl::Seconds(10));
    ASSERT_TRUE(status.ok());
    ASSERT_TRUE(WIFSIGNALED(*status));
    // The clients stay open, so the dead server's sockets sit in FIN_WAIT2 on the port.
    const absl::Time killed = absl::Now();
    weftd.reset();
    absl::StatusOr<std::unique_ptr<WeftdProcess>> restarted =
        WeftdProcess::Start(WEFTD_PATH, config, {}, {}, absl::Seconds(20));
    ASSERT_TRUE(restarted.ok()) << "restart on the same ports failed: " << restarted.status();
    weftd = std::move(*restarted);
    absl::StatusOr<LoopbackClient> fresh = LoopbackClient::Connect(*port);
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    ASSERT_EQ(fresh->Echo("again").value_or(""), "again");
    worst_restart = std::max(worst_restart, absl::Now() - killed);

    // Every old connection was ended by the kernel (EOF or reset), none hangs.
    for (int i = 0; i < connections; ++i) {
      absl::StatusOr<std::string> rest = clients[i].ReadUntilClosed(absl::Seconds(5));
      EXPECT_TRUE(rest.ok()) << "an old connection hangs: " << rest.status();
      ++broken_seen;
    }
  }
  weftd->process().Signal(SIGTERM);
  absl::StatusOr<int> status = weftd->process().Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  testing::ReportFigure(
      {.scenario = "crash and restart",
       .load = absl::StrCat(connections, " open echo connections + 5 on the control port, ",
                            cycles, " kill/restart cycles"),
       .fault = "kill -9 of weftd, restarted at once on the same fixed ports",
       .figure = absl::StrFormat("restarted and serving within %d ms (worst cycle), no "
                                 "EADDRINUSE; %d old connections all saw EOF/RST",
                                 static_cast<int>(absl::ToInt64Milliseconds(worst_restart)),
                                 broken_seen),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

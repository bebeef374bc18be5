// Scenario 1 — descriptor exhaustion: a real weftd under a low RLIMIT_NOFILE is hit by far
// more clients than it has descriptors for. It must not crash, must not spin while saturated
// (CPU of the whole process < 10 % of a core over a measured window), its control plane must
// stay reachable while the data plane is saturated (the acceptor keeps a descriptor headroom:
// Debian 12's gRPC stops listening for good after one EMFILE on accept), and it must serve
// again once the clients leave.
//
// The library-level EMFILE behaviour (shed latency, clients admitted before the flood) is
// covered by tests/integration/emfile_test.cc against limited_echo_server; this test adds the
// daemon: the gRPC control plane shares the descriptor table and must neither spin nor die.
//
// The test binary uses gRPC only for control-plane calls; it is labelled -grpc because weftd
// is.
//
// Sizes: WEFT_EMFILE_CLIENTS (default 300), WEFT_EMFILE_LIMIT (default 64).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
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
#include "weft/control/v1/control.grpc.pb.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using ::weft::testing::WeftdProcess;

constexpr absl::Duration kPrompt = absl::Seconds(5);

constexpr char kConfig[] = R"pb(
control { address: "127.0.0.1:0" }
listeners { name: "echo" port: 0 handler { name: "echo" } drain_timeout: "1s" }
)pb";

bool EchoesAgain(std::uint16_t port) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
  if (!client.ok()) return false;
  absl::StatusOr<std::string> reply = client->Echo("back", absl::Seconds(3));
  return reply.ok() && *reply == "back";
}

bool Alive(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == 0; }

// ControlPlaneAnswers makes one ListServers call on a new connection.
grpc::Status ControlPlaneAnswers(std::uint16_t control_port) {
  auto stub = control::v1::Control::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", control_port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  control::v1::ListServersResponse servers;
  return stub->ListServers(&context, {}, &servers);
}

TEST(DescriptorExhaustionTest, WeftdUnderALowDescriptorLimitShedsStaysIdleAndRecovers) {
  const int limit = static_cast<int>(testing::EnvInt("WEFT_EMFILE_LIMIT", 64));
  const int clients = static_cast<int>(testing::EnvInt("WEFT_EMFILE_CLIENTS", 300));
  ASSERT_LT(clients * 2 + 64, testing::RaiseDescriptorLimit()) << "the test needs descriptors";

  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(
      WEFTD_PATH, kConfig, {}, testing::ChildProcess::Options{.descriptor_limit = limit});
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  const pid_t pid = (*weftd)->pid();
  const std::uint16_t port = (*weftd)->port("echo");
  const std::uint16_t control_port = static_cast<std::uint16_t>((*weftd)->control_port());
  ASSERT_NE(port, 0);
  const int idle_fds = testing::CountFdsOf(pid);

  // The flood: every client connects (the kernel completes handshakes whether or not weftd
  // can accept), then each sends one message.
  std::vector<LoopbackClient> data_clients;
  int connect_failed = 0;
  for (int i = 0; i < clients; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
    if (!client.ok()) {
      ++connect_failed;
      continue;
    }
    data_clients.push_back(std::move(*client));
  }
  for (LoopbackClient& client : data_clients) (void)client.Send("ping");
  int served = 0;
  int closed = 0;
  int hung = 0;
  std::vector<LoopbackClient> kept;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (LoopbackClient& client : data_clients) {
    const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
    absl::StatusOr<std::string> reply = client.ReadExactly(4, left);
    if (reply.ok() && *reply == "ping") {
      ++served;
      kept.push_back(std::move(client));
    } else if (!reply.ok() && absl::IsDeadlineExceeded(reply.status())) {
      ++hung;
    } else {
      ++closed;
    }
  }
  EXPECT_EQ(hung, 0) << "data clients neither served nor closed";
  EXPECT_GT(served, 0) << "weftd served nobody";
  EXPECT_GT(closed + connect_failed, 0) << "weftd never ran out of descriptors; nothing tested";
  ASSERT_TRUE(Alive(pid)) << "weftd died under EMFILE:\n" << (*weftd)->process().Stderr();
  const int saturated_fds = testing::CountFdsOf(pid);

  // Saturated: no busy loop anywhere in the process (acceptor, gRPC pollers).
  absl::StatusOr<double> share = testing::CpuShare(pid, absl::Seconds(1));
  ASSERT_TRUE(share.ok()) << share.status();
  EXPECT_LT(*share, 0.10) << "saturated weftd used " << *share * 100 << "% of a core";
  ASSERT_TRUE(Alive(pid));
  // An operator (or a readiness probe) reaches the control plane while the data plane is full.
  const grpc::Status saturated_call = ControlPlaneAnswers(control_port);
  EXPECT_TRUE(saturated_call.ok()) << "control plane unreachable while saturated: "
                                   << saturated_call.error_message() << "; weftd stderr:\n"
                                   << (*weftd)->process().Stderr();

  // The clients leave: weftd serves again.
  kept.clear();
  data_clients.clear();
  const absl::Time leave = absl::Now();
  const bool recovered = WaitUntil([&] { return EchoesAgain(port); }, absl::Seconds(10));
  const absl::Duration recovery = absl::Now() - leave;
  EXPECT_TRUE(recovered) << "weftd did not recover after the clients left";
  const grpc::Status listed = ControlPlaneAnswers(control_port);
  EXPECT_TRUE(listed.ok()) << "the control plane did not recover: " << listed.error_message()
                           << "; weftd stderr:\n" << (*weftd)->process().Stderr();
  EXPECT_TRUE(WaitUntil([&] { return testing::CountFdsOf(pid) <= idle_fds + 4; }))
      << "descriptors not released: " << testing::CountFdsOf(pid) << " open, " << idle_fds
      << " when idle";

  // And it still stops cleanly.
  (*weftd)->process().Signal(SIGTERM);
  absl::StatusOr<int> status = (*weftd)->process().Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << "no exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;

  testing::ReportFigure(
      {.scenario = "descriptor exhaustion",
       .load = absl::StrCat(clients, " clients at once on the data listener"),
       .fault = absl::StrCat("weftd RLIMIT_NOFILE=", limit),
       .figure = absl::StrFormat(
           "%d served, %d shed, 0 hung; saturated at %d fds: CPU %.1f%% of a core, control "
           "plane answers; serves again %d ms after clients leave",
           served, closed + connect_failed, saturated_fds, *share * 100,
           static_cast<int>(absl::ToInt64Milliseconds(recovery))),
       .result = testing::ResultOfCurrentTest()});
}

// A flood on the control port itself. Known failure: Debian 12's gRPC (1.51) stops listening
// for good when accept4 fails with EMFILE (src/core/lib/iomgr/tcp_server_posix.cc, on_read:
// "Failed accept4: Too many open files", then `goto error`, the listener is never re-armed),
// so once its own clients exhaust the descriptors the control plane never answers again.
// Upstream gRPC retries after a back-off in later releases. The acceptor's headroom cannot help
// here: it is gRPC's own clients that take the descriptors. Run with WEFT_RUN_KNOWN_FAILURES=1.
TEST(DescriptorExhaustionTest, ControlPortFloodLeavesTheControlPlaneServing) {
  if (std::getenv("WEFT_RUN_KNOWN_FAILURES") == nullptr) {
    testing::ReportFigure({.scenario = "descriptor exhaustion: control-port flood",
                           .load = "2 x RLIMIT_NOFILE clients on the control port",
                           .fault = "weftd RLIMIT_NOFILE=64",
                           .figure = "not run: gRPC 1.51 stops listening after EMFILE on accept4; "
                                     "the control plane never answers again (seen locally)",
                           .result = "skipped (known gRPC defect)"});
    GTEST_SKIP() << "gRPC 1.51 stops listening after EMFILE on accept4 (tcp_server_posix.cc); "
                    "set WEFT_RUN_KNOWN_FAILURES=1 to run";
  }
  const int limit = static_cast<int>(testing::EnvInt("WEFT_EMFILE_LIMIT", 64));
  testing::RaiseDescriptorLimit();
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(
      WEFTD_PATH, kConfig, {}, testing::ChildProcess::Options{.descriptor_limit = limit});
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  const std::uint16_t control_port = static_cast<std::uint16_t>((*weftd)->control_port());
  {
    std::vector<LoopbackClient> flood;
    for (int i = 0; i < 2 * limit; ++i) {
      absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(control_port);
      if (client.ok()) flood.push_back(std::move(*client));
    }
    EXPECT_TRUE(WaitUntil([&] {
      return (*weftd)->process().Stderr().find("Too many open files") != std::string::npos;
    }, absl::Seconds(5))) << "the flood did not exhaust descriptors";
  }
  const grpc::Status listed = ControlPlaneAnswers(control_port);
  EXPECT_TRUE(listed.ok()) << "the control plane did not recover: " << listed.error_message();
  testing::ReportFigure({.scenario = "descriptor exhaustion: control-port flood",
                         .load = absl::StrCat(2 * limit, " clients on the control port"),
                         .fault = absl::StrCat("weftd RLIMIT_NOFILE=", limit),
                         .figure = listed.ok() ? "control plane answers after the flood"
                                               : "control plane never answers again",
                         .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

// Scenario 5 — rude clients: half-close, a reset while the server writes, a client that stops
// reading while the handler writes (full socket buffers), clients that vanish. The server must
// never take SIGPIPE (the test keeps the default disposition, so one would kill it), no handler
// may stay stuck past the configured idle timeout (or past Stop's grace without one), and no
// descriptor or thread may leak.
//
// Sizes: WEFT_RUDE_CLIENTS (default 100 per vanishing kind).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "weft/handlers/handler_registry.h"
#include "weft/server.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr absl::Duration kIdleTimeout = absl::Milliseconds(300);

void ResetOnClose(const LoopbackClient& client) {
  const linger hard{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
}

class RudeClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A SIGPIPE anywhere in the server must kill this test, not be ignored.
    ::signal(SIGPIPE, SIG_DFL);
    testing::RaiseDescriptorLimit();
    fds_before_ = testing::CountOpenFds();
    threads_before_ = testing::SettledThreadCount();
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Stop(absl::ZeroDuration());
    server_.reset();
    EXPECT_TRUE(WaitUntil([&] { return testing::CountThreads() <= threads_before_; }))
        << "thread leak: " << testing::CountThreads() << " threads, " << threads_before_
        << " before";
    EXPECT_TRUE(WaitUntil([&] { return testing::CountOpenFds() <= fds_before_; }))
        << "descriptor leak: " << testing::CountOpenFds() << " open, " << fds_before_
        << " before";
  }

  // Serve starts a server with built-in handler `name` and the given idle timeout.
  void Serve(const std::string& name, absl::Duration idle_timeout) {
    absl::StatusOr<Handler> handler = BuiltinHandlers().Create(name, {});
    ASSERT_TRUE(handler.ok());
    ServerOptions options;
    options.handler = *handler;
    options.limits.idle_timeout = idle_timeout;
    server_ = std::make_unique<Server>(std::move(options));
    ASSERT_TRUE(server_->Run().ok());
  }

  // TasksEnd waits until the server runs no task and returns how long that took.
  absl::StatusOr<absl::Duration> TasksEnd(absl::Duration bound) {
    const absl::Time start = absl::Now();
    if (!WaitUntil([&] { return server_->stats().running == 0 && server_->stats().open == 0; },
                   bound)) {
      return absl::DeadlineExceededError(
          absl::StrCat(server_->stats().running, " tasks still running after ",
                       absl::FormatDuration(bound)));
    }
    return absl::Now() - start;
  }

  std::unique_ptr<Server> server_;
  int fds_before_ = 0;
  int threads_before_ = 0;
};

TEST_F(RudeClientsTest, HalfClosingClientGetsEverythingEchoedThenEndOfStream) {
  Serve("echo", kIdleTimeout * 10);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server_->port());
  ASSERT_TRUE(client.ok());
  const std::string data(64 * 1024, 'h');
  ASSERT_TRUE(client->Send(data).ok());
  ASSERT_TRUE(client->ShutdownWrite().ok());
  absl::StatusOr<std::string> echoed = client->ReadUntilClosed(absl::Seconds(5));
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->size(), data.size());
  absl::StatusOr<absl::Duration> ended = TasksEnd(absl::Seconds(2));
  EXPECT_TRUE(ended.ok()) << ended.status();
  testing::ReportFigure({.scenario = "rude clients: half-close",
                         .load = "1 echo client, 64 KiB",
                         .fault = "client shuts down its write side, keeps reading",
                         .figure = absl::StrFormat("%d of %d bytes echoed, then EOF; handler "
                                                   "ended",
                                                   static_cast<int>(echoed->size()),
                                                   static_cast<int>(data.size())),
                         .result = testing::ResultOfCurrentTest()});
}

TEST_F(RudeClientsTest, ResetDuringAServerWriteEndsTheHandlerWithoutSigpipe) {
  Serve("chargen", absl::InfiniteDuration());  // No timeout: only the reset can end it.
  const int kClients = 20;
  for (int i = 0; i < kClients; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client->ReadExactly(1000).ok());  // The handler is mid-stream.
    ResetOnClose(*client);
    client->Close();
  }
  absl::StatusOr<absl::Duration> ended = TasksEnd(absl::Seconds(5));
  EXPECT_TRUE(ended.ok()) << ended.status();
  testing::ReportFigure(
      {.scenario = "rude clients: reset during write",
       .load = absl::StrCat(kClients, " chargen clients (server writes continuously)"),
       .fault = "client closes with SO_LINGER 0 (RST) mid-stream",
       .figure = absl::StrFormat("all handlers ended %d ms after the last reset, no SIGPIPE",
                                 static_cast<int>(absl::ToInt64Milliseconds(
                                     ended.value_or(absl::ZeroDuration())))),
       .result = testing::ResultOfCurrentTest()});
}

TEST_F(RudeClientsTest, ClientThatStopsReadingIsCutOffByTheIdleTimeout) {
  Serve("chargen", kIdleTimeout);
  const int kClients = 10;
  std::vector<LoopbackClient> stalled;
  for (int i = 0; i < kClients; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(client.ok());
    stalled.push_back(std::move(*client));  // Never reads: both socket buffers fill up.
  }
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().running == kClients; }));
  // The handlers block in a write that makes no progress; the idle timeout must free them.
  absl::StatusOr<absl::Duration> ended = TasksEnd(kIdleTimeout + absl::Seconds(3));
  EXPECT_TRUE(ended.ok()) << ended.status();
  testing::ReportFigure(
      {.scenario = "rude clients: stops reading (idle timeout)",
       .load = absl::StrCat(kClients, " chargen clients that never read"),
       .fault = "full socket buffers, handler blocked writing; idle_timeout 300 ms",
       .figure = absl::StrFormat("every handler freed within %d ms",
                                 static_cast<int>(absl::ToInt64Milliseconds(
                                     ended.value_or(absl::InfiniteDuration())))),
       .result = testing::ResultOfCurrentTest()});
}

TEST_F(RudeClientsTest, ClientThatStopsReadingDoesNotHoldUpStopBeyondItsGrace) {
  Serve("chargen", absl::InfiniteDuration());
  const int kClients = 10;
  std::vector<LoopbackClient> stalled;
  for (int i = 0; i < kClients; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(client.ok());
    stalled.push_back(std::move(*client));
  }
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().running == kClients; }));
  const absl::Duration grace = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  const StopReport report = server_->Stop(grace);
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, grace + absl::Seconds(2));
  EXPECT_EQ(report.cooperative + report.forced, static_cast<std::size_t>(kClients));
  testing::ReportFigure(
      {.scenario = "rude clients: stops reading (Stop)",
       .load = absl::StrCat(kClients, " chargen clients that never read, no idle timeout"),
       .fault = "full socket buffers, handler blocked writing; Stop(grace 200 ms)",
       .figure = absl::StrFormat("Stop returned in %d ms (%d cooperative, %d forced)",
                                 static_cast<int>(absl::ToInt64Milliseconds(took)),
                                 static_cast<int>(report.cooperative),
                                 static_cast<int>(report.forced)),
       .result = testing::ResultOfCurrentTest()});
}

TEST_F(RudeClientsTest, VanishingClientsLeaveNothingBehind) {
  Serve("echo", kIdleTimeout);
  const int clients = static_cast<int>(testing::EnvInt("WEFT_RUDE_CLIENTS", 100));
  for (int i = 0; i < clients; ++i) {
    // Gone before sending anything.
    absl::StatusOr<LoopbackClient> quiet = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(quiet.ok());
    quiet->Close();
    // Reset in the middle of a request.
    absl::StatusOr<LoopbackClient> reset = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(reset.ok());
    ASSERT_TRUE(reset->Send("half a requ").ok());
    ResetOnClose(*reset);
    reset->Close();
  }
  // Silent ones that never close: only the idle timeout can tell they are gone.
  std::vector<LoopbackClient> silent;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server_->port());
    ASSERT_TRUE(client.ok());
    silent.push_back(std::move(*client));
  }
  // Each silent client is cut off by the idle timeout (so it was accepted); then nothing runs.
  // The others may or may not have been accepted: the kernel drops a connection reset while
  // it waits in the accept queue.
  const absl::Time silent_start = absl::Now();
  for (LoopbackClient& client : silent) {
    EXPECT_TRUE(client.ReadUntilClosed(kIdleTimeout + absl::Seconds(5)).ok())
        << "a silent client kept open";
  }
  const absl::Duration silent_cut = absl::Now() - silent_start;
  absl::StatusOr<absl::Duration> ended = TasksEnd(absl::Seconds(5));
  EXPECT_TRUE(ended.ok()) << ended.status();
  const std::uint64_t accepted = server_->stats().accepted;
  EXPECT_GE(accepted, 10u);
  EXPECT_LE(accepted, static_cast<std::uint64_t>(2 * clients + 10));
  testing::ReportFigure(
      {.scenario = "rude clients: vanish",
       .load = absl::StrCat(clients, " close at once + ", clients,
                            " reset mid-request + 10 silent"),
       .fault = "clients disappear (FIN, RST, or silence); idle_timeout 300 ms",
       .figure = absl::StrFormat("all %d accepted handlers ended; silent ones cut after %d ms; "
                                 "no fd/thread leak",
                                 static_cast<int>(accepted),
                                 static_cast<int>(absl::ToInt64Milliseconds(silent_cut))),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

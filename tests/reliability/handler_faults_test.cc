// Scenario 4 — handler faults: a storm of connections whose handlers throw std::runtime_error,
// throw a non-standard exception, throw weft::ThreadShutdown, return in the middle of a
// response, or serve normally. The server must stay up, close every connection (each client
// sees EOF or a reset, none hangs), and its counters must add up: accepted = connections,
// failed = handlers that threw (ThreadShutdown excluded), and the observer saw as many
// failed kTaskFinished events.
//
// Sizes: WEFT_FAULT_CONNECTIONS (default 2000, 1000 under sanitizers; 10000 for the full run).
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "weft/server.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr int kClientThreads = 8;
constexpr char kPartial[] = "partial response, then the handler returns";

// Modes, chosen by the first byte the client sends.
constexpr char kThrowStd = 'r';
constexpr char kThrowOther = 'x';
constexpr char kThrowShutdown = 's';
constexpr char kMidWrite = 'w';
constexpr char kEcho = 'e';
constexpr char kModes[] = {kThrowStd, kThrowOther, kThrowShutdown, kMidWrite, kEcho};

void FaultyHandler(Connection& connection, const HandlerArgs&) {
  char mode = 0;
  absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&mode, 1));
  if (!n.ok() || *n == 0) return;
  switch (mode) {
    case kThrowStd:
      throw std::runtime_error("handler fault injected by the test");
    case kThrowOther:
      throw 42;
    case kThrowShutdown:
      throw ThreadShutdown{};
    case kMidWrite:
      // Half a response, with the client's rest of request unread: closing then resets.
      (void)connection.WriteAll(kPartial);
      return;
    default: {
      char buffer[256];
      while (true) {
        absl::StatusOr<std::size_t> r = connection.Read(absl::MakeSpan(buffer));
        if (!r.ok() || *r == 0) return;
        if (!connection.WriteAll(absl::string_view(buffer, *r)).ok()) return;
      }
    }
  }
}

// CountingObserver counts finished tasks, failed ones, and refusals.
class CountingObserver final : public ServerObserver {
 public:
  void OnEvent(const ServerEvent& event) override {
    if (event.kind == ServerEvent::Kind::kTaskFinished) {
      finished.fetch_add(1);
      if (event.failed) failed.fetch_add(1);
    } else if (event.kind == ServerEvent::Kind::kConnectionRefused) {
      refused.fetch_add(1);
    }
  }
  std::atomic<std::int64_t> finished{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> refused{0};
};

TEST(HandlerFaultsTest, AStormOfFaultingHandlersClosesEveryConnectionAndTheCountersAddUp) {
  const int connections = static_cast<int>(
      testing::EnvInt("WEFT_FAULT_CONNECTIONS", testing::kSanitized ? 1000 : 2000));
  testing::RaiseDescriptorLimit();
  const int fds_before = testing::CountOpenFds();
  const int threads_before = testing::SettledThreadCount();
  auto observer = std::make_shared<CountingObserver>();
  ServerOptions options;
  options.handler = FaultyHandler;
  options.manager = std::make_unique<ThreadedTaskManager>(
      ThreadedTaskManagerOptions{.limit = 64, .max_queued = 4096});
  options.limits.idle_timeout = absl::Seconds(5);  // A backstop; no handler should need it.
  options.observer = observer;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();

  std::atomic<int> next{0};
  std::atomic<int> closed{0};
  std::atomic<int> hung{0};
  std::atomic<int> connect_failed{0};
  std::atomic<int> wrong{0};
  std::atomic<int> expected_failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> clients;
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back([&] {
      for (int i = next.fetch_add(1); i < connections; i = next.fetch_add(1)) {
        const char mode = kModes[i % std::size(kModes)];
        if (mode == kThrowStd || mode == kThrowOther) expected_failures.fetch_add(1);
        absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
        if (!client.ok()) {
          connect_failed.fetch_add(1);
          continue;
        }
        std::string request(1, mode);
        request += "some request bytes";
        if (!client->Send(request).ok()) {
          closed.fetch_add(1);  // Already reset by the server: closed, not hung.
          continue;
        }
        if (mode == kEcho) (void)client->ShutdownWrite();
        absl::StatusOr<std::string> reply = client->ReadUntilClosed(absl::Seconds(10));
        if (!reply.ok()) {
          (absl::IsDeadlineExceeded(reply.status()) ? hung : wrong).fetch_add(1);
          continue;
        }
        closed.fetch_add(1);
        if (mode == kEcho && *reply != "some request bytes") wrong.fetch_add(1);
        // A reset may cut the partial response short, but nothing else may arrive.
        if (mode == kMidWrite && std::string(kPartial).find(*reply) != 0) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : clients) thread.join();
  const absl::Duration took = absl::Now() - start;

  EXPECT_EQ(hung.load(), 0) << "connections left open by a faulting handler";
  EXPECT_EQ(connect_failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(closed.load(), connections);
  EXPECT_EQ(server.state(), ServerState::kRunning) << "the server went down";
  ASSERT_TRUE(WaitUntil([&] { return observer->finished.load() == connections; }))
      << observer->finished.load() << " of " << connections << " tasks finished";
  const ServerStats stats = server.stats();
  EXPECT_EQ(stats.accepted, static_cast<std::uint64_t>(connections));
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_EQ(stats.failed, static_cast<std::uint64_t>(expected_failures.load()));
  EXPECT_EQ(observer->failed.load(), expected_failures.load());
  EXPECT_TRUE(WaitUntil([&] { return server.stats().open == 0; }));

  // Still serving after the storm.
  absl::StatusOr<LoopbackClient> after = LoopbackClient::Connect(port);
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(after->Send("eafter").ok());
  ASSERT_TRUE(after->ShutdownWrite().ok());
  EXPECT_EQ(after->ReadUntilClosed().value_or(""), "after");
  after->Close();
  server.Stop();
  EXPECT_TRUE(WaitUntil([&] { return testing::CountThreads() <= threads_before; }))
      << testing::CountThreads() << " threads, " << threads_before << " before";
  EXPECT_TRUE(WaitUntil([&] { return testing::CountOpenFds() <= fds_before + 2; }))
      << testing::CountOpenFds() << " fds, " << fds_before << " before";

  testing::ReportFigure(
      {.scenario = "handler faults",
       .load = absl::StrCat(connections, " connections from ", kClientThreads,
                            " client threads, threaded manager limit 64"),
       .fault = "1/5 each: throw std::runtime_error, throw int, throw ThreadShutdown, return "
                "mid-write, normal echo",
       .figure = absl::StrFormat("%d/%d closed, 0 hung; accepted %d, failed %d (= throws), "
                                 "server up; %.0f conn/s",
                                 closed.load(), connections, static_cast<int>(stats.accepted),
                                 static_cast<int>(stats.failed),
                                 connections / absl::ToDoubleSeconds(took)),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

// Scenario 3 — churn and restart soak: many short connections while the server is stopped and
// started again 100 times (Server::Stop / Server::Run on the same port, what the control
// plane's StopServer / RunServer do). Afterwards descriptors, threads and resident memory must
// be back at their baseline, taken with the server running idle after a warm-up.
//
// RSS tolerance: 8 MiB or 10 % of the baseline, whichever is larger (malloc keeps freed arenas
// of the per-connection threads; a leak of even 100 bytes per connection would exceed it at
// 300,000 connections). Sanitizer builds keep freed memory in quarantine, so there the RSS is
// reported but only checked against a 512 MiB bound.
//
// Sizes: WEFT_CHURN_CONNECTIONS (default 20000; 2000 under sanitizers; 300000 for the full run),
// WEFT_CHURN_CYCLES (default 100).
#include <unistd.h>

#include <atomic>
#include <memory>
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
#include "weft/handlers/handler_registry.h"
#include "weft/server.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr int kClientThreads = 4;

// Exchange: what one short connection saw.
enum class Exchange { kOk, kRefused, kCut, kHung };

// OneExchange: connect, echo one message, close. A stop in progress refuses the connect or
// resets the connection: both expected; a hang is not.
Exchange OneExchange(std::uint16_t port) {
  absl::StatusOr<LoopbackClient> client =
      LoopbackClient::Connect(port, "127.0.0.1", absl::Seconds(5));
  if (!client.ok()) {
    return absl::IsDeadlineExceeded(client.status()) ? Exchange::kHung : Exchange::kRefused;
  }
  absl::StatusOr<std::string> reply = client->Echo("churn", absl::Seconds(5));
  if (reply.ok() && *reply == "churn") return Exchange::kOk;
  return !reply.ok() && absl::IsDeadlineExceeded(reply.status()) ? Exchange::kHung
                                                                  : Exchange::kCut;
}

TEST(ChurnSoakTest, ShortConnectionsAndRestartCyclesReturnToBaseline) {
  const int connections = static_cast<int>(
      testing::EnvInt("WEFT_CHURN_CONNECTIONS", testing::kSanitized ? 2000 : 20000));
  const int cycles = static_cast<int>(testing::EnvInt("WEFT_CHURN_CYCLES", 100));
  testing::RaiseDescriptorLimit();
  const pid_t self = ::getpid();
  const int fds_at_start = testing::CountOpenFds();
  const int threads_at_start = testing::SettledThreadCount();

  absl::StatusOr<Handler> echo = BuiltinHandlers().Create("echo", {});
  ASSERT_TRUE(echo.ok());
  ServerOptions options;
  options.handler = *echo;
  options.stop_grace = absl::Milliseconds(100);
  // The default manager, with its idle-thread cache emptied quickly: the threads left waiting
  // for the next connection are then gone before the baseline is checked.
  options.manager = std::make_unique<ThreadedTaskManager>(
      ThreadedTaskManagerOptions{.idle_thread_timeout = absl::Milliseconds(100)});
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  server.set_port(port);  // Every restart binds the same port, as weftd does.

  // Warm-up, then the baseline: the server running idle.
  for (int i = 0; i < 500; ++i) ASSERT_EQ(OneExchange(port), Exchange::kOk);
  ASSERT_TRUE(WaitUntil([&] { return server.stats().open == 0; }));
  ASSERT_TRUE(WaitUntil([&] { return testing::CountThreads() <= threads_at_start + 1; }));
  const int base_fds = testing::CountOpenFds();
  const int base_threads = testing::CountThreads();
  const std::int64_t base_rss = testing::RssKb(self).value_or(0);

  // A connection counts once it reached the server (ok, or cut by a stop); connects refused
  // while the server is stopped are retried, up to a bound.
  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::atomic<int> hung{0};
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + absl::Seconds(testing::kSanitized ? 240 : 120);
  std::vector<std::thread> clients;
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back([&] {
      while (done.load() < connections && refused.load() < 20 * connections &&
             absl::Now() < give_up) {
        switch (OneExchange(port)) {
          case Exchange::kOk:
            ok.fetch_add(1);
            done.fetch_add(1);
            break;
          case Exchange::kCut:
            done.fetch_add(1);
            break;
          case Exchange::kRefused:
            refused.fetch_add(1);
            testing::PauseBriefly();  // A client's retry back-off while the server restarts.
            break;
          case Exchange::kHung:
            hung.fetch_add(1);
            done.fetch_add(1);
            break;
        }
      }
    });
  }
  // The restart cycles, spread over the load: each waits for a share of successful exchanges
  // (a refused connect during a stop takes microseconds, so counting attempts would run the
  // cycles back to back).
  int cycles_done = 0;
  int run_failures = 0;
  const int ok_per_cycle = connections / (cycles + 2);
  for (int c = 1; c <= cycles; ++c) {
    WaitUntil([&] { return ok.load() >= ok_per_cycle * c || done.load() >= connections; },
              absl::Seconds(30));
    server.Stop();
    if (!server.Run().ok()) ++run_failures;
    ++cycles_done;
  }
  for (std::thread& thread : clients) thread.join();
  const absl::Duration took = absl::Now() - start;

  EXPECT_EQ(hung.load(), 0) << "connections hung";
  EXPECT_EQ(run_failures, 0) << "Run failed after Stop (address in use?)";
  EXPECT_GE(done.load(), connections) << "the load did not finish in time";
  // A stop can cut only what is in flight: one connection per client thread (being served or
  // waiting in the accept queue).
  EXPECT_LE(done.load() - ok.load() - hung.load(), cycles_done * kClientThreads)
      << "more connections cut than the stops account for";

  // Back to baseline, with the server running idle again.
  ASSERT_TRUE(WaitUntil([&] { return server.stats().open == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return testing::CountThreads() <= base_threads; }))
      << testing::CountThreads() << " threads, baseline " << base_threads;
  EXPECT_TRUE(WaitUntil([&] { return testing::CountOpenFds() <= base_fds; }))
      << testing::CountOpenFds() << " fds, baseline " << base_fds;
  const std::int64_t end_rss = testing::RssKb(self).value_or(0);
  const std::int64_t tolerance =
      testing::kSanitized ? 512 * 1024 : std::max<std::int64_t>(8 * 1024, base_rss / 10);
  EXPECT_LE(end_rss - base_rss, tolerance) << "RSS grew from " << base_rss << " to " << end_rss
                                           << " KiB";
  const int end_fds = testing::CountOpenFds();
  const int end_threads = testing::CountThreads();
  server.Stop();
  EXPECT_TRUE(WaitUntil([&] { return testing::CountThreads() <= threads_at_start; }));
  EXPECT_TRUE(WaitUntil([&] { return testing::CountOpenFds() <= fds_at_start; }));

  testing::ReportFigure(
      {.scenario = "churn and restart soak",
       .load = absl::StrCat(connections, " short echo connections from ", kClientThreads,
                            " threads"),
       .fault = absl::StrCat(cycles_done, " Stop/Run cycles on the same port under the load"),
       .figure = absl::StrFormat(
           "%.0f conn/s, %d ok, %d cut by a stop, %d hung (+%d connects refused while stopped); "
           "fds %d->%d, threads %d->%d, RSS "
           "%lld->%lld KiB (tolerance %lld KiB)",
           done.load() / absl::ToDoubleSeconds(took), ok.load(), done.load() - ok.load(),
           hung.load(), refused.load(), base_fds, end_fds,
           base_threads, end_threads, static_cast<long long>(base_rss),
           static_cast<long long>(end_rss), static_cast<long long>(tolerance)),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

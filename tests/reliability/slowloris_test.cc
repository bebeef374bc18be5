// Scenario 2 — slowloris: many clients connect to an HTTP listener and trickle a request one
// byte at a time, each byte inside the idle timeout so that it never fires. Meanwhile
// well-behaved clients arrive; at least 99 % of them must be served within a second each.
//
// What makes this pass: a thread-per-connection manager whose limit is well above the number of
// tricklers (a trickler costs a parked thread and three descriptors, not CPU), the idle timeout
// (a client that stops trickling is cut off) and the lifetime cap (a trickler that keeps going
// is cut off after max_lifetime, so it cannot hold a slot for ever). A limit below the number
// of tricklers would queue the well-behaved clients behind them until the lifetime cap.
//
// Sizes: WEFT_SLOWLORIS_CLIENTS (default 1000; 300 under sanitizers),
// WEFT_SLOWLORIS_INTERVAL_MS (default 500; a real attack uses seconds),
// WEFT_SLOWLORIS_SECONDS (default 4), WEFT_SLOWLORIS_GOOD (well-behaved clients, default 200).
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "weft/base/sync.h"
#include "weft/handlers/handler_registry.h"
#include "weft/server.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr char kHeaderStart[] = "GET / HTTP/1.1\r\nHost: weft\r\n";
constexpr char kGoodRequest[] = "GET / HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n";
constexpr int kGoodThreads = 4;

TEST(SlowlorisTest, WellBehavedClientsAreServedPromptlyWhileTricklersHoldConnections) {
  const int tricklers = static_cast<int>(
      testing::EnvInt("WEFT_SLOWLORIS_CLIENTS", testing::kSanitized ? 300 : 1000));
  const absl::Duration interval =
      absl::Milliseconds(testing::EnvInt("WEFT_SLOWLORIS_INTERVAL_MS", 500));
  const absl::Duration duration = absl::Seconds(testing::EnvInt("WEFT_SLOWLORIS_SECONDS", 4));
  const int good = static_cast<int>(testing::EnvInt("WEFT_SLOWLORIS_GOOD", 200));
  ASSERT_GT(testing::RaiseDescriptorLimit(), 4 * tricklers + 200) << "not enough descriptors";

  // The listener: idle timeout 4 intervals, lifetime cap just under the attack's duration.
  const absl::Duration idle_timeout = 4 * interval;
  const absl::Duration max_lifetime = duration - absl::Milliseconds(500);
  absl::StatusOr<Handler> handler = BuiltinHandlers().Create("http-hello", {});
  ASSERT_TRUE(handler.ok());
  ServerOptions options;
  options.handler = *handler;
  options.manager = std::make_unique<ThreadedTaskManager>(ThreadedTaskManagerOptions{
      .limit = static_cast<std::size_t>(2 * tricklers + 256), .max_queued = 1024});
  options.limits.idle_timeout = idle_timeout;
  options.limits.max_lifetime = max_lifetime;
  options.backlog = 4096;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();

  // The attack: every trickler sends the start of a request, then one header byte per round.
  // Rounds run from the first connection on (the setup itself can outlast the idle timeout on
  // a loaded machine), on this thread during the setup and on `trickle` afterwards.
  std::vector<LoopbackClient> slow;
  std::vector<absl::Time> connected;
  std::vector<bool> gone;
  slow.reserve(tricklers);
  std::atomic<int> cut_off{0};  // Tricklers the server closed.
  // The youngest age at which the server closed a trickler: the lifetime cap, not earlier.
  absl::Duration youngest_cut = absl::InfiniteDuration();
  std::size_t round = 0;
  absl::Time last_round = absl::Now();
  const std::string header = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  auto trickle_round = [&] {
    for (std::size_t i = 0; i < slow.size(); ++i) {
      if (gone[i]) continue;
      char scratch[512];
      const ssize_t r = ::recv(slow[i].fd(), scratch, sizeof scratch, MSG_DONTWAIT);
      const char byte = header[round % header.size()];
      if (r == 0 || (r < 0 && errno != EAGAIN) ||
          ::send(slow[i].fd(), &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        gone[i] = true;
        cut_off.fetch_add(1);
        youngest_cut = std::min(youngest_cut, absl::Now() - connected[i]);
      }
    }
    ++round;
    last_round = absl::Now();
  };
  auto trickle_if_due = [&] {
    if (absl::Now() - last_round >= interval) trickle_round();
  };
  for (int i = 0; i < tricklers; ++i) {
    connected.push_back(absl::Now());
    gone.push_back(false);
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
    ASSERT_TRUE(client.ok()) << "trickler " << i << ": " << client.status();
    ASSERT_TRUE(client->Send(kHeaderStart).ok());
    slow.push_back(std::move(*client));
    trickle_if_due();
  }
  ASSERT_TRUE(WaitUntil([&] {
    trickle_if_due();
    return server.stats().accepted >= std::uint64_t(tricklers);
  })) << "only " << server.stats().accepted << " of " << tricklers << " tricklers accepted";

  Notification attack_over;
  const absl::Time attack_start = absl::Now();
  std::thread trickle([&] {
    while (!attack_over.WaitForNotificationWithTimeout(interval)) {
      if (absl::Now() - attack_start > duration + absl::Seconds(10)) break;  // Bounded.
      trickle_round();
    }
  });

  // Well-behaved clients arrive throughout the attack.
  Mutex mu;
  std::vector<absl::Duration> latencies;
  std::atomic<int> served{0};
  std::atomic<int> next{0};
  const absl::Duration spacing = (duration - absl::Seconds(1)) / std::max(1, good / kGoodThreads);
  std::vector<std::thread> good_clients;
  for (int t = 0; t < kGoodThreads; ++t) {
    good_clients.emplace_back([&] {
      for (int i = next.fetch_add(1); i < good; i = next.fetch_add(1)) {
        const absl::Time start = absl::Now();
        absl::StatusOr<LoopbackClient> client =
            LoopbackClient::Connect(port, "127.0.0.1", absl::Seconds(5));
        bool ok = client.ok() && client->Send(kGoodRequest).ok();
        absl::StatusOr<std::string> reply =
            ok ? client->ReadUntilClosed(absl::Seconds(5)) : absl::UnknownError("");
        ok = reply.ok() && absl::StartsWith(*reply, "HTTP/1.1 200 OK");
        const absl::Duration took = absl::Now() - start;
        if (ok && took < absl::Seconds(1)) served.fetch_add(1);
        {
          MutexLock lock(&mu);
          latencies.push_back(ok ? took : absl::InfiniteDuration());
        }
        // Load shape: spread the arrivals over the attack.
        attack_over.WaitForNotificationWithTimeout(spacing);
      }
    });
  }
  for (std::thread& thread : good_clients) thread.join();
  // Let the attack run its course so that the lifetime cap is seen to act.
  WaitUntil([&] { return cut_off.load() == tricklers; }, duration + absl::Seconds(5));
  attack_over.Notify();
  trickle.join();

  std::sort(latencies.begin(), latencies.end());
  const absl::Duration p50 = latencies[latencies.size() / 2];
  const absl::Duration p99 = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  const double share = 100.0 * served.load() / good;
  EXPECT_GE(share, 99.0) << served.load() << " of " << good << " served within 1 s";
  EXPECT_EQ(cut_off.load(), tricklers) << "tricklers outlived the lifetime cap";
  EXPECT_GE(youngest_cut, max_lifetime) << "a trickler was cut off before the lifetime cap";
  slow.clear();
  EXPECT_TRUE(WaitUntil([&] { return server.stats().open == 0; }));
  server.Stop();

  testing::ReportFigure(
      {.scenario = "slowloris",
       .load = absl::StrCat(tricklers, " trickling clients + ", good,
                            " well-behaved HTTP clients arriving meanwhile"),
       .fault = absl::StrCat("one header byte every ", absl::FormatDuration(interval),
                             " per trickler; threaded limit ", 2 * tricklers + 256,
                             ", idle_timeout ", absl::FormatDuration(idle_timeout),
                             ", max_lifetime ", absl::FormatDuration(max_lifetime)),
       .figure = absl::StrFormat(
           "well-behaved served %.1f%% within 1 s, p50 %.1f ms, p99 %.1f ms; %d/%d tricklers cut "
           "off by the lifetime cap (youngest at %.1f s)",
           share, absl::ToDoubleMilliseconds(p50), absl::ToDoubleMilliseconds(p99),
           cut_off.load(), tricklers, absl::ToDoubleSeconds(youngest_cut)),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

// weftd's close spreading end to end (Listener.close_spread): the idle keep-alive clients of a
// draining daemon see their connections close one by one over the window, not all together.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/weftd_process.h"

namespace weft {
namespace {

using ::testing::HasSubstr;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WeftdProcess;

constexpr int kClients = 40;
constexpr char kRequest[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
constexpr char kResponseEnd[] = "\r\n\r\nHello, World!\n";

// Config: an http-hello listener "web" with the given drain_timeout and close_spread (empty:
// left out, the default).
std::string Config(const std::string& drain_timeout, const std::string& close_spread) {
  return absl::StrCat(
      "control { address: \"127.0.0.1:0\" }\n",
      "listeners { name: \"web\" port: 0 handler { name: \"http-hello\" } drain_timeout: \"",
      drain_timeout, "\"",
      close_spread.empty() ? "" : absl::StrCat(" close_spread: \"", close_spread, "\""), " }\n");
}

// ReadResponse reads one http-hello response (its fixed body ends it).
absl::StatusOr<std::string> ReadResponse(LoopbackClient& client) {
  const absl::Time deadline = absl::Now() + testing::kTestTimeout;
  std::string response;
  while (!absl::EndsWith(response, kResponseEnd)) {
    absl::StatusOr<std::string> byte = client.ReadExactly(1, deadline - absl::Now());
    if (!byte.ok()) return byte.status();
    response += *byte;
  }
  return response;
}

// ConnectServedClients opens `count` keep-alive clients to `port`, each answered once and left
// idle.
std::vector<LoopbackClient> ConnectServedClients(std::uint16_t port, int count) {
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) break;
    EXPECT_TRUE(client->Send(kRequest).ok());
    absl::StatusOr<std::string> response = ReadResponse(*client);
    EXPECT_TRUE(response.ok()) << response.status();
    if (response.ok()) {
      EXPECT_TRUE(absl::StartsWith(*response, "HTTP/1.1 200 OK\r\n"));
      EXPECT_THAT(*response, ::testing::Not(HasSubstr("Connection: close")));
    }
    clients.push_back(*std::move(client));
  }
  return clients;
}

// CloseTimes blocks in poll(2) on every client until each has seen end of stream (or a reset),
// or `timeout` passes, and returns when each closed, relative to `since`, sorted; a client
// still open at the timeout is left out. Bytes arriving instead of the end fail the test.
std::vector<absl::Duration> CloseTimes(std::vector<LoopbackClient>& clients, absl::Time since,
                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<pollfd> open;
  for (LoopbackClient& client : clients) open.push_back({client.fd(), POLLIN, 0});
  std::vector<absl::Duration> times;
  while (!open.empty()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const int ready =
        ::poll(open.data(), open.size(), static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const absl::Time now = absl::Now();
    for (pollfd& p : open) {
      if (p.revents == 0) continue;
      char buffer[256];
      const ssize_t n = ::recv(p.fd, buffer, sizeof buffer, 0);
      EXPECT_LE(n, 0) << "an idle client received " << n << " bytes during the drain";
      if (n <= 0) {
        times.push_back(now - since);
        p.fd = -1;
      }
    }
    open.erase(std::remove_if(open.begin(), open.end(), [](const pollfd& p) { return p.fd < 0; }),
               open.end());
  }
  std::sort(times.begin(), times.end());
  return times;
}

// PrintTimes writes the close times, in milliseconds after SIGTERM, to stderr.
void PrintTimes(const std::string& label, const std::vector<absl::Duration>& times) {
  std::vector<std::int64_t> ms;
  for (absl::Duration t : times) ms.push_back(absl::ToInt64Milliseconds(t));
  fprintf(stderr, "%s: %zu closes, ms after SIGTERM: %s\n", label.c_str(), times.size(),
          absl::StrJoin(ms, " ").c_str());
}

// MostInOneSlice returns the largest number of `times` (sorted) within any `slice`.
std::size_t MostInOneSlice(const std::vector<absl::Duration>& times, absl::Duration slice) {
  std::size_t most = 0;
  for (std::size_t first = 0, last = 0; last < times.size(); ++last) {
    while (times[last] - times[first] >= slice) ++first;
    most = std::max(most, last - first + 1);
  }
  return most;
}

// NoneClosed checks that no client has seen anything yet.
bool NoneClosed(std::vector<LoopbackClient>& clients) {
  std::vector<pollfd> fds;
  for (LoopbackClient& client : clients) fds.push_back({client.fd(), POLLIN, 0});
  return ::poll(fds.data(), fds.size(), 0) == 0;
}

TEST(WeftdCloseSpreadTest, IdleKeepAliveConnectionsCloseOneByOneOverTheWindow) {
  constexpr absl::Duration kSpread = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
      WeftdProcess::Start(WEFTD_PATH, Config("20s", "2s"));
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  std::vector<LoopbackClient> clients = ConnectServedClients((*weftd)->port("web"), kClients);
  ASSERT_EQ(clients.size(), kClients);
  ASSERT_TRUE(NoneClosed(clients));

  const absl::Time signalled = absl::Now();
  (*weftd)->process().Signal(SIGTERM);
  const std::vector<absl::Duration> times = CloseTimes(clients, signalled, absl::Seconds(30));
  PrintTimes("close_spread 2s", times);
  absl::StatusOr<int> status = (*weftd)->process().Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  ASSERT_EQ(times.size(), kClients) << "some clients were never closed";
  // The first turn comes a 40th of the window after the drain started (after the signal), the
  // last at its end: nothing closes at once, and the closes fill the window.
  EXPECT_GE(times.front(), kSpread / kClients);
  EXPECT_GE(times.back(), kSpread);
  EXPECT_GE(times.back() - times.front(), kSpread / 2);
  EXPECT_LT(times.back(), absl::Seconds(20)) << "closed by the drain timeout, not the spread";
  EXPECT_LE(MostInOneSlice(times, kSpread / 10), static_cast<std::size_t>(kClients / 4));
  const std::string logs = (*weftd)->process().Stderr();
  EXPECT_THAT(logs, HasSubstr("closing 40 idle connections on listener \"web\" spread over 2s"));
  EXPECT_THAT(logs, HasSubstr("40 connections asked to close, 0 had ended by themselves"));
  EXPECT_THAT(logs, HasSubstr("drained: every connection has ended"));
}

// The control: without close_spread, idle connections are held until the drain timeout and
// then all closed at the same instant.
TEST(WeftdCloseSpreadTest, WithoutASpreadIdleConnectionsAllCloseAtTheDrainTimeout) {
  constexpr absl::Duration kDrainTimeout = absl::Seconds(3);
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
      WeftdProcess::Start(WEFTD_PATH, Config("3s", ""));
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  std::vector<LoopbackClient> clients = ConnectServedClients((*weftd)->port("web"), kClients);
  ASSERT_EQ(clients.size(), kClients);

  const absl::Time signalled = absl::Now();
  (*weftd)->process().Signal(SIGTERM);
  const std::vector<absl::Duration> times = CloseTimes(clients, signalled, absl::Seconds(30));
  PrintTimes("no close_spread, drain_timeout 3s", times);
  absl::StatusOr<int> status = (*weftd)->process().Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();

  ASSERT_EQ(times.size(), kClients);
  EXPECT_GE(times.front(), kDrainTimeout);
  EXPECT_LT(times.back() - times.front(), absl::Seconds(1));
  EXPECT_THAT((*weftd)->process().Stderr(),
              HasSubstr("drain ended with 40 connections still open"));
}

}  // namespace
}  // namespace weft

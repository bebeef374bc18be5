// EMFILE: a real server process under a small descriptor limit, flooded with more clients than
// it has descriptors for, must shed the excess promptly, stay alive and idle, recover once the
// clients leave, and still stop cleanly.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "weft/unique_fd.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"

extern char** environ;

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr absl::Duration kPrompt = absl::Seconds(5);
constexpr int kDescriptorLimit = 64;
constexpr int kClients = 150;

class EmfileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // Spawn starts the helper with `limit` descriptors and returns the port it reports.
  absl::StatusOr<std::uint16_t> Spawn(int limit) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
    UniqueFd read_end(pipe_fds[0]);
    UniqueFd write_end(pipe_fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::string path = WEFT_LIMITED_ECHO_PATH;
    std::string limit_arg = std::to_string(limit);
    char* argv[] = {path.data(), limit_arg.data(), nullptr};
    const int rc = ::posix_spawn(&pid_, path.c_str(), &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return absl::ErrnoToStatus(rc, absl::StrCat("posix_spawn ", path));
    }
    write_end.Reset();  // Only the child holds the write end now: its exit means EOF.

    std::string line;
    const absl::Time deadline = absl::Now() + kPrompt;
    while (line.find('\n') == std::string::npos) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no port from child");
      pollfd p{read_end.get(), POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (n < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
      if (n <= 0) continue;
      char buffer[64];
      const ssize_t r = ::read(read_end.get(), buffer, sizeof buffer);
      if (r == 0) return absl::InternalError(absl::StrCat("child exited; said: ", line));
      if (r < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "read");
      if (r > 0) line.append(buffer, static_cast<std::size_t>(r));
    }
    int port = 0;
    if (!absl::SimpleAtoi(line.substr(0, line.find('\n')), &port) || port <= 0 || port > 65535) {
      return absl::InternalError(absl::StrCat("bad port line: ", line));
    }
    return static_cast<std::uint16_t>(port);
  }

  bool ChildAlive() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  // TerminateChild sends SIGTERM and waits (bounded) for the exit; returns the wait status.
  std::optional<int> TerminateChild() {
    if (::kill(pid_, SIGTERM) != 0) return std::nullopt;
    int status = 0;
    const bool exited = WaitUntil(
        [&] {
          const pid_t r = ::waitpid(pid_, &status, WNOHANG);
          return r == pid_ || r < 0;
        },
        kPrompt);
    if (!exited) return std::nullopt;
    pid_ = -1;
    return status;
  }

  pid_t pid_ = -1;
};

// EchoesAgain: a fresh client is served (its connection may wait out the acceptor's back-off).
bool EchoesAgain(std::uint16_t port) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
  if (!client.ok()) return false;
  absl::StatusOr<std::string> reply = client->Echo("back", absl::Seconds(3));
  return reply.ok() && *reply == "back";
}

// FloodResult: how a batch of clients fared.
struct FloodResult {
  std::vector<LoopbackClient> served;  // Still open, each has echoed once.
  int closed = 0;                      // Refused at connect, or closed by the server unserved.
  int hung = 0;                        // Neither served nor closed by the deadline.
};

// Flood connects `count` clients at once, then has each send one message, and sorts them by
// what happened before `timeout` passed. Connecting everyone first makes the server face the
// whole burst: the kernel completes handshakes whether or not the server can accept.
FloodResult Flood(std::uint16_t port, int count, absl::Duration timeout) {
  FloodResult result;
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
    if (client.ok()) {
      clients.push_back(std::move(*client));
    } else if (absl::IsDeadlineExceeded(client.status())) {
      ++result.hung;
    } else {
      ++result.closed;
    }
  }
  for (LoopbackClient& client : clients) (void)client.Send("ping");  // Shed ones may EPIPE.
  const absl::Time deadline = absl::Now() + timeout;
  for (LoopbackClient& client : clients) {
    const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
    absl::StatusOr<std::string> reply = client.ReadExactly(4, left);
    if (reply.ok() && *reply == "ping") {
      result.served.push_back(std::move(client));
    } else if (!reply.ok() && absl::IsDeadlineExceeded(reply.status())) {
      ++result.hung;
    } else {
      ++result.closed;
    }
  }
  return result;
}

// FillOneByOne connects clients one at a time, each proving it is served before the next
// connects, until one is shed; returns the served ones. No handler thread is still starting
// (and allocating descriptors) when the server first runs out.
std::vector<LoopbackClient> FillOneByOne(std::uint16_t port, int max) {
  std::vector<LoopbackClient> served;
  for (int i = 0; i < max; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
    if (!client.ok()) break;
    absl::StatusOr<std::string> reply = client->Echo("fill", kPrompt);
    if (!reply.ok()) break;
    served.push_back(std::move(*client));
  }
  return served;
}

// ShedLatency connects one client to a saturated server and returns how long the server took
// to close it; an error if it was served or left hanging.
absl::StatusOr<absl::Duration> ShedLatency(std::uint16_t port) {
  const absl::Time start = absl::Now();
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, "127.0.0.1", kPrompt);
  if (!client.ok()) {
    if (absl::IsDeadlineExceeded(client.status())) return client.status();
    return absl::Now() - start;
  }
  (void)client->Send("ping");
  absl::StatusOr<std::string> rest = client->ReadUntilClosed(kPrompt);
  if (!rest.ok()) return rest.status();
  if (!rest->empty()) return absl::FailedPreconditionError("served, not shed");
  return absl::Now() - start;
}

// CpuShare returns the share of one core the child used over a window of `window`.
absl::StatusOr<double> CpuShare(pid_t pid, absl::Duration window) {
  const std::optional<long long> before = testing::CpuTicks(pid);
  const absl::Time start = absl::Now();
  // A measurement window, not synchronisation: nothing is awaited here.
  absl::SleepFor(window);
  const std::optional<long long> after = testing::CpuTicks(pid);
  const absl::Duration took = absl::Now() - start;
  if (!before.has_value() || !after.has_value()) {
    return absl::InternalError("cannot read /proc/PID/stat");
  }
  const double seconds =
      static_cast<double>(*after - *before) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return seconds / absl::ToDoubleSeconds(took);
}

TEST_F(EmfileTest, BurstBeyondTheDescriptorLimitIsServedOrShedPromptlyAndTheServerRecovers) {
  absl::StatusOr<std::uint16_t> port = Spawn(kDescriptorLimit);
  ASSERT_TRUE(port.ok()) << port.status();

  FloodResult flood = Flood(*port, kClients, absl::Seconds(5));
  const int echoed = static_cast<int>(flood.served.size());
  EXPECT_EQ(flood.hung, 0) << "clients neither served nor closed (" << echoed << " served, "
                           << flood.closed << " closed)";
  EXPECT_GT(echoed, 0) << "the server served nobody";
  EXPECT_GT(flood.closed, 0) << "the server never ran out of descriptors; nothing was tested";
  EXPECT_LT(echoed, kDescriptorLimit) << "more clients served than descriptors allow";
  ASSERT_TRUE(ChildAlive()) << "the server process died under EMFILE";

  // Saturated (every descriptor in use): the server must sit idle, not spin on accept.
  absl::StatusOr<double> share = CpuShare(pid_, absl::Milliseconds(500));
  ASSERT_TRUE(share.ok()) << share.status();
  EXPECT_LT(*share, 0.10) << "the saturated server used " << *share * 100 << "% of a core";
  ASSERT_TRUE(ChildAlive());

  // Once the clients leave, descriptors come back and a new client is served.
  flood.served.clear();
  EXPECT_TRUE(WaitUntil([&] { return EchoesAgain(*port); }, absl::Seconds(10)))
      << "the server did not recover after the clients left";

  const std::optional<int> status = TerminateChild();
  ASSERT_TRUE(status.has_value()) << "no exit within " << kPrompt << " of SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(EmfileTest, ServerAtItsDescriptorLimitShedsAFloodStaysIdleRecoversAndStopsCleanly) {
  absl::StatusOr<std::uint16_t> port = Spawn(kDescriptorLimit);
  ASSERT_TRUE(port.ok()) << port.status();

  std::vector<LoopbackClient> filled = FillOneByOne(*port, kDescriptorLimit);
  ASSERT_GT(filled.size(), 0u) << "the server served nobody";
  ASSERT_LT(filled.size(), static_cast<std::size_t>(kDescriptorLimit))
      << "the server never ran out of descriptors; nothing was tested";

  FloodResult flood = Flood(*port, kClients - static_cast<int>(filled.size()), kPrompt);
  EXPECT_EQ(flood.hung, 0) << "clients neither served nor closed";
  EXPECT_EQ(flood.served.size(), 0u) << "served beyond the descriptor limit";
  ASSERT_TRUE(ChildAlive()) << "the server process died under EMFILE";
  for (LoopbackClient& client : filled) {
    absl::StatusOr<std::string> reply = client.Echo("still", kPrompt);
    EXPECT_TRUE(reply.ok()) << "a client admitted before the flood lost service: "
                            << reply.status();
  }

  absl::StatusOr<double> share = CpuShare(pid_, absl::Milliseconds(500));
  ASSERT_TRUE(share.ok()) << share.status();
  EXPECT_LT(*share, 0.10) << "the saturated server used " << *share * 100 << "% of a core";
  ASSERT_TRUE(ChildAlive());

  filled.clear();
  EXPECT_TRUE(WaitUntil([&] { return EchoesAgain(*port); }, absl::Seconds(10)))
      << "the server did not recover after the clients left";

  const std::optional<int> status = TerminateChild();
  ASSERT_TRUE(status.has_value()) << "no exit within " << kPrompt << " of SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(EmfileTest, ClientArrivingAtASaturatedServerIsShedAtOnce) {
  absl::StatusOr<std::uint16_t> port = Spawn(kDescriptorLimit);
  ASSERT_TRUE(port.ok()) << port.status();
  std::vector<LoopbackClient> filled = FillOneByOne(*port, kDescriptorLimit);
  ASSERT_LT(filled.size(), static_cast<std::size_t>(kDescriptorLimit));
  // One at a time: each arrives after the previous one was shed.
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<absl::Duration> latency = ShedLatency(*port);
    ASSERT_TRUE(latency.ok()) << "client " << i << ": " << latency.status();
    EXPECT_LT(*latency, absl::Milliseconds(250)) << "client " << i << " waited to be shed";
  }
  const std::optional<int> status = TerminateChild();
  ASSERT_TRUE(status.has_value()) << "no exit within " << kPrompt << " of SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace weft

// Integration tests of weft::Server on real loopback sockets: lifecycle, limits, task managers,
// handler failures, timeouts and resource hygiene.
#include "weft/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/sync.h"
#include "weft/connection.h"
#include "weft/fiber_task_manager.h"
#include "weft/listen_socket.h"
#include "weft/pool_task_manager.h"
#include "weft/server_options.h"
#include "weft/single_threaded_task_manager.h"
#include "weft/task.h"
#include "weft/task_context.h"
#include "weft/threaded_task_manager.h"
#include "weft/unique_fd.h"

namespace weft {
namespace {

using ::weft::testing::CountOpenFds;
using ::weft::testing::CountThreads;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

// kPrompt bounds everything that should happen at once: a broken test fails after this long
// instead of hanging.
constexpr absl::Duration kPrompt = absl::Seconds(3);

constexpr char kIpv4Loopback[] = "127.0.0.1";
constexpr char kIpv6Loopback[] = "::1";

// kNoCode: the value of a status-code slot no handler has written yet.
constexpr int kNoCode = -1;

// Handlers record status codes as ints, never absl::Status objects: a Status made on a server
// thread and read on the test thread would cross threads through uninstrumented Abseil code.
int CodeOf(const absl::Status& status) { return static_cast<int>(status.code()); }
std::string CodeName(int code) {
  if (code == kNoCode) return "(none recorded)";
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// EchoHandler writes back every byte it reads until end of stream or an error.
void EchoHandler(Connection& connection, const HandlerArgs&) {
  char buffer[16 * 1024];
  while (true) {
    absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    if (!n.ok() || *n == 0) return;
    if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
  }
}

ServerOptions EchoOptions() {
  ServerOptions options;
  options.address = kIpv4Loopback;
  options.port = 0;
  options.handler = EchoHandler;
  return options;
}

// LocalPort returns the local port of a connected socket (a client's ephemeral port).
std::uint16_t LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// Echoes: `client` gets `data` back within kPrompt.
::testing::AssertionResult Echoes(LoopbackClient& client, absl::string_view data = "ping") {
  absl::StatusOr<std::string> reply = client.Echo(data, kPrompt);
  if (!reply.ok()) return ::testing::AssertionFailure() << "echo failed: " << reply.status();
  if (*reply != data) {
    return ::testing::AssertionFailure() << "echo returned \"" << *reply << "\"";
  }
  return ::testing::AssertionSuccess();
}

// ConnectAndEcho connects and proves the connection is being served with one echo.
absl::StatusOr<LoopbackClient> ConnectAndEcho(std::uint16_t port,
                                              const std::string& host = kIpv4Loopback) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, host, kPrompt);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> reply = client->Echo("hello", kPrompt);
  if (!reply.ok()) return reply.status();
  if (*reply != "hello") return absl::InternalError(absl::StrCat("echo returned ", *reply));
  return client;
}

// IsRefused: connecting to `port` either fails outright, or the connection is closed by the
// server without a byte — within kPrompt. A connection that is served or queued stays open and
// fails this.
::testing::AssertionResult IsRefused(std::uint16_t port) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port, kIpv4Loopback, kPrompt);
  if (!client.ok()) {
    if (absl::IsDeadlineExceeded(client.status())) {
      return ::testing::AssertionFailure() << "connect hung: " << client.status();
    }
    return ::testing::AssertionSuccess() << "connect failed: " << client.status();
  }
  absl::StatusOr<std::string> rest = client->ReadUntilClosed(kPrompt);
  if (!rest.ok()) {
    return ::testing::AssertionFailure() << "connection stayed open: " << rest.status();
  }
  if (!rest->empty()) {
    return ::testing::AssertionFailure() << "server sent \"" << *rest << "\" before closing";
  }
  return ::testing::AssertionSuccess() << "closed at once";
}

// FindTaskByPeer returns the task labelled with `peer`, if listed.
std::optional<TaskInfo> FindTaskByPeer(const TaskManager& manager, const std::string& peer) {
  for (const TaskInfo& info : manager.ListTasks()) {
    if (info.peer == peer) return info;
  }
  return std::nullopt;
}

// PeerLabel: how the server labels `client`'s task ("127.0.0.1:<client port>").
std::string PeerLabel(const LoopbackClient& client) {
  return absl::StrCat(kIpv4Loopback, ":", LocalPort(client.fd()));
}

// CounterReaches waits until a server counter equals `want`. Counters move around, not before,
// what a client observes: a refused client may see its close before `refused` counts it.
template <typename T>
::testing::AssertionResult CounterReaches(const Server& server, T ServerStats::*counter,
                                          std::uint64_t want) {
  if (WaitUntil([&] { return server.stats().*counter == want; }, kPrompt)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "counter is " << server.stats().*counter << ", expected " << want;
}

// ServerTest: every test must leave the process with the threads and descriptors it found.
// A watchdog turns a hang (say, a Stop that never returns) into a prompt, named failure instead
// of a wait for ctest's timeout.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    watchdog_ = std::thread([this, name = absl::StrCat(test->test_suite_name(), ".",
                                                       test->name())] {
      if (test_done_.WaitForNotificationWithTimeout(kWatchdog)) return;
      std::fprintf(stderr, "watchdog: %s still running after %s; aborting\n", name.c_str(),
                   absl::FormatDuration(kWatchdog).c_str());
      std::abort();
    });
    // Counted with the watchdog running: its thread (and any runtime thread that starting it
    // brings up, such as ThreadSanitizer's background thread) is then on both sides.
    fds_before_ = CountOpenFds();
    threads_before_ = CountThreads();
  }
  void TearDown() override {
    EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads_before_; }, kPrompt))
        << "threads before: " << threads_before_ << ", after: " << CountThreads();
    EXPECT_TRUE(WaitUntil([&] { return CountOpenFds() == fds_before_; }, kPrompt))
        << "descriptors before: " << fds_before_ << ", after: " << CountOpenFds();
    test_done_.Notify();
    watchdog_.join();
  }

 private:
  static constexpr absl::Duration kWatchdog = absl::Seconds(30);
  int fds_before_ = 0;
  int threads_before_ = 0;
  Notification test_done_;
  std::thread watchdog_;
};

// ServerManagerTest: the tests written TEST_P run on every manager with threads of its own —
// threaded, pool, and fibers on one and on two schedulers (which run many tasks on one thread;
// these hold them to the threaded managers' semantics).
struct ManagerCase {
  const char* name;
  TaskManagerPtr (*make)();
  int clients;  // Connections it serves at once.
};

const ManagerCase kManagerCases[] = {
    {"Threaded", []() -> TaskManagerPtr { return std::make_unique<ThreadedTaskManager>(); }, 64},
    {"Pool",
     []() -> TaskManagerPtr {
       return std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 4});
     },
     4},
    {"FiberOneScheduler",
     []() -> TaskManagerPtr {
       return std::make_unique<FiberTaskManager>(FiberTaskManagerOptions{.threads = 1});
     },
     256},
    {"FiberTwoSchedulers",
     []() -> TaskManagerPtr {
       return std::make_unique<FiberTaskManager>(FiberTaskManagerOptions{.threads = 2});
     },
     256},
};

class ServerManagerTest : public ServerTest, public ::testing::WithParamInterface<ManagerCase> {
 protected:
  ServerOptions Options() {
    ServerOptions options = EchoOptions();
    options.manager = GetParam().make();
    return options;
  }
};

INSTANTIATE_TEST_SUITE_P(Managers, ServerManagerTest, ::testing::ValuesIn(kManagerCases),
                         [](const ::testing::TestParamInfo<ManagerCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// 1. Echo, addresses, port() and socket().

TEST_F(ServerTest, EchoesOverIpv4Loopback) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(Echoes(*client, "hello"));
  // Large enough that both sides see partial reads and writes.
  EXPECT_TRUE(Echoes(*client, std::string(1 << 20, 'x')));
  EXPECT_TRUE(Echoes(*client, "again"));
}

TEST_F(ServerTest, EchoesOverIpv6Loopback) {
  {
    UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    if (!probe.valid() ||
        ::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      GTEST_SKIP() << "::1 cannot be bound on this host";
    }
  }
  ServerOptions options = EchoOptions();
  options.address = kIpv6Loopback;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port(), kIpv6Loopback);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(Echoes(*client, "hello over IPv6"));
  const std::string peer = absl::StrCat("[::1]:", LocalPort(client->fd()));
  EXPECT_TRUE(FindTaskByPeer(server.task_manager(), peer).has_value()) << peer;
}

// ConnectIpv4 connects a TCP socket to host:port (127.0.0.0/8), bound first to `source` if
// given; on failure it records a test failure and returns an invalid UniqueFd.
UniqueFd ConnectIpv4(const char* host, std::uint16_t port, const char* source = nullptr) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return UniqueFd();
  }
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ADD_FAILURE() << "bind to " << source << ": " << std::strerror(errno);
      return UniqueFd();
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  if (::inet_pton(AF_INET, host, &to.sin_addr) != 1 ||
      ::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ADD_FAILURE() << "connect to " << host << ":" << port << ": " << std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

TEST_F(ServerTest, AConnectionKnowsItsPeerAndLocalAddressesAsDottedQuads) {
  // Octets of one, two and three digits, on both ends (127.0.0.0/8 is all loopback).
  constexpr char kServerHost[] = "127.210.0.77";
  constexpr char kClientHost[] = "127.31.200.9";
  Notification served;
  std::string peer_host;
  std::string local_host;
  std::uint16_t local_port = 0;
  ServerOptions options = EchoOptions();
  options.address = kServerHost;
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    peer_host = connection.peer().address;
    local_host = connection.local().address;
    local_port = connection.local().port;
    served.Notify();
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const UniqueFd client = ConnectIpv4(kServerHost, server.port(), kClientHost);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(served.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_EQ(peer_host, kClientHost);
  EXPECT_EQ(local_host, kServerHost);
  EXPECT_EQ(local_port, server.port());
}

TEST_F(ServerTest, AConnectionToAWildcardListenerKnowsTheAddressItReached) {
  // A listener bound to one address lends it to its connections; a wildcard one must not: each
  // connection's local address is the one its client connected to.
  constexpr char kReached[] = "127.44.0.5";
  Notification served;
  std::string local_host;
  ServerOptions options = EchoOptions();
  options.address = "0.0.0.0";
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    local_host = connection.local().address;
    served.Notify();
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const UniqueFd client = ConnectIpv4(kReached, server.port());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(served.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_EQ(local_host, kReached);
}

TEST_F(ServerTest, StatsCountTheThreadsWaitingForTheNextConnection) {
  Server server(EchoOptions());  // The default manager: threaded, with its idle-thread cache.
  ASSERT_TRUE(server.Run().ok());
  EXPECT_EQ(server.stats().idle_threads, 0u);
  {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(client->Echo("ping").value_or(""), "ping");
  }
  EXPECT_TRUE(WaitUntil([&] { return server.stats().idle_threads == 1; }, kPrompt))
      << "the connection's thread waits for the next one";
  server.Stop();
  EXPECT_EQ(server.stats().idle_threads, 0u) << "Stop retired it";
}

// AcceptThreadIds returns the kernel ids of this process's threads named "weft-accept".
std::vector<pid_t> AcceptThreadIds() {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name == "weft-accept") {
      found.push_back(static_cast<pid_t>(std::stoi(entry.path().filename().string())));
    }
  }
  return found;
}

TEST_F(ServerTest, TheAcceptLoopIsABatchThreadThatDoesNotPreemptTheConnectionsItServes) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  // The loop names itself and sets its policy before its first accept: one echo exchange later
  // both are set. Its connection's thread, which it started, has a name of its own.
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Echo("ping").value_or(""), "ping");
  const std::vector<pid_t> accept_threads = AcceptThreadIds();
  ASSERT_EQ(accept_threads.size(), 1u) << "one thread named weft-accept";
  EXPECT_EQ(::sched_getscheduler(accept_threads[0]), SCHED_BATCH);
  server.Stop();
  EXPECT_TRUE(WaitUntil([] { return AcceptThreadIds().empty(); }, kPrompt))
      << "Stop joined the accept loop";
}

TEST_F(ServerTest, PortReturnsTheBoundPortWhileRunningAndTheConfiguredOneOtherwise) {
  Server server(EchoOptions());
  EXPECT_EQ(server.port(), 0);
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  ASSERT_NE(port, 0);
  // The port reported is the one the listening socket is bound to.
  const std::optional<int> fd = server.socket();
  ASSERT_TRUE(fd.has_value());
  EXPECT_EQ(LocalPort(*fd), port);
  absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
  EXPECT_TRUE(client.ok()) << client.status();
  server.Stop();
  EXPECT_EQ(server.port(), 0);
}

TEST_F(ServerTest, SocketHasAValueWhileRunningAndNoneAfterStop) {
  Server server(EchoOptions());
  EXPECT_FALSE(server.socket().has_value());
  ASSERT_TRUE(server.Run().ok());
  const std::optional<int> fd = server.socket();
  ASSERT_TRUE(fd.has_value());
  int listening = 0;
  socklen_t len = sizeof listening;
  ASSERT_EQ(::getsockopt(*fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0);
  EXPECT_EQ(listening, 1) << "socket() is not a listening socket";
  server.Stop();
  EXPECT_FALSE(server.socket().has_value());
  EXPECT_EQ(server.state(), ServerState::kStopped);
}

// ---------------------------------------------------------------------------------------------
// 2. Run errors and restarts.

TEST_F(ServerTest, RunOnARunningServerFailsWithFailedPreconditionAndKeepsServing) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  const absl::Status again = server.Run();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_EQ(server.state(), ServerState::kRunning);
  EXPECT_EQ(server.port(), port);
  absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
  EXPECT_TRUE(client.ok()) << client.status();
}

TEST_F(ServerTest, RunAfterStopServesNewConnectionsAgain) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  {
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(server.port());
    ASSERT_TRUE(client.ok()) << client.status();
  }
  server.Stop();
  ASSERT_EQ(server.state(), ServerState::kStopped);
  ASSERT_TRUE(server.Run().ok());
  EXPECT_EQ(server.state(), ServerState::kRunning);
  absl::StatusOr<LoopbackClient> client = ConnectAndEcho(server.port());
  EXPECT_TRUE(client.ok()) << client.status();
}

TEST_F(ServerTest, RunOnAPortBoundByAnotherServerFailsWithUnavailableAndLeaksNothing) {
  Server first(EchoOptions());
  ASSERT_TRUE(first.Run().ok());
  ServerOptions options = EchoOptions();
  options.port = first.port();
  Server second(std::move(options));
  const int fds_before = CountOpenFds();
  const absl::Status status = second.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_EQ(second.state(), ServerState::kStopped);
  EXPECT_FALSE(second.socket().has_value());
  // The first server is unaffected.
  absl::StatusOr<LoopbackClient> client = ConnectAndEcho(first.port());
  EXPECT_TRUE(client.ok()) << client.status();
}

TEST_F(ServerTest, TwoServersWithReusePortShareAPortAndTheSurvivorServesAfterOneStops) {
  ServerOptions first_options = EchoOptions();
  first_options.reuse_port = true;
  Server first(std::move(first_options));
  ASSERT_TRUE(first.Run().ok());
  const std::uint16_t port = first.port();
  ServerOptions second_options = EchoOptions();
  second_options.port = port;
  second_options.reuse_port = true;
  Server second(std::move(second_options));
  const absl::Status run = second.Run();
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(first.reuse_port());
  EXPECT_EQ(second.port(), port);

  // The kernel hashes each new connection to one of the two: keep connecting until both have
  // served one (a bounded number of tries; each lands on either with even odds). accepted may
  // lag an echo by a moment, which costs at most a try more.
  constexpr int kMaxTries = 200;
  int tries = 0;
  while (tries < kMaxTries && (first.stats().accepted == 0 || second.stats().accepted == 0)) {
    ++tries;
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
    ASSERT_TRUE(client.ok()) << "connection " << tries << ": " << client.status();
  }
  EXPECT_GT(first.stats().accepted, 0u);
  EXPECT_GT(second.stats().accepted, 0u);

  first.Stop();
  const std::uint64_t first_accepted = first.stats().accepted;
  const std::uint64_t second_before = second.stats().accepted;
  constexpr int kAfterStop = 50;
  for (int i = 0; i < kAfterStop; ++i) {
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
    ASSERT_TRUE(client.ok()) << "connection " << i << " after Stop: " << client.status();
  }
  EXPECT_EQ(first.stats().accepted, first_accepted);
  // accepted is counted just after the manager takes the connection, so it may lag an echo.
  EXPECT_TRUE(
      WaitUntil([&] { return second.stats().accepted >= second_before + kAfterStop; }, kPrompt));
}

TEST_F(ServerTest, ReusePortOnOnlyOneOfTwoServersFailsWithUnavailable) {
  ServerOptions first_options = EchoOptions();
  first_options.reuse_port = true;
  Server first(std::move(first_options));
  ASSERT_TRUE(first.Run().ok());
  ServerOptions options = EchoOptions();
  options.port = first.port();
  Server second(std::move(options));
  const absl::Status status = second.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_FALSE(second.reuse_port());
}

TEST_F(ServerTest, RunWithABadAddressFailsWithInvalidArgument) {
  for (const char* address : {"not a host!", "256.1.1.1"}) {
    SCOPED_TRACE(address);
    ServerOptions options = EchoOptions();
    options.address = address;
    Server server(std::move(options));
    const int fds_before = CountOpenFds();
    const absl::Status status = server.Run();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(server.state(), ServerState::kStopped);
    EXPECT_EQ(CountOpenFds(), fds_before);
  }
}

// ---------------------------------------------------------------------------------------------
// 2b. An adopted listening socket (ServerOptions::listen_socket), as systemd passes them.

TEST_F(ServerTest, ASharedAdoptedSocketIsServedAndStaysListeningAcrossStopUntilTheNextRun) {
  absl::StatusOr<UniqueFd> listening = ListenTcp(kIpv4Loopback, 0, /*backlog=*/16);
  ASSERT_TRUE(listening.ok()) << listening.status();
  const std::uint16_t port = LocalPort(listening->get());
  // Blocking, as a socket from elsewhere may be: Run must make it non-blocking, or the accept
  // loop would block in accept() where Stop cannot wake it.
  ASSERT_EQ(::fcntl(listening->get(), F_SETFL, 0), 0);
  ServerOptions options = EchoOptions();
  options.address = "192.0.2.1";  // Ignored: nothing is bound.
  options.listen_socket = std::move(*listening);
  options.listen_socket_shared = true;
  Server server(std::move(options));
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.address(), kIpv4Loopback);
  ASSERT_TRUE(server.Run().ok());
  EXPECT_EQ(server.port(), port);
  {
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
    ASSERT_TRUE(client.ok()) << client.status();
  }
  server.Stop();
  // Still listening while stopped: a connect completes and waits in the backlog...
  absl::StatusOr<LoopbackClient> waiting = LoopbackClient::Connect(port, kIpv4Loopback, kPrompt);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  // ...until the next Run accepts it.
  ASSERT_TRUE(server.Run().ok());
  EXPECT_TRUE(Echoes(*waiting, "waited in the backlog"));
}

TEST_F(ServerTest, AnUnsharedAdoptedSocketIsShutDownByStopAcceptingLikeAnOwnOne) {
  absl::StatusOr<UniqueFd> listening = ListenTcp(kIpv4Loopback, 0, /*backlog=*/16);
  ASSERT_TRUE(listening.ok()) << listening.status();
  const std::uint16_t port = LocalPort(listening->get());
  ServerOptions options = EchoOptions();
  options.listen_socket = std::move(*listening);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  ASSERT_TRUE(ConnectAndEcho(port).ok());
  server.StopAccepting();
  EXPECT_FALSE(LoopbackClient::Connect(port, kIpv4Loopback, kPrompt).ok());
}

// A successor holding the same socket (here a second Server in the process, given a duplicate
// as a hand-off over SCM_RIGHTS would) serves every connect once the first releases it; the
// released server's connections go on, and should the successor go away, Run takes the socket
// back with what waited in its queue.
TEST_F(ServerTest, ReleaseListenerLeavesTheSocketListeningForItsOtherHolderAndRunTakesItBack) {
  Server first(EchoOptions());
  ASSERT_TRUE(first.Run().ok());
  const std::uint16_t port = first.port();
  absl::StatusOr<LoopbackClient> old_client = ConnectAndEcho(port);
  ASSERT_TRUE(old_client.ok()) << old_client.status();
  {
    ServerOptions options = EchoOptions();
    options.listen_socket = UniqueFd(::fcntl(*first.socket(), F_DUPFD_CLOEXEC, 0));
    Server successor(std::move(options));
    ASSERT_TRUE(successor.Run().ok());
    first.ReleaseListener();
    EXPECT_EQ(first.state(), ServerState::kNotAccepting);
    EXPECT_EQ(first.port(), port);
    const std::uint64_t accepted_before = first.stats().accepted;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
      ASSERT_TRUE(client.ok()) << "connect " << i << ": " << client.status();
    }
    // A connection is counted around, not before, its first echo: wait for the last count.
    EXPECT_TRUE(CounterReaches(successor, &ServerStats::accepted, 20));
    EXPECT_EQ(first.stats().accepted, accepted_before);
    EXPECT_TRUE(Echoes(*old_client, "still served by the first server"));
    successor.ReleaseListener();  // Leaves the socket to `first` again, as a dying process would.
  }
  absl::StatusOr<LoopbackClient> waiting = LoopbackClient::Connect(port, kIpv4Loopback, kPrompt);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  ASSERT_TRUE(first.Run().ok());
  EXPECT_TRUE(Echoes(*waiting, "waited for the first server to take the socket back"));
  first.Stop();
  EXPECT_FALSE(LoopbackClient::Connect(port, kIpv4Loopback, kPrompt).ok());
}

TEST_F(ServerTest, AdoptingASocketThatIsNotAListeningTcpSocketFailsWithInvalidArgument) {
  struct Case {
    const char* name;
    int domain;
    int type;
    const char* message;
  };
  for (const Case& c : {Case{"bound TCP, not listening", AF_INET, SOCK_STREAM, "not listening"},
                        Case{"UDP", AF_INET, SOCK_DGRAM, "not a TCP socket"},
                        Case{"unix stream", AF_UNIX, SOCK_STREAM, "not a TCP socket"}}) {
    SCOPED_TRACE(c.name);
    UniqueFd fd(::socket(c.domain, c.type | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid());
    if (c.domain == AF_INET) {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    ServerOptions options = EchoOptions();
    options.listen_socket = std::move(fd);
    Server server(std::move(options));
    const absl::Status status = server.Run();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(c.message));
    EXPECT_EQ(server.state(), ServerState::kStopped);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Stop waits for handlers; Stop(grace) forces those that ignore the shutdown flag.

TEST_P(ServerManagerTest, StopReturnsOnlyAfterTheHandlerHasReturned) {
  Notification reading;
  std::atomic<int> read_code{kNoCode};
  std::atomic<bool> handler_returned{false};
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    reading.Notify();
    char byte;
    read_code = CodeOf(connection.Read(absl::MakeSpan(&byte, 1)).status());
    // Slow cleanup after the cancellation: Stop must wait for it. (A delay inside the handler
    // widens the window a premature Stop would fall into; it synchronises nothing.)
    Notification never;
    never.WaitForNotificationWithTimeout(absl::Milliseconds(100));
    handler_returned = true;
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(reading.WaitForNotificationWithTimeout(kPrompt));

  const StopReport report = server.Stop();
  EXPECT_TRUE(handler_returned.load()) << "Stop returned before the handler did";
  EXPECT_EQ(CodeName(read_code.load()), "CANCELLED");
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(report.forced, 0u);
  EXPECT_EQ(report.dropped, 0u);
  // The server closed the connection.
  absl::StatusOr<std::string> rest = client->ReadUntilClosed(kPrompt);
  EXPECT_TRUE(rest.ok()) << rest.status();
}

TEST_F(ServerTest, StopWaitsForAHandlerThatIsStillCleaningUpWhenTheGraceRunsOut) {
  constexpr absl::Duration kGrace = absl::Milliseconds(50);
  Notification reading;
  std::atomic<bool> handler_returned{false};
  ServerOptions options = EchoOptions();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    reading.Notify();
    char byte;
    [[maybe_unused]] absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&byte, 1));
    // Cleanup that outlasts the grace period and never touches the socket: forcing cannot cut
    // it short, so Stop has to wait for it.
    Notification never;
    never.WaitForNotificationWithTimeout(absl::Milliseconds(300));
    handler_returned = true;
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(reading.WaitForNotificationWithTimeout(kPrompt));

  const StopReport report = server.Stop(kGrace);
  EXPECT_TRUE(handler_returned.load()) << "Stop returned before the handler did";
  EXPECT_EQ(report.forced, 1u);
  EXPECT_EQ(report.cooperative, 0u);
}

TEST_P(ServerManagerTest, StopWithGraceForcesAHandlerThatIgnoresShutdownAndBlocksOnTheRawSocket) {
  constexpr absl::Duration kGrace = absl::Milliseconds(200);
  Notification blocked;
  std::atomic<bool> handler_returned{false};
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    blocked.Notify();
    // Ignores ShutdownRequested() and bypasses Connection. It asks for no event: a stop request
    // shuts the read side only (POLLIN), so only the forced shutdown of both sides (POLLHUP) or
    // the peer's reset (POLLERR) wakes it.
    pollfd p{connection.fd(), 0, 0};
    while (::poll(&p, 1, -1) < 0) {
    }
    char byte;
    [[maybe_unused]] ssize_t n = ::read(connection.fd(), &byte, 1);
    handler_returned = true;
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(blocked.WaitForNotificationWithTimeout(kPrompt));

  Notification stopped;
  StopReport report;
  absl::Duration stop_took;
  std::thread stopper([&] {
    const absl::Time start = absl::Now();
    report = server.Stop(kGrace);
    stop_took = absl::Now() - start;
    stopped.Notify();
  });
  const bool stop_returned = stopped.WaitForNotificationWithTimeout(kPrompt);
  if (!stop_returned) client->Reset();  // Rescue: the peer's reset wakes the handler's poll.
  stopper.join();
  ASSERT_TRUE(stop_returned) << "Stop(grace) did not force the blocked handler";
  EXPECT_TRUE(handler_returned.load());
  EXPECT_EQ(report.forced, 1u);
  EXPECT_EQ(report.cooperative, 0u);
  EXPECT_GE(stop_took, kGrace) << "the handler was forced before its grace period ended";
  absl::StatusOr<std::string> rest = client->ReadUntilClosed(kPrompt);
  EXPECT_TRUE(rest.ok()) << rest.status();
}

// ---------------------------------------------------------------------------------------------
// 4. StopAccepting.

TEST_P(ServerManagerTest, StopAcceptingKeepsOpenConnectionsServedAndRefusesNewOnes) {
  Server server(Options());
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  absl::StatusOr<LoopbackClient> open = ConnectAndEcho(port);
  ASSERT_TRUE(open.ok()) << open.status();

  server.StopAccepting();
  EXPECT_EQ(server.state(), ServerState::kNotAccepting);
  EXPECT_EQ(server.stats().state, ServerState::kNotAccepting);
  EXPECT_FALSE(server.socket().has_value());
  EXPECT_TRUE(Echoes(*open, "still here"));
  EXPECT_TRUE(IsRefused(port));
  EXPECT_TRUE(Echoes(*open, "and still here"));
}

TEST_F(ServerTest, RunAfterStopAcceptingResumesAcceptingOnTheSamePort) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  absl::StatusOr<LoopbackClient> open = ConnectAndEcho(port);
  ASSERT_TRUE(open.ok()) << open.status();
  server.StopAccepting();
  ASSERT_TRUE(IsRefused(port));

  server.set_port(port);
  const absl::Status resumed = server.Run();
  ASSERT_TRUE(resumed.ok()) << resumed;
  EXPECT_EQ(server.state(), ServerState::kRunning);
  EXPECT_EQ(server.port(), port);
  absl::StatusOr<LoopbackClient> fresh = ConnectAndEcho(port);
  EXPECT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(Echoes(*open, "the old connection went on"));
}

// ---------------------------------------------------------------------------------------------
// 5. max_connections.

TEST_F(ServerTest, MaxConnectionsServesThatManyAndRefusesTheNextUntilOneLeaves) {
  ServerOptions options = EchoOptions();
  options.max_connections = 3;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
    ASSERT_TRUE(client.ok()) << "client " << i << ": " << client.status();
    clients.push_back(std::move(*client));
  }
  EXPECT_TRUE(IsRefused(port));
  EXPECT_TRUE(CounterReaches(server, &ServerStats::refused, 1));
  EXPECT_EQ(server.stats().accepted, 3u);
  for (LoopbackClient& client : clients) EXPECT_TRUE(Echoes(client));

  clients.front().Close();
  ASSERT_TRUE(WaitUntil([&] { return server.stats().open == 2; }, kPrompt))
      << "open: " << server.stats().open;
  absl::StatusOr<LoopbackClient> admitted = ConnectAndEcho(port);
  EXPECT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(server.stats().refused, 1u);
}

// ---------------------------------------------------------------------------------------------
// 6. ThreadedTaskManager limits and queueing.

TEST_F(ServerTest, QueuedConnectionRemovedFromTheManagerIsClosedWithoutRunningItsHandler) {
  std::atomic<int> handler_calls{0};
  ServerOptions options = EchoOptions();
  options.handler = [&](Connection& connection, const HandlerArgs& args) {
    ++handler_calls;
    EchoHandler(connection, args);
  };
  options.manager = std::make_unique<ThreadedTaskManager>(ThreadedTaskManagerOptions{.limit = 1});
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  absl::StatusOr<LoopbackClient> running = ConnectAndEcho(port);
  ASSERT_TRUE(running.ok()) << running.status();

  absl::StatusOr<LoopbackClient> waiting = LoopbackClient::Connect(port);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  const std::string label = PeerLabel(*waiting);
  std::optional<TaskInfo> queued;
  ASSERT_TRUE(WaitUntil(
      [&] {
        queued = FindTaskByPeer(server.task_manager(), label);
        return queued.has_value();
      },
      kPrompt))
      << label << " never listed";
  EXPECT_EQ(queued->state, TaskState::kQueued);
  EXPECT_EQ(queued->started, absl::InfinitePast());
  EXPECT_EQ(server.stats().queued, 1u);

  EXPECT_TRUE(server.task_manager().RemoveTask(queued->id));
  EXPECT_FALSE(server.task_manager().RemoveTask(queued->id)) << "removed twice";
  absl::StatusOr<std::string> rest = waiting->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(rest.ok()) << "the removed connection was not closed: " << rest.status();
  EXPECT_EQ(*rest, "");

  EXPECT_TRUE(Echoes(*running));
  running->Close();
  ASSERT_TRUE(WaitUntil([&] { return server.task_manager().AllTasks().empty(); }, kPrompt));
  server.Stop();
  EXPECT_EQ(handler_calls.load(), 1) << "the removed task's handler ran";
  EXPECT_EQ(server.stats().open, 0u);
}

TEST_F(ServerTest, ThreadedManagerWithLimitOneAndQueueOneRefusesTheThirdConnection) {
  ServerOptions options = EchoOptions();
  options.manager = std::make_unique<ThreadedTaskManager>(
      ThreadedTaskManagerOptions{.limit = 1, .max_queued = 1});
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  absl::StatusOr<LoopbackClient> running = ConnectAndEcho(port);
  ASSERT_TRUE(running.ok()) << running.status();
  absl::StatusOr<LoopbackClient> waiting = LoopbackClient::Connect(port);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  ASSERT_TRUE(WaitUntil([&] { return server.stats().queued == 1; }, kPrompt));

  EXPECT_TRUE(IsRefused(port));
  EXPECT_TRUE(CounterReaches(server, &ServerStats::refused, 1));

  // The queued one is served once the running one leaves.
  ASSERT_TRUE(waiting->Send("queued").ok());
  running->Close();
  absl::StatusOr<std::string> reply = waiting->ReadExactly(6, kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "queued");
}

// ---------------------------------------------------------------------------------------------
// 7. Handler exceptions and the shutdown flag.

TEST_P(ServerManagerTest, HandlerThatThrowsClosesItsConnectionCountsAFailureAndTheServerGoesOn) {
  std::atomic<int> calls{0};
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs& args) {
    if (++calls == 1) {
      char byte;
      [[maybe_unused]] absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&byte, 1));
      throw std::runtime_error("handler failure on purpose");
    }
    EchoHandler(connection, args);
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> doomed = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(doomed.ok()) << doomed.status();
  ASSERT_TRUE(doomed->Send("x").ok());
  absl::StatusOr<std::string> rest = doomed->ReadUntilClosed(kPrompt);
  EXPECT_TRUE(rest.ok()) << "connection not closed: " << rest.status();
  EXPECT_TRUE(CounterReaches(server, &ServerStats::failed, 1));

  absl::StatusOr<LoopbackClient> next = ConnectAndEcho(server.port());
  EXPECT_TRUE(next.ok()) << next.status();
  server.Stop();  // Every handler has ended: the count is final.
  EXPECT_EQ(server.stats().failed, 1u);
}

TEST_P(ServerManagerTest, HandlerThatThrowsThreadShutdownClosesItsConnectionWithoutAFailure) {
  std::atomic<bool> threw{false};
  std::atomic<int> calls{0};
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs& args) {
    if (++calls == 1) {
      threw = true;
      throw ThreadShutdown{};
    }
    EchoHandler(connection, args);
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> ended = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(ended.ok()) << ended.status();
  absl::StatusOr<std::string> rest = ended->ReadUntilClosed(kPrompt);
  EXPECT_TRUE(rest.ok()) << "connection not closed: " << rest.status();
  EXPECT_TRUE(threw.load());
  absl::StatusOr<LoopbackClient> next = ConnectAndEcho(server.port());
  EXPECT_TRUE(next.ok()) << next.status();
  server.Stop();  // Every handler has ended: the count is final.
  EXPECT_EQ(server.stats().failed, 0u);
}

TEST_F(ServerTest, HandlerThatRequestsShutdownSeesItsOwnShutdownFlag) {
  ServerOptions options = EchoOptions();
  options.handler = [](Connection& connection, const HandlerArgs&) {
    const bool before = ShutdownRequested();
    RequestShutdown();
    const bool after = ShutdownRequested();
    char byte;
    const absl::Status read = connection.Read(absl::MakeSpan(&byte, 1)).status();
    (void)connection.WriteAll(absl::StrCat(before, " ", after, " ",
                                           absl::StatusCodeToString(read.code())));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  EXPECT_FALSE(ShutdownRequested()) << "outside a task the flag is always false";
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "0 1 CANCELLED");
  server.Stop();
  EXPECT_EQ(server.stats().failed, 0u);
}

// ---------------------------------------------------------------------------------------------
// 8. Half-close.

TEST_F(ServerTest, HandlerReadsARequestToEndOfStreamAndTheHalfClosedClientGetsTheFullReply) {
  ServerOptions options = EchoOptions();
  options.handler = [](Connection& connection, const HandlerArgs&) {
    std::string request;
    char buffer[4096];
    while (true) {
      absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
      if (!n.ok()) return;
      if (*n == 0) break;
      request.append(buffer, *n);
    }
    std::reverse(request.begin(), request.end());
    (void)connection.WriteAll(absl::StrCat(request.size(), "\n", request));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  std::string request;
  for (int i = 0; i < 300 * 1024; ++i) request.push_back(static_cast<char>('a' + i % 26));
  ASSERT_TRUE(client->Send(request).ok());
  ASSERT_TRUE(client->ShutdownWrite().ok());
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  std::string expected = request;
  std::reverse(expected.begin(), expected.end());
  expected = absl::StrCat(request.size(), "\n", expected);
  EXPECT_EQ(reply->size(), expected.size());
  EXPECT_TRUE(*reply == expected) << "reply differs from the reversed request";
}

// ---------------------------------------------------------------------------------------------
// 9. Connection limits.

// ReportingReadHandler: one Read; the status code it got is recorded and written back.
Handler ReportingReadHandler(std::atomic<int>* code) {
  return [code](Connection& connection, const HandlerArgs&) {
    char byte;
    const absl::Status status = connection.Read(absl::MakeSpan(&byte, 1)).status();
    *code = CodeOf(status);
    (void)connection.WriteAll(absl::StatusCodeToString(status.code()));
  };
}

// NotifiedReadHandler: notifies `reading`, then one Read; the status code it got is recorded.
Handler NotifiedReadHandler(Notification* reading, std::atomic<int>* code) {
  return [reading, code](Connection& connection, const HandlerArgs&) {
    char byte;
    reading->Notify();
    *code = CodeOf(connection.Read(absl::MakeSpan(&byte, 1)).status());
  };
}

// RecordingEchoHandler: echoes until end of stream; the code of the read or write that failed,
// if one did, is recorded.
Handler RecordingEchoHandler(std::atomic<int>* code) {
  return [code](Connection& connection, const HandlerArgs&) {
    char buffer[256];
    while (true) {
      absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
      if (!n.ok()) {
        *code = CodeOf(n.status());
        return;
      }
      if (*n == 0) return;
      if (absl::Status s = connection.WriteAll(absl::string_view(buffer, *n)); !s.ok()) {
        *code = CodeOf(s);
        return;
      }
    }
  };
}

TEST_P(ServerManagerTest, IdleTimeoutDisconnectsAnIdleClientWithDeadlineExceeded) {
  constexpr absl::Duration kIdle = absl::Milliseconds(200);
  std::atomic<int> code{kNoCode};
  ServerOptions options = Options();
  options.handler = ReportingReadHandler(&code);
  options.limits.idle_timeout = kIdle;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(reply.ok()) << "the idle client was not disconnected: " << reply.status();
  EXPECT_EQ(*reply, "DEADLINE_EXCEEDED");
  EXPECT_EQ(CodeName(code.load()), "DEADLINE_EXCEEDED");
  EXPECT_GE(took, kIdle);
}

TEST_F(ServerTest, IdleTimeoutDoesNotCutAClientThatKeepsTalking) {
  std::atomic<int> code{kNoCode};
  ServerOptions options = EchoOptions();
  options.handler = RecordingEchoHandler(&code);
  options.limits.idle_timeout = absl::Milliseconds(200);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  // Talk for longer than the idle timeout in total, never pausing as long as it.
  const absl::Time until = absl::Now() + absl::Milliseconds(500);
  int echoes = 0;
  while (absl::Now() < until) {
    ASSERT_TRUE(Echoes(*client, "chatter")) << "after " << echoes << " echoes";
    ++echoes;
  }
  EXPECT_EQ(code.load(), kNoCode) << CodeName(code.load());
}

TEST_P(ServerManagerTest, MaxLifetimeDisconnectsAnActiveClientWithDeadlineExceeded) {
  constexpr absl::Duration kLifetime = absl::Milliseconds(300);
  std::atomic<int> code{kNoCode};
  ServerOptions options = Options();
  options.handler = RecordingEchoHandler(&code);
  options.limits.max_lifetime = kLifetime;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  // The client never pauses, so only the lifetime cap can end the connection.
  int echoes = 0;
  absl::Status last;
  while (absl::Now() - start < kPrompt) {
    absl::StatusOr<std::string> reply = client->Echo("ping", kPrompt);
    if (!reply.ok()) {
      last = reply.status();
      break;
    }
    ++echoes;
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_FALSE(last.ok()) << "still connected after " << took;
  EXPECT_GT(echoes, 1);
  EXPECT_GE(took, kLifetime);
  EXPECT_TRUE(WaitUntil([&] { return code.load() != kNoCode; }, kPrompt));
  EXPECT_EQ(CodeName(code.load()), "DEADLINE_EXCEEDED");
}

TEST_F(ServerTest, MaxLifetimeFailsEveryReadAndWriteAfterItEvenWithDataWaiting) {
  constexpr absl::Duration kLifetime = absl::Milliseconds(200);
  Notification lifetime_over;
  Notification data_sent;
  Notification done;
  std::atomic<int> blocked_read{kNoCode};
  std::atomic<int> ready_read{kNoCode};
  std::atomic<int> write{kNoCode};
  ServerOptions options = EchoOptions();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    char buffer[16];
    // Nothing has been sent: this read outlives the connection's lifetime.
    blocked_read = CodeOf(connection.Read(absl::MakeSpan(buffer)).status());
    lifetime_over.Notify();
    data_sent.WaitForNotificationWithTimeout(kPrompt);
    ready_read = CodeOf(connection.Read(absl::MakeSpan(buffer)).status());
    write = CodeOf(connection.WriteAll("late"));
    done.Notify();
  };
  options.limits.max_lifetime = kLifetime;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(lifetime_over.WaitForNotificationWithTimeout(kPrompt));
  ASSERT_EQ(CodeName(blocked_read.load()), "DEADLINE_EXCEEDED");
  ASSERT_TRUE(client->Send("data").ok());
  data_sent.Notify();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPrompt));
  // "Every read or write after this long since accept fails with DEADLINE_EXCEEDED."
  EXPECT_EQ(CodeName(ready_read.load()), "DEADLINE_EXCEEDED");
  EXPECT_EQ(CodeName(write.load()), "DEADLINE_EXCEEDED");
}

// ---------------------------------------------------------------------------------------------
// 10. ReadLine.

// LineReportingHandler: reads lines of at most `cap` bytes, answering "line:<line>\n" for each
// and "<CODE>\n" for the first error, after which it returns.
Handler LineReportingHandler(std::size_t cap) {
  return [cap](Connection& connection, const HandlerArgs&) {
    while (true) {
      absl::StatusOr<std::string> line = connection.ReadLine(cap);
      if (!line.ok()) {
        (void)connection.WriteAll(absl::StrCat(absl::StatusCodeToString(line.status().code()), "\n"));
        return;
      }
      if (!connection.WriteAll(absl::StrCat("line:", *line, "\n")).ok()) return;
    }
  };
}

TEST_F(ServerTest, ReadLineStripsLineEndingsAndRejectsALineLongerThanItsCap) {
  ServerOptions options = EchoOptions();
  options.handler = LineReportingHandler(8);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  // "abcdefgh" is exactly the cap, with and without "\r".
  ASSERT_TRUE(client->Send("hello\r\nabcdefgh\r\nabcdefgh\nplain\n\r\n123456789\nnever\n").ok());
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply,
            "line:hello\nline:abcdefgh\nline:abcdefgh\nline:plain\nline:\n"
            "RESOURCE_EXHAUSTED\n");
}

TEST_F(ServerTest, ReadLineRejectsALongLineArrivingInPieces) {
  ServerOptions options = EchoOptions();
  options.handler = LineReportingHandler(100);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  // No newline at all: the handler must give up once the cap is exceeded, not wait for one.
  ASSERT_TRUE(client->Send(std::string(64 * 1024, 'z')).ok());
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "RESOURCE_EXHAUSTED\n");
}

TEST_F(ServerTest, ReadLineReturnsAFinalUnterminatedLineThenOutOfRange) {
  ServerOptions options = EchoOptions();
  options.handler = LineReportingHandler(8);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("one\ntail").ok());
  ASSERT_TRUE(client->ShutdownWrite().ok());
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "line:one\nline:tail\nOUT_OF_RANGE\n");
}

TEST_F(ServerTest, ReadLineRejectsAFinalUnterminatedLineLongerThanItsCap) {
  ServerOptions options = EchoOptions();
  options.handler = LineReportingHandler(8);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  // Nine bytes, then end of stream: one byte over the cap.
  ASSERT_TRUE(client->Send("123456789").ok());
  ASSERT_TRUE(client->ShutdownWrite().ok());
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "RESOURCE_EXHAUSTED\n");
}

// ---------------------------------------------------------------------------------------------
// 11. Other task managers.

TEST_F(ServerTest, PoolTaskManagerServesAsManyClientsAsItHasThreadsAndQueuesTheRest) {
  ServerOptions options = EchoOptions();
  options.manager = std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 2});
  Server server(std::move(options));
  EXPECT_EQ(server.task_manager().kind(), "pool");
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  absl::StatusOr<LoopbackClient> first = ConnectAndEcho(port);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<LoopbackClient> second = ConnectAndEcho(port);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<LoopbackClient> third = LoopbackClient::Connect(port);
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(third->Send("third").ok());
  ASSERT_TRUE(WaitUntil([&] { return server.stats().queued == 1; }, kPrompt));
  first->Close();
  absl::StatusOr<std::string> reply = third->ReadExactly(5, kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "third");
  EXPECT_TRUE(Echoes(*second));
}

TEST_F(ServerTest, SingleThreadedManagerServesOnTheRunCallerUntilStopped) {
  ServerOptions options = EchoOptions();
  options.manager = std::make_unique<SingleThreadedTaskManager>();
  Server server(std::move(options));
  EXPECT_TRUE(server.task_manager().RunsTasksOnCaller());

  Notification run_returned;
  std::atomic<int> run_code{kNoCode};
  std::thread runner([&] {
    run_code = CodeOf(server.Run());
    run_returned.Notify();
  });
  const bool running = WaitUntil(
      [&] { return server.state() == ServerState::kRunning || run_returned.HasBeenNotified(); },
      kPrompt);
  EXPECT_TRUE(running);
  EXPECT_FALSE(run_returned.HasBeenNotified()) << "Run returned " << CodeName(run_code.load());
  if (running && !run_returned.HasBeenNotified()) {
    absl::StatusOr<LoopbackClient> first = ConnectAndEcho(server.port());
    EXPECT_TRUE(first.ok()) << first.status();
    // A second client waits while the first is served, then gets its turn.
    absl::StatusOr<LoopbackClient> second = LoopbackClient::Connect(server.port());
    EXPECT_TRUE(second.ok()) << second.status();
    if (first.ok() && second.ok()) {
      EXPECT_TRUE(second->Send("next").ok());
      first->Close();
      absl::StatusOr<std::string> reply = second->ReadExactly(4, kPrompt);
      EXPECT_TRUE(reply.ok()) << reply.status();
      EXPECT_TRUE(Echoes(*second));
    }
    EXPECT_FALSE(run_returned.HasBeenNotified()) << "Run returned before Stop";
    // Stop with a connection still open: its handler is cancelled on the Run thread.
    server.Stop();
  }
  const bool returned = run_returned.WaitForNotificationWithTimeout(kPrompt);
  EXPECT_TRUE(returned) << "Run did not return after Stop";
  runner.join();
  EXPECT_EQ(CodeName(run_code.load()), "OK");
  EXPECT_EQ(server.state(), ServerState::kStopped);
}

// ---------------------------------------------------------------------------------------------
// 12. Resource hygiene over many cycles.

TEST_P(ServerManagerTest, HundredRunStopCyclesWithOpenConnectionsLeaveNoDescriptorOrThread) {
  Server server(Options());
  auto cycle = [&server](int i) -> ::testing::AssertionResult {
    if (absl::Status s = server.Run(); !s.ok()) {
      return ::testing::AssertionFailure() << "cycle " << i << ": Run: " << s;
    }
    absl::StatusOr<LoopbackClient> a = ConnectAndEcho(server.port());
    absl::StatusOr<LoopbackClient> b = ConnectAndEcho(server.port());
    const StopReport report = server.Stop();
    if (!a.ok() || !b.ok()) {
      return ::testing::AssertionFailure()
             << "cycle " << i << ": " << a.status() << " / " << b.status();
    }
    if (report.cooperative != 2 || report.forced != 0) {
      return ::testing::AssertionFailure() << "cycle " << i << ": " << report.cooperative
                                           << " cooperative, " << report.forced << " forced";
    }
    return ::testing::AssertionSuccess();
  };
  // One cycle first, so that anything created once per process (logging) is not counted.
  ASSERT_TRUE(cycle(-1));
  const int fds = CountOpenFds();
  const int threads = CountThreads();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cycle(i));
  EXPECT_EQ(CountOpenFds(), fds);
  EXPECT_TRUE(WaitUntil([&] { return CountThreads() == threads; }, kPrompt))
      << "threads before: " << threads << ", after: " << CountThreads();
}

// ---------------------------------------------------------------------------------------------
// 13. set_max_connections at runtime.

TEST_F(ServerTest, LoweringMaxConnectionsAtRuntimeKeepsExistingConnectionsAndRefusesNewOnes) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  const std::uint16_t port = server.port();
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<LoopbackClient> client = ConnectAndEcho(port);
    ASSERT_TRUE(client.ok()) << client.status();
    clients.push_back(std::move(*client));
  }
  server.set_max_connections(2);
  EXPECT_EQ(server.max_connections(), std::optional<std::size_t>(2));
  for (LoopbackClient& client : clients) EXPECT_TRUE(Echoes(client, "kept"));
  EXPECT_TRUE(IsRefused(port));
  EXPECT_TRUE(CounterReaches(server, &ServerStats::refused, 1));
  EXPECT_EQ(server.stats().open, 3u);

  server.set_max_connections(std::nullopt);
  absl::StatusOr<LoopbackClient> admitted = ConnectAndEcho(port);
  EXPECT_TRUE(admitted.ok()) << admitted.status();
}

// ---------------------------------------------------------------------------------------------
// 14. Introspection.

TEST_F(ServerTest, ListTasksShowsALiveConnectionsPeerAndTraffic) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string payload(1000, 'q');
  ASSERT_TRUE(Echoes(*client, payload));
  const std::string label = PeerLabel(*client);
  std::optional<TaskInfo> info;
  // The handler counts its write just after send() returns, so the client may see the bytes
  // first: wait for the counters rather than read them once.
  EXPECT_TRUE(WaitUntil(
      [&] {
        info = FindTaskByPeer(server.task_manager(), label);
        return info.has_value() && info->bytes_in == payload.size() &&
               info->bytes_out == payload.size();
      },
      kPrompt));
  ASSERT_TRUE(info.has_value()) << label << " is not listed";
  EXPECT_EQ(info->peer, label);
  EXPECT_EQ(info->bytes_in, payload.size());
  EXPECT_EQ(info->bytes_out, payload.size());
  EXPECT_EQ(info->state, TaskState::kRunning);
  EXPECT_NE(info->started, absl::InfinitePast());
  EXPECT_NE(info->last_activity, absl::InfinitePast());
  EXPECT_NE(info->id, 0u);
  EXPECT_EQ(server.task_manager().AllTasks(), std::vector<TaskId>{info->id});
}

// ---------------------------------------------------------------------------------------------
// 15. Many connections at once, and handlers stopping other tasks, on every manager.

TEST_P(ServerManagerTest, ServesAsManyConcurrentClientsAsItAdmitsAndEachGetsItsOwnEcho) {
  Server server(Options());
  ASSERT_TRUE(server.Run().ok());
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < GetParam().clients; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(client.ok()) << i << ": " << client.status();
    clients.push_back(*std::move(client));
  }
  // Interleaved: every connection is open (and its task parked) while the others talk.
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
      ASSERT_TRUE(Echoes(clients[i], absl::StrCat("client ", i, " round ", round)));
    }
  }
  EXPECT_EQ(server.stats().running, clients.size());
  const StopReport report = server.Stop();
  EXPECT_EQ(report.cooperative, clients.size());
  EXPECT_EQ(report.forced, 0u);
}

TEST_P(ServerManagerTest, AHandlerCanStopAnotherTaskOfItsOwnManager) {
  // On one fiber scheduler both tasks share a thread: StopTask must park the caller, not block
  // the thread the victim needs to run on.
  Notification victim_reading;
  std::atomic<TaskId> victim_id{0};
  std::atomic<int> victim_code{kNoCode};
  std::atomic<bool> stop_returned{false};
  Server* server_ptr = nullptr;
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    char byte;
    if (victim_id.load() == 0) {
      victim_id = CurrentTaskId().value_or(0);
      victim_reading.Notify();
      victim_code = CodeOf(connection.Read(absl::MakeSpan(&byte, 1)).status());
      return;
    }
    stop_returned = server_ptr->task_manager().StopTask(victim_id.load(), absl::Seconds(5));
    (void)connection.WriteAll("stopped");
  };
  Server server(std::move(options));
  server_ptr = &server;
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> victim = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(victim.ok()) << victim.status();
  ASSERT_TRUE(victim_reading.WaitForNotificationWithTimeout(kPrompt));
  absl::StatusOr<LoopbackClient> stopper = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(stopper.ok()) << stopper.status();
  absl::StatusOr<std::string> reply = stopper->ReadExactly(7, kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(stop_returned.load());
  EXPECT_EQ(CodeName(victim_code.load()), "CANCELLED");
}

// ---------------------------------------------------------------------------------------------
// 16. Traffic totals, closes by initiator, connection durations and draining (ServerStats).

// ClosesAre waits until the server has counted exactly `want` closes, all by `initiator`.
::testing::AssertionResult ClosesAre(const Server& server, CloseInitiator initiator,
                                     std::uint64_t want) {
  std::array<std::uint64_t, kCloseInitiatorCount> expected{};
  expected[static_cast<int>(initiator)] = want;
  if (WaitUntil([&] { return server.stats().closed_by_initiator == expected; }, kPrompt)) {
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  failure << "expected " << want << " closed by " << CloseInitiatorName(initiator) << ", got:";
  const ServerStats stats = server.stats();
  for (int i = 0; i < kCloseInitiatorCount; ++i) {
    failure << " " << CloseInitiatorName(static_cast<CloseInitiator>(i)) << "="
            << stats.closed_by_initiator[i];
  }
  return failure;
}

// TrafficIs waits until the server's totals are `received` and `sent` bytes.
::testing::AssertionResult TrafficIs(const Server& server, std::uint64_t received,
                                     std::uint64_t sent) {
  if (WaitUntil(
          [&] {
            const ServerStats stats = server.stats();
            return stats.received_bytes == received && stats.sent_bytes == sent;
          },
          kPrompt)) {
    return ::testing::AssertionSuccess();
  }
  const ServerStats stats = server.stats();
  return ::testing::AssertionFailure()
         << "received " << stats.received_bytes << ", sent " << stats.sent_bytes << "; expected "
         << received << ", " << sent;
}

TEST(CloseInitiatorNameTest, SpellsEveryInitiatorAsUsersReadIt) {
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kPeer), "peer");
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kIdleTimeout), "idle-timeout");
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kMaxLifetime), "max-lifetime");
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kStop), "stop");
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kForced), "forced");
  EXPECT_STREQ(CloseInitiatorName(CloseInitiator::kHandler), "handler");
  EXPECT_STREQ(CloseInitiatorName(static_cast<CloseInitiator>(kCloseInitiatorCount)), "unknown");
}

TEST_P(ServerManagerTest, TrafficIsCountedBothWaysWhileOpenAndAClientCloseCountsAsPeer) {
  Server server(Options());
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(Echoes(*client, std::string(1000, 'a')));
  EXPECT_TRUE(TrafficIs(server, 1000, 1000));
  ASSERT_TRUE(Echoes(*client, std::string(500, 'b')));
  EXPECT_TRUE(TrafficIs(server, 1500, 1500));
  EXPECT_EQ(server.stats().open, 1u);
  EXPECT_EQ(server.stats().connection_durations.count, 0u) << "counted before it closed";

  client->Close();
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kPeer, 1));
  const ServerStats stats = server.stats();  // A close seen is a duration seen: no waiting.
  EXPECT_EQ(stats.received_bytes, 1500u);
  EXPECT_EQ(stats.sent_bytes, 1500u);
  EXPECT_EQ(stats.connection_durations.upper_bounds, base::DurationBucketsSeconds());
  EXPECT_EQ(stats.connection_durations.count, 1u);
}

TEST_F(ServerTest, TrafficOfManyConnectionsAddsUpAndSurvivesTheirClose) {
  Server server(EchoOptions());
  ASSERT_TRUE(server.Run().ok());
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(Echoes(*client, std::string(100 + i, 'x')));
    clients.push_back(*std::move(client));
  }
  constexpr std::uint64_t kTotal = 20 * 100 + 19 * 20 / 2;
  EXPECT_TRUE(TrafficIs(server, kTotal, kTotal));
  clients.clear();
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kPeer, 20));
  EXPECT_TRUE(TrafficIs(server, kTotal, kTotal));
  EXPECT_EQ(server.stats().connection_durations.count, 20u);
}

TEST_F(ServerTest, AConnectionResetByTheClientCountsAsPeer) {
  std::atomic<int> code{kNoCode};
  Notification reading;
  ServerOptions options = EchoOptions();
  options.handler = NotifiedReadHandler(&reading, &code);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(reading.WaitForNotificationWithTimeout(kPrompt));
  const linger reset{.l_onoff = 1, .l_linger = 0};  // close() sends RST instead of FIN.
  ASSERT_EQ(::setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  client->Close();
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kPeer, 1));
  EXPECT_EQ(CodeName(code.load()), "UNAVAILABLE");
}

TEST_P(ServerManagerTest, AnIdleTimeoutCountsAsIdleTimeoutAndItsDurationIsObserved) {
  constexpr absl::Duration kIdle = absl::Milliseconds(100);
  std::atomic<int> code{kNoCode};
  ServerOptions options = Options();
  options.handler = ReportingReadHandler(&code);
  options.limits.idle_timeout = kIdle;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "DEADLINE_EXCEEDED");
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kIdleTimeout, 1));
  const base::HistogramSnapshot durations = server.stats().connection_durations;
  EXPECT_EQ(durations.count, 1u);
  EXPECT_GE(durations.sum, absl::ToDoubleSeconds(kIdle));
  EXPECT_EQ(durations.counts[0], 0u) << "a 100 ms connection in the 1 ms bucket";
}

TEST_P(ServerManagerTest, MaxLifetimeCountsAsMaxLifetime) {
  std::atomic<int> code{kNoCode};
  ServerOptions options = Options();
  options.handler = ReportingReadHandler(&code);
  options.limits.max_lifetime = absl::Milliseconds(100);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "") << "a write after max_lifetime went through";
  EXPECT_EQ(CodeName(code.load()), "DEADLINE_EXCEEDED");
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kMaxLifetime, 1));
}

TEST_F(ServerTest, AHandlersOwnDeadlineCountsAsHandler) {
  ServerOptions options = EchoOptions();
  options.limits.idle_timeout = absl::Seconds(30);
  options.handler = [](Connection& connection, const HandlerArgs&) {
    connection.SetDeadline(DeadlineAfter(absl::Milliseconds(50)));
    char byte;
    (void)connection.Read(absl::MakeSpan(&byte, 1));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(client->ReadUntilClosed(kPrompt).ok());
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kHandler, 1));
}

TEST_P(ServerManagerTest, StopWithACooperativeHandlerCountsAsStop) {
  std::atomic<int> code{kNoCode};
  Notification reading;
  ServerOptions options = Options();
  options.handler = NotifiedReadHandler(&reading, &code);
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(reading.WaitForNotificationWithTimeout(kPrompt));
  const StopReport report = server.Stop(kPrompt);
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(CodeName(code.load()), "CANCELLED");
  // Counted before Stop returns: no waiting.
  const ServerStats stats = server.stats();
  std::array<std::uint64_t, kCloseInitiatorCount> expected{};
  expected[static_cast<int>(CloseInitiator::kStop)] = 1;
  EXPECT_EQ(stats.closed_by_initiator, expected);
  EXPECT_EQ(stats.connection_durations.count, 1u);
}

TEST_P(ServerManagerTest, StopForcingAHandlerThatIgnoresTheShutdownFlagCountsAsForced) {
  Notification blocked;
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    blocked.Notify();
    // Ignores ShutdownRequested(): only the socket being shut down on both sides (POLLHUP) or
    // the peer's reset wakes this; a stop request shuts the read side only (POLLIN).
    pollfd p{connection.fd(), 0, 0};
    while (::poll(&p, 1, -1) < 0) {
    }
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(blocked.WaitForNotificationWithTimeout(kPrompt));
  const StopReport report = server.Stop(absl::Milliseconds(50));
  EXPECT_EQ(report.forced, 1u);
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kForced, 1));
}

TEST_F(ServerTest, RemoveTaskOfARunningHandlerCountsAsForcedAndStopTaskAsStop) {
  std::atomic<int> reading{0};
  std::atomic<TaskId> id{0};
  ServerOptions options = EchoOptions();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    char byte;
    id = CurrentTaskId().value_or(0);
    ++reading;
    (void)connection.Read(absl::MakeSpan(&byte, 1));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> first = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(WaitUntil([&] { return reading.load() == 1; }, kPrompt));
  ASSERT_TRUE(server.task_manager().RemoveTask(id.load()));
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kForced, 1));

  absl::StatusOr<LoopbackClient> second = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(WaitUntil([&] { return reading.load() == 2; }, kPrompt));
  ASSERT_TRUE(server.task_manager().StopTask(id.load(), kPrompt));
  const ServerStats stats = server.stats();
  EXPECT_EQ(stats.closed_by_initiator[static_cast<int>(CloseInitiator::kForced)], 1u);
  EXPECT_EQ(stats.closed_by_initiator[static_cast<int>(CloseInitiator::kStop)], 1u);
}

TEST_P(ServerManagerTest, AHandlerThatReturnsOnItsOwnCountsAsHandler) {
  ServerOptions options = Options();
  options.handler = [](Connection& connection, const HandlerArgs&) {
    (void)connection.WriteAll("bye");
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "bye");
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kHandler, 1));
  EXPECT_TRUE(TrafficIs(server, 0, 3));
}

TEST_P(ServerManagerTest, AStopEndsABlockedReadWithCancelledAndTheHandlerMayStillSayGoodbye) {
  std::atomic<int> reading{0};
  std::atomic<int> read_code{-1};
  ServerOptions options = Options();
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    char byte;
    ++reading;
    // On a thread-based manager this blocks in recv(); the stop reaches it by shutting the
    // socket's read side, which must leave the write side to the handler.
    absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(&byte, 1));
    read_code = static_cast<int>(n.status().code());
    (void)connection.WriteAll("bye");
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(WaitUntil([&] { return reading.load() == 1; }, kPrompt));
  const StopReport report = server.Stop(kPrompt);
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(report.forced, 0u);
  EXPECT_EQ(read_code.load(), static_cast<int>(absl::StatusCode::kCancelled));
  absl::StatusOr<std::string> reply = client->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "bye");
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kStop, 1));
}

TEST_F(ServerTest, DrainingIsVisibleWhileStopWaitsForAHandler) {
  Notification holding;
  Notification release;
  ServerOptions options = EchoOptions();
  options.handler = [&](Connection&, const HandlerArgs&) {
    holding.Notify();
    // Holds Stop until the test has seen it draining; Stop's grace is longer than this wait.
    release.WaitForNotificationWithTimeout(kPrompt);
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_FALSE(server.stats().draining);

  std::thread stopper([&] { server.Stop(2 * kPrompt); });
  const bool seen = WaitUntil([&] { return server.stats().draining; }, kPrompt);
  const ServerStats during = server.stats();
  release.Notify();
  stopper.join();
  EXPECT_TRUE(seen) << "never seen draining during Stop";
  EXPECT_EQ(during.state, ServerState::kNotAccepting);
  const ServerStats after = server.stats();
  EXPECT_FALSE(after.draining);
  EXPECT_EQ(after.state, ServerState::kStopped);
  EXPECT_EQ(after.closed_by_initiator[static_cast<int>(CloseInitiator::kStop)], 1u);
}

TEST_F(ServerTest, QueuedConnectionsDroppedByStopAreNotCountedAsCloses) {
  Notification holding;
  ServerOptions options = EchoOptions();
  options.manager = std::make_unique<ThreadedTaskManager>(
      ThreadedTaskManagerOptions{.limit = 1, .max_queued = 1});
  options.handler = [&](Connection& connection, const HandlerArgs&) {
    holding.Notify();
    char byte;
    (void)connection.Read(absl::MakeSpan(&byte, 1));
  };
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> running = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(kPrompt));
  absl::StatusOr<LoopbackClient> queued = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_TRUE(WaitUntil([&] { return server.stats().queued == 1; }, kPrompt));
  const StopReport report = server.Stop();
  EXPECT_EQ(report.dropped, 1u);
  EXPECT_TRUE(ClosesAre(server, CloseInitiator::kStop, 1));
  EXPECT_EQ(server.stats().connection_durations.count, 1u);
}

}  // namespace
}  // namespace weft

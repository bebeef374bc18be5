// ControlGateway against a real unix-socket backend (an echo server on a thread of the test):
// bytes are relayed both ways, the connection cap evicts silent then idle connections and
// refuses when every connection is active, and Stop closes everything.
#include "control/gateway/control_gateway.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "weft/unique_fd.h"

namespace weft::control {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

// EchoBackend: a unix-socket server that echoes every connection, on one poll() thread; or,
// with `blast` > 0, sends that many bytes (as far as they fit at once) to each new connection
// and echoes nothing.
class EchoBackend {
 public:
  explicit EchoBackend(std::size_t blast = 0) : blast_(blast) {
    char dir[] = "/tmp/weft-gateway-test-XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/backend.sock";
    listen_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_.get(), 128), 0);
    int pipe_fds[2];
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    stop_read_.Reset(pipe_fds[0]);
    stop_write_.Reset(pipe_fds[1]);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EchoBackend() {
    [[maybe_unused]] ssize_t r = ::write(stop_write_.get(), "x", 1);
    thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  int connections() const { return connections_.load(); }
  // peer_names: gRPC's names ("unix-abstract:NAME", "unix:") of the peers accepted so far.
  std::vector<std::string> peer_names() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peer_names_;
  }
  // CloseAll closes every accepted connection (at the loop's next wake-up).
  void CloseAll() { [[maybe_unused]] ssize_t r = ::write(stop_write_.get(), "c", 1); }

 private:
  void Loop() {
    std::vector<UniqueFd> peers;
    while (true) {
      std::vector<pollfd> fds = {{stop_read_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}};
      for (const UniqueFd& peer : peers) fds.push_back({peer.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) {
        char c = 0;
        [[maybe_unused]] ssize_t r = ::read(stop_read_.get(), &c, 1);
        if (c != 'c') return;
        connections_.fetch_sub(static_cast<int>(peers.size()));
        peers.clear();
        continue;
      }
      if (fds[1].revents != 0) {
        sockaddr_un peer{};
        socklen_t length = sizeof peer;
        peers.emplace_back(
            ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC));
        const std::size_t name_offset = offsetof(sockaddr_un, sun_path) + 1;
        {
          std::lock_guard<std::mutex> lock(mu_);
          peer_names_.push_back(length > name_offset && peer.sun_path[0] == '\0'
                                    ? absl::StrCat("unix-abstract:",
                                                   absl::string_view(peer.sun_path + 1,
                                                                     length - name_offset))
                                    : "unix:");
        }
        connections_.fetch_add(1);
        if (blast_ > 0) {
          const std::string bytes(blast_, 'b');
          [[maybe_unused]] ssize_t w =
              ::send(peers.back().get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          if (blast_ > 0) continue;
          [[maybe_unused]] ssize_t w = ::send(fds[i].fd, buf, n, MSG_NOSIGNAL);
        } else {
          peers[i - 2].Reset();
          connections_.fetch_sub(1);
        }
      }
      std::erase_if(peers, [](const UniqueFd& fd) { return !fd.valid(); });
    }
  }

  const std::size_t blast_;
  std::string dir_;
  std::string path_;
  UniqueFd listen_;
  UniqueFd stop_read_;
  UniqueFd stop_write_;
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<std::string> peer_names_;  // Guarded by mu_.
  std::thread thread_;
};

std::unique_ptr<ControlGateway> StartGateway(const EchoBackend& backend, std::size_t cap,
                                             absl::Duration min_age = absl::Milliseconds(500)) {
  absl::StatusOr<std::unique_ptr<ControlGateway>> gateway =
      ControlGateway::Start({.address = "127.0.0.1:0",
                             .backend_path = backend.path(),
                             .max_connections = cap,
                             .min_age = min_age});
  EXPECT_TRUE(gateway.ok()) << gateway.status();
  return gateway.ok() ? std::move(*gateway) : nullptr;
}

TEST(ControlGatewayTest, AMalformedAddressIsInvalidArgumentAndSaysWhy) {
  for (const auto& [address, why] : std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1", "missing port"},
           {"127.0.0.1:70000", "the port must be a number from 0 to 65535"},
           {"::1:0", "write an IPv6 address in brackets"},
           {"unix:", "missing socket path"}}) {
    absl::StatusOr<std::unique_ptr<ControlGateway>> gateway =
        ControlGateway::Start({.address = address, .backend_path = "/nonexistent"});
    EXPECT_EQ(gateway.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(gateway.status().message()),
                ::testing::AllOf(::testing::HasSubstr("must be HOST:PORT or unix:/path"),
                                 ::testing::HasSubstr(why)))
        << address;
  }
}

TEST(ControlGatewayTest, ListensOnIpv6Loopback) {
  absl::StatusOr<std::unique_ptr<ControlGateway>> gateway =
      ControlGateway::Start({.address = "[::1]:0", .backend_path = "/nonexistent"});
  if (!gateway.ok() && gateway.status().code() != absl::StatusCode::kInvalidArgument) {
    GTEST_SKIP() << "no IPv6 loopback here: " << gateway.status();
  }
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  EXPECT_GT((*gateway)->port(), 0);
}

TEST(ControlGatewayTest, RelaysBytesBothWaysAndClosesWithEitherSide) {
  EchoBackend backend;
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 4);
  ASSERT_NE(gateway, nullptr);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(client.ok());
  const std::string big(200 * 1024, 'z');  // More than the relay's buffers hold at once.
  std::thread writer([&] { EXPECT_TRUE(client->Send(big).ok()); });
  absl::StatusOr<std::string> back = client->ReadExactly(big.size());
  writer.join();
  EXPECT_TRUE(back.ok() && *back == big) << back.status();
  EXPECT_EQ(gateway->stats().open, 1u);
  client->Close();
  EXPECT_TRUE(WaitUntil([&] { return gateway->stats().open == 0 && backend.connections() == 0; }));
}

TEST(ControlGatewayTest, ClientAddressNamesTheClientBehindEachBackendConnection) {
  EchoBackend backend;
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 4);
  ASSERT_NE(gateway, nullptr);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Echo("hello").ok());
  const std::vector<std::string> names = backend.peer_names();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_THAT(names[0], ::testing::StartsWith("unix-abstract:weft-gateway-"));
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ASSERT_EQ(::getsockname(client->fd(), reinterpret_cast<sockaddr*>(&local), &length), 0);
  EXPECT_EQ(gateway->ClientAddress(names[0]),
            absl::StrCat("ipv4:127.0.0.1:", ntohs(local.sin_port)));
  // Anything else, and a relay that has ended, keep gRPC's name.
  EXPECT_EQ(gateway->ClientAddress("unix:"), "unix:");
  EXPECT_EQ(gateway->ClientAddress("unix-abstract:weft-gateway-1-1-99"),
            "unix-abstract:weft-gateway-1-1-99");
  client->Close();
  ASSERT_TRUE(WaitUntil([&] { return gateway->stats().open == 0; }));
  EXPECT_EQ(gateway->ClientAddress(names[0]), names[0]);
}

TEST(ControlGatewayTest, AtTheCapASilentConnectionMakesRoomForANewOne) {
  EchoBackend backend;
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 2);
  ASSERT_NE(gateway, nullptr);
  std::vector<LoopbackClient> silent;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
    ASSERT_TRUE(client.ok());
    silent.push_back(std::move(*client));
  }
  ASSERT_TRUE(WaitUntil([&] { return gateway->stats().open == 2; }));
  // Silent for silent_grace: a new client takes a slot (retrying while they are younger).
  bool served = false;
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
    if (!client.ok()) return false;
    absl::StatusOr<std::string> echoed = client->Echo("hello", absl::Seconds(2));
    served = echoed.ok() && *echoed == "hello";
    return served;
  }));
  EXPECT_GE(gateway->stats().evicted, 1u);
  // The oldest silent connection was the one closed.
  EXPECT_TRUE(silent.front().ReadUntilClosed().ok());
}

TEST(ControlGatewayTest, AtTheCapWithEveryConnectionYoungerThanTheMinimumAgeANewOneIsRefused) {
  EchoBackend backend;
  // A long minimum age: however slow this machine, the first connection is not replaceable.
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 1, absl::Minutes(10));
  ASSERT_NE(gateway, nullptr);
  absl::StatusOr<LoopbackClient> active = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(active.ok());
  ASSERT_TRUE(active->Echo("busy").ok());
  absl::StatusOr<LoopbackClient> refused = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(refused.ok());
  absl::StatusOr<std::string> closed = refused->ReadUntilClosed(absl::Seconds(5));
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_TRUE(closed->empty());
  EXPECT_EQ(gateway->stats().refused, 1u);
  absl::StatusOr<std::string> still = active->Echo("still");
  EXPECT_TRUE(still.ok() && *still == "still") << "the active connection was cut";
}

TEST(ControlGatewayTest, AtTheCapTheLeastRecentlyActiveConnectionPastTheMinimumAgeMakesRoom) {
  EchoBackend backend;
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 1, absl::Milliseconds(200));
  ASSERT_NE(gateway, nullptr);
  absl::StatusOr<LoopbackClient> idle = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle->Echo("once").ok());  // Not silent: it has sent bytes.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
    if (!client.ok()) return false;
    absl::StatusOr<std::string> echoed = client->Echo("new", absl::Seconds(2));
    return echoed.ok() && *echoed == "new";
  }));
  EXPECT_TRUE(idle->ReadUntilClosed().ok()) << "the idle connection was not the one closed";
  EXPECT_GE(gateway->stats().evicted, 1u);
}

TEST(ControlGatewayTest, ABackendThatHangsUpWhileTheClientIsNotReadingEndsTheRelay) {
  // The backend sends more than the relay buffers toward a client that never reads, then
  // hangs up: its remaining bytes cannot be taken, and the relay must end rather than spin.
  EchoBackend backend(/*blast=*/1 << 20);
  absl::StatusOr<std::unique_ptr<ControlGateway>> started =
      ControlGateway::Start({.address = "127.0.0.1:0",
                             .backend_path = backend.path(),
                             .max_connections = 4,
                             .buffer_bytes = 4096});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ControlGateway> gateway = std::move(*started);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(client.ok());
  const int small = 4096;
  ::setsockopt(client->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(WaitUntil([&] { return backend.connections() == 1; }));
  backend.CloseAll();
  EXPECT_TRUE(WaitUntil([&] { return gateway->stats().open == 0; }))
      << "the relay outlived its backend";
}

TEST(ControlGatewayTest, AUnixPathInUseByALiveListenerIsNotTakenOver) {
  EchoBackend backend;
  absl::StatusOr<std::unique_ptr<ControlGateway>> taken = ControlGateway::Start(
      {.address = absl::StrCat("unix:", backend.path()), .backend_path = backend.path()});
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable) << taken.status();
}

TEST(ControlGatewayTest, StopClosesEveryConnection) {
  EchoBackend backend;
  std::unique_ptr<ControlGateway> gateway = StartGateway(backend, 4);
  ASSERT_NE(gateway, nullptr);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(gateway->port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Echo("x").ok());
  gateway->Stop();
  EXPECT_TRUE(client->ReadUntilClosed().ok());
  EXPECT_TRUE(WaitUntil([&] { return backend.connections() == 0; }));
}

TEST(ControlGatewayTest, BadOptionsAreInvalidArguments) {
  EXPECT_EQ(
      ControlGateway::Start({.address = "nonsense", .backend_path = "/tmp/x.sock"}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ControlGateway::Start(
                {.address = "127.0.0.1:0", .backend_path = "/tmp/x.sock", .max_connections = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ControlGateway::Start({.address = "127.0.0.1:0", .backend_path = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace weft::control

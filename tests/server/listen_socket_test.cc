// Tests of ListenTcp's port sharing (SO_REUSEPORT) and of CheckListeningSocket on real
// loopback sockets.
#include "weft/listen_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/unique_fd.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

constexpr char kLoopback[] = "127.0.0.1";
constexpr int kBacklog = 16;

// BoundPort returns the port a listening IPv4 socket is bound to; 0 on failure.
std::uint16_t BoundPort(const UniqueFd& fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

// Listener: a listening socket and the port it is bound to.
struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
};

// ListenerOnAnEphemeralPort binds 127.0.0.1 port 0 and reads the port back.
absl::StatusOr<Listener> ListenerOnAnEphemeralPort(ListenTcpOptions options) {
  absl::StatusOr<UniqueFd> fd = ListenTcp(kLoopback, 0, kBacklog, options);
  if (!fd.ok()) return fd.status();
  const std::uint16_t port = BoundPort(*fd);
  if (port == 0) return absl::InternalError("getsockname found no port");
  return Listener{std::move(*fd), port};
}

TEST(ListenTcpTest, TwoSocketsWithReusePortShareOnePort) {
  absl::StatusOr<Listener> first = ListenerOnAnEphemeralPort({.reuse_port = true});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<UniqueFd> second =
      ListenTcp(kLoopback, first->port, kBacklog, {.reuse_port = true});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(BoundPort(*second), first->port);
  int reuse = 0;
  socklen_t len = sizeof reuse;
  ASSERT_EQ(::getsockopt(second->get(), SOL_SOCKET, SO_REUSEPORT, &reuse, &len), 0);
  EXPECT_EQ(reuse, 1);
}

TEST(ListenTcpTest, WithoutReusePortTheSecondSocketIsRefusedWithUnavailable) {
  absl::StatusOr<Listener> first = ListenerOnAnEphemeralPort({});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<UniqueFd> second = ListenTcp(kLoopback, first->port, kBacklog);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr("already in use"));
}

TEST(ListenTcpTest, ReusePortOnOnlyOneOfTwoSocketsIsRefusedEitherWayRound) {
  for (const bool first_reuses : {true, false}) {
    SCOPED_TRACE(first_reuses ? "first with reuse_port" : "second with reuse_port");
    absl::StatusOr<Listener> first = ListenerOnAnEphemeralPort({.reuse_port = first_reuses});
    ASSERT_TRUE(first.ok()) << first.status();
    absl::StatusOr<UniqueFd> second =
        ListenTcp(kLoopback, first->port, kBacklog, {.reuse_port = !first_reuses});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
    EXPECT_THAT(second.status().message(), HasSubstr("already in use"));
  }
}

TEST(ListenTcpTest, AClosedReusePortSocketLeavesThePortToTheOthers) {
  absl::StatusOr<Listener> first = ListenerOnAnEphemeralPort({.reuse_port = true});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<UniqueFd> second =
      ListenTcp(kLoopback, first->port, kBacklog, {.reuse_port = true});
  ASSERT_TRUE(second.ok()) << second.status();
  first->fd.Reset();
  // Still held by `second`: a socket without reuse_port is refused.
  absl::StatusOr<UniqueFd> plain = ListenTcp(kLoopback, first->port, kBacklog);
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kUnavailable) << plain.status();
  absl::StatusOr<UniqueFd> third =
      ListenTcp(kLoopback, first->port, kBacklog, {.reuse_port = true});
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(CheckListeningSocketTest, ReturnsTheAddressAListeningSocketIsBoundTo) {
  absl::StatusOr<Listener> listener = ListenerOnAnEphemeralPort({});
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<Endpoint> local = CheckListeningSocket(listener->fd.get());
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->address, kLoopback);
  EXPECT_EQ(local->port, listener->port);
}

TEST(CheckListeningSocketTest, APipeOrNoDescriptorIsAnInvalidArgument) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);
  absl::StatusOr<Endpoint> pipe = CheckListeningSocket(read_end.get());
  EXPECT_EQ(pipe.status().code(), absl::StatusCode::kInvalidArgument) << pipe.status();
  EXPECT_THAT(pipe.status().message(), HasSubstr("not a socket"));
  absl::StatusOr<Endpoint> gone = CheckListeningSocket(-1);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kInvalidArgument) << gone.status();
  EXPECT_THAT(gone.status().message(), HasSubstr("not open"));
}

}  // namespace
}  // namespace weft

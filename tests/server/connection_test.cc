// Connection: blocking-style I/O over a non-blocking socket, with deadlines.
#include "weft/connection.h"

#include <sys/socket.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "weft/unique_fd.h"
#include "tests/testing/loopback_client.h"

namespace weft {
namespace {

using ::weft::UniqueFd;

// A connected socket pair: `connection` under test and the raw `peer` end.
class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    // The idle timeout makes a broken test fail instead of blocking forever.
    connection_ = std::make_unique<Connection>(fds[0], Endpoint{"10.0.0.1", 1234},
                                               Endpoint{"10.0.0.2", 80},
                                               ConnectionLimits{.idle_timeout = absl::Seconds(10)});
    peer_.Reset(fds[1]);
  }

  void PeerWrite(absl::string_view data) {
    ASSERT_EQ(::write(peer_.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }

  std::unique_ptr<Connection> connection_;
  UniqueFd peer_;
};

TEST_F(ConnectionTest, ReadReturnsZeroAtEndOfStream) {
  PeerWrite("abc");
  peer_.Reset();
  char buffer[8];
  absl::StatusOr<std::size_t> n = connection_->Read(absl::MakeSpan(buffer));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buffer, *n), "abc");
  n = connection_->Read(absl::MakeSpan(buffer));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST_F(ConnectionTest, ReadLineStripsLineEndingsAndReturnsAFinalUnterminatedLine) {
  PeerWrite("first\r\nsecond\nlast");
  peer_.Reset();
  EXPECT_EQ(connection_->ReadLine().value_or("?"), "first");
  EXPECT_EQ(connection_->ReadLine().value_or("?"), "second");
  EXPECT_EQ(connection_->ReadLine().value_or("?"), "last");
  EXPECT_EQ(connection_->ReadLine().status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ConnectionTest, ReadLineAcceptsALineOfExactlyTheCapAndRejectsALongerOne) {
  PeerWrite("12345\r\n123456\n");
  EXPECT_EQ(connection_->ReadLine(5).value_or("?"), "12345");
  absl::StatusOr<std::string> line = connection_->ReadLine(5);
  EXPECT_EQ(line.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(line.status().message().find("10.0.0.1:1234"), std::string::npos)
      << "the error names the peer: " << line.status();
}

TEST_F(ConnectionTest, ReadLineAppliesTheCapToAFinalUnterminatedLine) {
  PeerWrite("123456");
  peer_.Reset();
  EXPECT_EQ(connection_->ReadLine(5).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ConnectionTest, ReadLineRejectsOneByteOverTheCapUnlessItIsTheCarriageReturn) {
  PeerWrite("123456");
  EXPECT_EQ(connection_->ReadLine(5).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ConnectionTest, ReadLineRejectsAnEndlessLineWithoutWaitingForItsEnd) {
  PeerWrite(std::string(100, 'x'));
  EXPECT_EQ(connection_->ReadLine(10).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ConnectionTest, ReadAfterReadLineReturnsTheBytesAlreadyBuffered) {
  PeerWrite("header\nbody");
  EXPECT_EQ(connection_->ReadLine().value_or("?"), "header");
  char buffer[16];
  absl::StatusOr<std::size_t> n = connection_->Read(absl::MakeSpan(buffer));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buffer, *n), "body");
}

TEST_F(ConnectionTest, WriteAllWritesFarMoreThanTheSocketBufferHolds) {
  const std::string payload(4 << 20, 'w');
  std::string received;
  std::thread reader([&] {
    char buffer[64 * 1024];
    while (received.size() < payload.size()) {
      const ssize_t n = ::read(peer_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      received.append(buffer, static_cast<std::size_t>(n));
    }
  });
  EXPECT_TRUE(connection_->WriteAll(payload).ok());
  reader.join();
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_EQ(connection_->bytes_out(), payload.size());
}

TEST_F(ConnectionTest, CountsBytesInAndOut) {
  PeerWrite("12345");
  char buffer[16];
  ASSERT_TRUE(connection_->Read(absl::MakeSpan(buffer)).ok());
  ASSERT_TRUE(connection_->WriteAll("abc").ok());
  EXPECT_EQ(connection_->bytes_in(), 5u);
  EXPECT_EQ(connection_->bytes_out(), 3u);
  EXPECT_EQ(connection_->peer().ToString(), "10.0.0.1:1234");
  EXPECT_EQ(connection_->local().ToString(), "10.0.0.2:80");
}

TEST_F(ConnectionTest, IdleTimeoutFailsABlockedReadWithDeadlineExceeded) {
  connection_->SetIdleTimeout(absl::Milliseconds(50));
  char buffer[1];
  absl::StatusOr<std::size_t> n = connection_->Read(absl::MakeSpan(buffer));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded) << n.status();
}

TEST_F(ConnectionTest, APassedDeadlineFailsEveryCallEvenWithDataWaiting) {
  PeerWrite("x\n");
  connection_->SetDeadline(std::chrono::steady_clock::now());
  char buffer[1];
  EXPECT_EQ(connection_->Read(absl::MakeSpan(buffer)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(connection_->ReadLine().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(connection_->WriteAll("y").code(), absl::StatusCode::kDeadlineExceeded);
  connection_->SetDeadline(kNoDeadline);
  EXPECT_EQ(connection_->ReadLine().value_or("?"), "x") << "clearing the deadline restores I/O";
}

TEST_F(ConnectionTest, LifetimeCapFailsIOAfterItPasses) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd peer(fds[1]);
  Connection capped(fds[0], Endpoint{}, Endpoint{},
                    ConnectionLimits{.max_lifetime = absl::Milliseconds(50)});
  char buffer[1];
  EXPECT_EQ(capped.Read(absl::MakeSpan(buffer)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ConnectionTest, WritingToAVanishedPeerIsUnavailableAndRaisesNoSigpipe) {
  peer_.Reset();
  absl::Status status = connection_->WriteAll(std::string(1 << 20, 'z'));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(ConnectionTest, ShutdownWriteLetsThePeerSeeEndOfStreamWhileReadingGoesOn) {
  ASSERT_TRUE(connection_->WriteAll("bye").ok());
  ASSERT_TRUE(connection_->ShutdownWrite().ok());
  char buffer[8];
  EXPECT_EQ(::read(peer_.get(), buffer, sizeof buffer), 3);
  EXPECT_EQ(::read(peer_.get(), buffer, sizeof buffer), 0);
  PeerWrite("still");
  absl::StatusOr<std::size_t> n = connection_->Read(absl::MakeSpan(buffer));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buffer, *n), "still");
}

TEST_F(ConnectionTest, IOAfterCloseFailsWithFailedPrecondition) {
  connection_->Close();
  connection_->Close();  // Idempotent.
  EXPECT_EQ(connection_->fd(), -1);
  char buffer[1];
  EXPECT_EQ(connection_->Read(absl::MakeSpan(buffer)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(connection_->WriteAll("x").code(), absl::StatusCode::kFailedPrecondition);
  char eof;
  EXPECT_EQ(::read(peer_.get(), &eof, 1), 0) << "Close closed the socket";
}

}  // namespace
}  // namespace weft

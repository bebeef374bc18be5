// The small built-ins (echo, discard, daytime, chargen) over real sockets, and how every
// built-in ends when its server stops.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/server/handlers/handler_test_server.h"
#include "tests/testing/loopback_client.h"

namespace weft::testing {
namespace {

// ChargenLine returns line `n` of RFC 864's pattern, written out independently of the
// handler: 72 characters of the ring ' ' .. '~' starting at character n mod 95, then CRLF.
std::string ChargenLine(int n) {
  const std::string ring =
      " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
      "abcdefghijklmnopqrstuvwxyz{|}~";
  std::string twice = ring + ring;
  return twice.substr(n % 95, 72) + "\r\n";
}

class EchoHandlerTest : public HandlerServerTest {};

TEST_F(EchoHandlerTest, SendsBackEveryByteAndClosesAfterTheClientsEndOfStream) {
  ASSERT_NO_FATAL_FAILURE(StartServer("echo"));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Echo("hello\r\n").value_or("?"), "hello\r\n");
  std::string binary;
  for (int i = 0; i < 64 * 1024; ++i) binary.push_back(static_cast<char>(i * 7));
  EXPECT_EQ(client->Echo(binary).value_or("?"), binary);
  ASSERT_TRUE(client->ShutdownWrite().ok());
  EXPECT_EQ(client->ReadUntilClosed().value_or("?"), "");
}

class DiscardHandlerTest : public HandlerServerTest {};

TEST_F(DiscardHandlerTest, ReturnsNothingAndClosesAfterTheClientsEndOfStream) {
  ASSERT_NO_FATAL_FAILURE(StartServer("discard"));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send(std::string(256 * 1024, 'x')).ok());
  ASSERT_TRUE(client->ShutdownWrite().ok());
  EXPECT_EQ(client->ReadUntilClosed().value_or("?"), "");
  EXPECT_TRUE(WaitUntil([&] { return server_->stats().open == 0; }));
}

class DaytimeHandlerTest : public HandlerServerTest {};

TEST_F(DaytimeHandlerTest, SendsOneLineWithTheCurrentUtcDateAndTimeAndCloses) {
  ASSERT_NO_FATAL_FAILURE(StartServer("daytime"));
  const absl::Time before = absl::Now();
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> line = client->ReadUntilClosed();
  ASSERT_TRUE(line.ok()) << line.status();

  // "Thursday, November 26, 2026 09:17:48-UTC\r\n"
  const std::regex format(
      "(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
      "(January|February|March|April|May|June|July|August|September|October|November|December) "
      "[1-9][0-9]?, [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9]-UTC\r\n");
  EXPECT_TRUE(std::regex_match(*line, format)) << absl::CHexEscape(*line);

  absl::Time sent;
  std::string error;
  ASSERT_TRUE(
      absl::ParseTime("%A, %B %d, %Y %H:%M:%S-UTC\r\n", *line, absl::UTCTimeZone(), &sent, &error))
      << error;
  // The line has whole seconds; allow for that and for a slow machine.
  EXPECT_GE(sent, absl::FromUnixSeconds(absl::ToUnixSeconds(before)));
  EXPECT_LE(sent, absl::Now() + absl::Seconds(1));
}

class ChargenHandlerTest : public HandlerServerTest {};

TEST_F(ChargenHandlerTest, FirstTwoLinesAreExactlyThoseOfRfc864) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chargen"));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::string> lines = client->ReadExactly(2 * 74);
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_EQ(*lines,
            " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
            "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n");
}

TEST_F(ChargenHandlerTest, ThePatternWrapsAroundAndRepeatsEvery95Lines) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chargen"));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  constexpr int kLines = 3 * 95 + 2;
  absl::StatusOr<std::string> text = client->ReadExactly(kLines * 74);
  ASSERT_TRUE(text.ok()) << text.status();
  for (int n = 0; n < kLines; ++n) {
    ASSERT_EQ(text->substr(n * 74, 74), ChargenLine(n)) << "line " << n;
  }
  EXPECT_EQ(ChargenLine(94),
            "~ !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdef\r\n")
      << "the test's own reference wraps";
}

TEST_F(ChargenHandlerTest, StopsWhenTheClientCloses) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chargen"));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->ReadExactly(74).ok());
  client->Close();
  EXPECT_TRUE(WaitUntil([&] { return server_->stats().open == 0; }))
      << "the handler should notice the closed connection on its next write";
}

// Every built-in returns promptly when its server stops: none needs its socket shut down.
class BuiltinShutdownTest : public HandlerServerTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(BuiltinShutdownTest, StopEndsAnIdleConnectionCooperatively) {
  ASSERT_NO_FATAL_FAILURE(StartServer(GetParam()));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  // chargen: its writes fill the socket buffers and then block, since the client never reads.
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().running == 1; }));
  const StopReport report = server_->Stop(absl::Seconds(60));
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(report.forced, 0u);
  absl::StatusOr<std::string> rest = client->ReadUntilClosed();
  EXPECT_TRUE(rest.ok()) << rest.status();
}

TEST_P(BuiltinShutdownTest, StopEndsAConnectionInTheMiddleOfItsInput) {
  ASSERT_NO_FATAL_FAILURE(StartServer(GetParam()));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  // Input the handler is still working through (http-hello: a body with more to come).
  ASSERT_TRUE(client
                  ->Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                         std::string(64 * 1024, 'x'))
                  .ok());
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().running == 1; }));
  const StopReport report = server_->Stop(absl::Seconds(60));
  EXPECT_EQ(report.cooperative, 1u);
  EXPECT_EQ(report.forced, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllBlocking, BuiltinShutdownTest,
                         ::testing::Values("chargen", "discard", "echo", "http-hello"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace weft::testing

// http-hello over real sockets: responses, keep-alive, pipelining and the error statuses.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/server/handlers/handler_test_server.h"
#include "tests/testing/loopback_client.h"

namespace weft::testing {
namespace {

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Header returns the value of the first field named `name` (any case).
  std::optional<std::string> Header(absl::string_view name) const {
    for (const auto& [field, value] : headers) {
      if (absl::EqualsIgnoreCase(field, name)) return value;
    }
    return std::nullopt;
  }
};

// ReadResponse reads one response; its body is framed by Content-Length, and absent when it
// answers a HEAD request. The whole read is bounded by kTestTimeout.
absl::StatusOr<HttpResponse> ReadResponse(LoopbackClient& client, bool head_request = false) {
  const absl::Time deadline = absl::Now() + kTestTimeout;
  std::string head;
  while (!absl::EndsWith(head, "\r\n\r\n")) {
    if (head.size() > 64 * 1024) return absl::OutOfRangeError("response head too long");
    absl::StatusOr<std::string> byte = client.ReadExactly(1, deadline - absl::Now());
    if (!byte.ok()) return byte.status();
    head += *byte;
  }
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  lines.resize(lines.size() - 2);  // The blank line and the empty piece after it.
  HttpResponse response;
  if (!absl::StartsWith(lines[0], "HTTP/1.1 ") || lines[0].size() < 12) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  response.status = std::atoi(lines[0].substr(9, 3).c_str());
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::pair<std::string, std::string> field = absl::StrSplit(lines[i], absl::MaxSplits(": ", 1));
    response.headers.push_back(std::move(field));
  }
  const std::optional<std::string> length = response.Header("Content-Length");
  if (!length.has_value()) return absl::DataLossError("response without Content-Length");
  if (!head_request) {
    absl::StatusOr<std::string> body =
        client.ReadExactly(std::strtoul(length->c_str(), nullptr, 10), deadline - absl::Now());
    if (!body.ok()) return body.status();
    response.body = *std::move(body);
  }
  return response;
}

class HttpHelloHandlerTest : public HandlerServerTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartServer("http-hello")); }

  // ExpectClosed checks that the server closes the connection without sending anything more.
  static void ExpectClosed(LoopbackClient& client) {
    absl::StatusOr<std::string> rest = client.ReadUntilClosed();
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(*rest, "");
  }
};

TEST_F(HttpHelloHandlerTest, GetGets200WithTheBodyAndItsLength) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send(kGet).ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "Hello, World!\n");
  EXPECT_EQ(response->Header("Content-Length"), "14");
  EXPECT_EQ(response->Header("Content-Type"), "text/plain");
  EXPECT_EQ(response->Header("Server"), "weft");
  EXPECT_EQ(response->Header("Connection"), std::nullopt) << "HTTP/1.1 keeps alive by default";
  const std::regex imf_fixdate(
      "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT");
  const std::string date = response->Header("Date").value_or("(no Date)");
  ASSERT_TRUE(std::regex_match(date, imf_fixdate)) << date;
  absl::Time sent;
  std::string error;
  ASSERT_TRUE(
      absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", date, absl::UTCTimeZone(), &sent, &error))
      << error;
  EXPECT_EQ(absl::FormatTime("%a", sent, absl::UTCTimeZone()), date.substr(0, 3)) << date;
  EXPECT_LE(absl::AbsDuration(sent - absl::Now()), absl::Minutes(1)) << date;
}

TEST_F(HttpHelloHandlerTest, TheDateOfAKeepAliveConnectionFollowsTheClock) {
  // Responses on one connection are built once per date: the next second must still show.
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send(kGet).ok());
  absl::StatusOr<HttpResponse> first = ReadResponse(*client);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::optional<std::string> first_date = first->Header("Date");
  ASSERT_TRUE(first_date.has_value());
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  std::optional<std::string> date = first_date;
  while (date == first_date && absl::Now() < deadline) {
    ASSERT_TRUE(client->Send(kGet).ok());
    absl::StatusOr<HttpResponse> response = ReadResponse(*client);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, "Hello, World!\n");
    date = response->Header("Date");
  }
  EXPECT_NE(date, first_date) << "the Date stayed " << *first_date << " for 3 s";
}

TEST_F(HttpHelloHandlerTest, KeepsTheConnectionOpenForFurtherRequests) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->Send(kGet).ok());
    absl::StatusOr<HttpResponse> response = ReadResponse(*client);
    ASSERT_TRUE(response.ok()) << "request " << i << ": " << response.status();
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(server_->stats().accepted, 1u);
}

TEST_F(HttpHelloHandlerTest, HeadGetsTheHeadersOfGetWithoutTheBody) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n").ok());
  absl::StatusOr<HttpResponse> head = ReadResponse(*client, /*head_request=*/true);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), "14");
  // Had the server sent a body, it would now be read as the start of the next response.
  ASSERT_TRUE(client->Send(kGet).ok());
  absl::StatusOr<HttpResponse> get = ReadResponse(*client);
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "Hello, World!\n");
}

TEST_F(HttpHelloHandlerTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client
                  ->Send(absl::StrCat("DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n",
                                      "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n",
                                      "GET /c HTTP/1.1\r\nHost: x\r\n\r\n"))
                  .ok());
  absl::StatusOr<HttpResponse> first = ReadResponse(*client);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 405);
  absl::StatusOr<HttpResponse> second = ReadResponse(*client, /*head_request=*/true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, 200);
  absl::StatusOr<HttpResponse> third = ReadResponse(*client);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->status, 200);
  EXPECT_EQ(third->body, "Hello, World!\n");
}

TEST_F(HttpHelloHandlerTest, ARequestArrivingByteByByteIsAnswered) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  for (const char c : absl::string_view(kGet)) {
    ASSERT_TRUE(client->Send(absl::string_view(&c, 1)).ok());
  }
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpHelloHandlerTest, ConnectionCloseClosesAfterTheResponse) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Connection"), "close");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, Http10ClosesAfterTheResponse) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("GET / HTTP/1.0\r\n\r\n").ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "Hello, World!\n");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, Http10WithKeepAliveStaysOpen) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->Header("Connection"), "keep-alive");
  ASSERT_TRUE(client->Send("GET / HTTP/1.0\r\n\r\n").ok());
  response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, MalformedRequestGets400AndClose) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("GARBAGE\r\n\r\n").ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->Header("Connection"), "close");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, OversizedHeadersGet431AndClose) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client
                  ->Send(absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ",
                                      std::string(9 * 1024, 'a'), "\r\n\r\n"))
                  .ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->Header("Connection"), "close");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, ChunkedBodyGets501AndClose) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client
                  ->Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n")
                  .ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 501);
  EXPECT_EQ(response->Header("Connection"), "close");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, PostWithABodyGets405AndTheConnectionStaysUsable) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client
                  ->Send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                         "hello=world")
                  .ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("Allow"), "GET, HEAD");
  EXPECT_EQ(response->Header("Connection"), std::nullopt);
  // The body was consumed, not taken for the next request.
  ASSERT_TRUE(client->Send(kGet).ok());
  response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpHelloHandlerTest, PostOfTwoMebibytesGets413AndClose) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  constexpr std::size_t kBody = 2 * 1024 * 1024;
  // The whole request in one go: the server must drain what it will not read, or closing
  // would reset the connection and could destroy the response.
  ASSERT_TRUE(client
                  ->Send(absl::StrCat("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ", kBody,
                                      "\r\n\r\n", std::string(kBody, 'x')))
                  .ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->Header("Connection"), "close");
  ExpectClosed(*client);
}

TEST_F(HttpHelloHandlerTest, ABodyOfOneMebibyteIsReadAndDiscarded) {
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  constexpr std::size_t kBody = 1024 * 1024;
  ASSERT_TRUE(client
                  ->Send(absl::StrCat("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: ", kBody,
                                      "\r\n\r\n", std::string(kBody, 'x'), kGet))
                  .ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 405);
  response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

class HttpHelloArgumentsTest : public HandlerServerTest {};

TEST_F(HttpHelloArgumentsTest, BodyArgumentReplacesTheBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer("http-hello", {"body=pong"}));
  absl::StatusOr<LoopbackClient> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send(kGet).ok());
  absl::StatusOr<HttpResponse> response = ReadResponse(*client);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "pong");
  EXPECT_EQ(response->Header("Content-Length"), "4");
}

}  // namespace
}  // namespace weft::testing

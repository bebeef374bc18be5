// HttpRequestParser: framing, limits and errors, fed all at once and byte by byte.
#include "server/handlers/http_request_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace weft::handlers_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kGet[] = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

// FeedAll feeds `bytes` in one call and returns the status; `*rest` gets what was left.
HttpParseStatus FeedAll(HttpRequestParser& parser, absl::string_view bytes,
                        absl::string_view* rest = nullptr) {
  absl::string_view input = bytes;
  const HttpParseStatus status = parser.Feed(&input);
  if (rest != nullptr) *rest = input;
  return status;
}

// ErrorCodeOf parses `bytes` in one call and returns the error status code, or 0 if none.
int ErrorCodeOf(absl::string_view bytes, HttpRequestLimits limits = {}) {
  HttpRequestParser parser(limits);
  if (FeedAll(parser, bytes) != HttpParseStatus::kError) return 0;
  return parser.error().status_code;
}

TEST(HttpRequestParserTest, ParsesARequestFedAllAtOnce) {
  HttpRequestParser parser;
  absl::string_view rest;
  ASSERT_EQ(FeedAll(parser, kGet, &rest), HttpParseStatus::kComplete);
  EXPECT_EQ(rest, "");
  const HttpRequest& request = parser.request();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/index.html?q=1");
  EXPECT_EQ(request.version_minor, 1);
  EXPECT_THAT(request.headers, ElementsAre(Pair("Host", "example.com"), Pair("Accept", "*/*")));
  EXPECT_EQ(request.content_length, 0u);
  EXPECT_TRUE(request.keep_alive);
}

TEST(HttpRequestParserTest, ParsesARequestWithABodyFedByteByByte) {
  const std::string bytes =
      "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Pad:  a b \t\r\n\r\nhello";
  HttpRequestParser parser;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    absl::string_view one(&bytes[i], 1);
    const HttpParseStatus status = parser.Feed(&one);
    EXPECT_TRUE(one.empty()) << "byte " << i << " was not consumed";
    if (i + 1 < bytes.size()) {
      ASSERT_EQ(status, HttpParseStatus::kNeedMore) << "byte " << i;
    } else {
      ASSERT_EQ(status, HttpParseStatus::kComplete);
    }
  }
  EXPECT_EQ(parser.request().method, "POST");
  EXPECT_EQ(parser.request().content_length, 5u);
  EXPECT_THAT(parser.request().headers,
              ElementsAre(Pair("Host", "x"), Pair("Content-Length", "5"), Pair("X-Pad", "a b")));
}

TEST(HttpRequestParserTest, EveryErrorIsFoundWhenFedByteByByte) {
  // A byte-at-a-time feed reaches the same verdict as one call.
  for (const std::string bytes : {
           std::string("GARBAGE\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
           absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX: ", std::string(9000, 'a'), "\r\n\r\n"),
           std::string("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"),
       }) {
    HttpRequestParser parser;
    HttpParseStatus status = HttpParseStatus::kNeedMore;
    for (std::size_t i = 0; i < bytes.size() && status == HttpParseStatus::kNeedMore; ++i) {
      absl::string_view one(&bytes[i], 1);
      status = parser.Feed(&one);
    }
    ASSERT_EQ(status, HttpParseStatus::kError) << bytes.substr(0, 40);
    EXPECT_EQ(parser.error().status_code, ErrorCodeOf(bytes)) << bytes.substr(0, 40);
  }
}

TEST(HttpRequestParserTest, PipelinedRequestsAreParsedOneAfterAnother) {
  const std::string bytes =
      absl::StrCat("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", kGet,
                   "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\nGET /d");
  HttpRequestParser parser;
  absl::string_view input = bytes;
  ASSERT_EQ(parser.Feed(&input), HttpParseStatus::kComplete);
  EXPECT_EQ(parser.request().target, "/a");
  parser.Reset();
  ASSERT_EQ(parser.Feed(&input), HttpParseStatus::kComplete);
  EXPECT_EQ(parser.request().target, "/index.html?q=1");
  EXPECT_THAT(parser.request().headers,
              ElementsAre(Pair("Host", "example.com"), Pair("Accept", "*/*")))
      << "Reset forgets the previous request's headers";
  parser.Reset();
  ASSERT_EQ(parser.Feed(&input), HttpParseStatus::kComplete);
  EXPECT_EQ(parser.request().method, "HEAD");
  parser.Reset();
  EXPECT_EQ(parser.Feed(&input), HttpParseStatus::kNeedMore);
  EXPECT_TRUE(input.empty());
}

TEST(HttpRequestParserTest, FeedAfterCompletionConsumesNothingUntilReset) {
  HttpRequestParser parser;
  const std::string bytes = absl::StrCat(kGet, kGet);
  absl::string_view input = bytes;
  ASSERT_EQ(parser.Feed(&input), HttpParseStatus::kComplete);
  const std::size_t left = input.size();
  EXPECT_EQ(parser.Feed(&input), HttpParseStatus::kComplete);
  EXPECT_EQ(input.size(), left);
}

TEST(HttpRequestParserTest, SkipsEmptyLinesBeforeTheRequestEvenWhenSplitBetweenCrAndLf) {
  const std::string bytes = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::size_t piece : {bytes.size(), std::size_t{1}, std::size_t{3}}) {
    HttpRequestParser parser;
    HttpParseStatus status = HttpParseStatus::kNeedMore;
    for (std::size_t i = 0; i < bytes.size(); i += piece) {
      absl::string_view input = absl::string_view(bytes).substr(i, piece);
      status = parser.Feed(&input);
      EXPECT_TRUE(input.empty());
    }
    ASSERT_EQ(status, HttpParseStatus::kComplete) << "pieces of " << piece;
    EXPECT_EQ(parser.request().method, "GET");
    EXPECT_THAT(parser.request().headers, ElementsAre(Pair("Host", "x")));
  }
}

TEST(HttpRequestParserTest, FoldedHeaderValuesAreJoinedWithASpace) {
  // RFC 9112 §5.2 lets a server replace obsolete line folding with spaces instead of a 400.
  HttpRequestParser parser;
  ASSERT_EQ(FeedAll(parser, "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  folded\r\n\r\n"),
            HttpParseStatus::kComplete);
  EXPECT_THAT(parser.request().headers, ElementsAre(Pair("Host", "x"), Pair("X", "a folded")));
}

TEST(HttpRequestParserTest, KeepAliveFollowsHttp11Rules) {
  struct Case {
    const char* request;
    bool keep_alive;
  };
  for (const Case& c : {
           Case{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
           Case{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
           Case{"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
           Case{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nConnection: close\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
       }) {
    HttpRequestParser parser;
    ASSERT_EQ(FeedAll(parser, c.request), HttpParseStatus::kComplete) << c.request;
    EXPECT_EQ(parser.request().keep_alive, c.keep_alive) << c.request;
  }
}

TEST(HttpRequestParserTest, MalformedRequestsAre400) {
  for (const char* bytes : {
           "GARBAGE\r\n\r\n",
           "GET /\r\nHost: x\r\n\r\n",
           "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
           "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / http/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.10\r\nHost: x\r\n\r\n",
           "GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP\r\n\r\n",           // The version cut short.
           "GET / HTTP/1.1\nHost: x\n\n",  // Bare line feeds.
           "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",                        // No Host in HTTP/1.1.
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // Two Hosts.
           "GET / HTTP/1.1\r\nHost : x\r\n\r\n",            // Space before the colon.
           "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",  // Bare CR.
           "GET / HTTP/1.1\r\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       }) {
    EXPECT_EQ(ErrorCodeOf(bytes), 400) << absl::CEscape(bytes);
  }
  EXPECT_EQ(ErrorCodeOf(absl::string_view("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n", 29)), 400)
      << "a NUL in a field value";
}

TEST(HttpRequestParserTest, AHeadIsJudgedWhenItsEmptyLineArrivesEvenWithBareLineFeeds) {
  for (const char* head : {"GARBAGE\r\n", "GET / HTTP/1.1\nHost: x\n"}) {
    HttpRequestParser parser;
    EXPECT_EQ(FeedAll(parser, head), HttpParseStatus::kNeedMore) << absl::CEscape(head);
    const HttpParseStatus status = FeedAll(parser, absl::EndsWith(head, "\r\n") ? "\r\n" : "\n");
    ASSERT_EQ(status, HttpParseStatus::kError) << absl::CEscape(head);
    EXPECT_EQ(parser.error().status_code, 400);
  }
}

TEST(HttpRequestParserTest, IdenticalRepeatedContentLengthsAreAccepted) {
  // RFC 9110 §8.6: repeats (in separate fields or in one list) are one value when identical.
  for (const char* bytes : {"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                            "content-length: 2\r\n\r\nab",
                            "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab"}) {
    HttpRequestParser parser;
    ASSERT_EQ(FeedAll(parser, bytes), HttpParseStatus::kComplete) << absl::CEscape(bytes);
    EXPECT_EQ(parser.request().content_length, 2u);
  }
}

TEST(HttpRequestParserTest, VersionsOtherThan10And11Are400) {
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/0.9\r\n\r\n"), 400);
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 400);
}

TEST(HttpRequestParserTest, AnyTransferEncodingIs501) {
  EXPECT_EQ(ErrorCodeOf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(ErrorCodeOf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
                        "Content-Length: 4\r\n\r\n"),
            501);
  EXPECT_EQ(ErrorCodeOf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"),
            501);
}

TEST(HttpRequestParserTest, AHeadOfExactlyTheLimitIsAcceptedAndOneByteMoreIs431) {
  const std::string start = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
  const std::string end = "\r\n\r\n";
  const std::string at_limit = start + std::string(8192 - start.size() - end.size(), 'a') + end;
  ASSERT_EQ(at_limit.size(), 8192u);
  HttpRequestParser parser;
  EXPECT_EQ(FeedAll(parser, at_limit), HttpParseStatus::kComplete);

  const std::string over = start + std::string(8193 - start.size() - end.size(), 'a') + end;
  EXPECT_EQ(ErrorCodeOf(over), 431);
  // An endless line fails as soon as it passes the limit, without waiting for its end.
  EXPECT_EQ(ErrorCodeOf(std::string(8193, 'G')), 431);
  std::string empty_lines;
  for (int i = 0; i < 4500; ++i) empty_lines += "\r\n";
  EXPECT_EQ(ErrorCodeOf(empty_lines), 431) << "skipped empty lines count too";
}

TEST(HttpRequestParserTest, AHundredHeadersAreAcceptedAndOneMoreIs431) {
  std::string hundred = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 1; i < 100; ++i) absl::StrAppend(&hundred, "X-", i, ": v\r\n");
  HttpRequestParser parser;
  EXPECT_EQ(FeedAll(parser, hundred + "\r\n"), HttpParseStatus::kComplete);
  EXPECT_EQ(parser.request().headers.size(), 100u);
  EXPECT_EQ(ErrorCodeOf(hundred + "X-100: v\r\n\r\n"), 431);
}

TEST(HttpRequestParserTest, ABodyOfExactlyTheLimitIsAcceptedAndOneByteMoreIs413) {
  HttpRequestParser parser;
  ASSERT_EQ(FeedAll(parser, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"),
            HttpParseStatus::kNeedMore);
  const std::string body_and_more = std::string(1024 * 1024, 'x') + "GET";
  absl::string_view rest;
  EXPECT_EQ(FeedAll(parser, body_and_more, &rest), HttpParseStatus::kComplete);
  EXPECT_EQ(rest, "GET");

  EXPECT_EQ(ErrorCodeOf("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"), 413);
  EXPECT_EQ(ErrorCodeOf("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n"
                        "\r\n"),
            413)
      << "the largest 64-bit length";
  EXPECT_EQ(ErrorCodeOf("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                        "00000000000000000000000000000000000005\r\n\r\n"),
            0)
      << "leading zeros are only zeros";
}

TEST(HttpRequestParserTest, CustomLimitsApply) {
  HttpRequestLimits limits;
  limits.max_head_bytes = 40;
  limits.max_headers = 1;
  limits.max_body_bytes = 0;
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n", limits), 431);
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/1.1\r\nHost: x\r\n\r\n", limits), 0);
  EXPECT_EQ(ErrorCodeOf("GET / HTTP/1.0\r\nContent-Length: 1\r\n\r\n", limits), 413);
}

TEST(HttpRequestParserTest, ArbitraryBytesNeverCrashOrHang) {
  // A smoke test for the fuzzer to come: random input, in random pieces, under the sanitizers.
  std::mt19937 random(42);
  const std::string alphabet = "GET HTTP/1.0\r\n:Host-Content-Length:0123456789 \t\x01\xff";
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    const int size = static_cast<int>(random() % 300);
    for (int i = 0; i < size; ++i) {
      bytes.push_back(random() % 4 == 0 ? static_cast<char>(random() % 256)
                                        : alphabet[random() % alphabet.size()]);
    }
    HttpRequestParser parser;
    absl::string_view input = bytes;
    while (!input.empty()) {
      absl::string_view piece = input.substr(0, 1 + random() % 20);
      const std::size_t before = piece.size();
      const HttpParseStatus status = parser.Feed(&piece);
      input.remove_prefix(before - piece.size());
      if (status == HttpParseStatus::kComplete) {
        parser.Reset();
      } else if (status == HttpParseStatus::kError) {
        const int code = parser.error().status_code;
        ASSERT_TRUE(code == 400 || code == 413 || code == 431 || code == 501) << code;
        break;
      } else {
        ASSERT_TRUE(piece.empty()) << "kNeedMore consumes everything";
      }
    }
  }
}

}  // namespace
}  // namespace weft::handlers_internal

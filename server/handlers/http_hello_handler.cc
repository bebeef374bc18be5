// http-hello: a minimal, correct HTTP/1.1 keep-alive responder for load tests (wrk and the
// like). GET and HEAD get 200 with a fixed text body; other methods get 405. Requests are
// framed by HttpRequestParser; pipelined requests are answered in order, and the responses to
// all requests found in one read go out in one write.

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/handlers/builtin_handlers.h"
#include "server/handlers/http_request_parser.h"
#include "weft/base/deadline.h"
#include "weft/base/log.h"
#include "weft/connection.h"
#include "weft/task_context.h"

namespace weft::handlers_internal {
namespace {

constexpr std::size_t kReadBufferSize = 16 * 1024;
constexpr absl::string_view kDefaultBody = "Hello, World!\n";
constexpr absl::string_view kBodyArgument = "body=";
constexpr absl::string_view kMethodNotAllowedBody = "method not allowed; use GET or HEAD\n";
// How long a closing connection keeps reading what the client still sends (see LingeringClose).
constexpr absl::Duration kLingerTime = absl::Seconds(2);

struct HttpHelloConfig {
  std::string body;
  // "Content-Type: ...\r\nContent-Length: ...\r\n" for `body`, built once.
  std::string body_headers;
};

absl::string_view ReasonPhrase(int status_code) {
  switch (status_code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    default:
      return "Error";
  }
}

// PutDigits writes `value` as exactly `width` decimal digits ending just before `end`.
void PutDigits(std::int64_t value, int width, char* end) {
  for (int i = 0; i < width; ++i) {
    *--end = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// HttpDate returns the current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT",
// RFC 9110 §5.6.7), formatted at most once per second per thread. The time comes from the
// coarse real-time clock (a few milliseconds behind at most; the date shows seconds), which
// costs no timer read. Formatted by hand: the names must be English whatever the process
// locale, and the length is fixed.
absl::string_view HttpDate() {
  static constexpr char kDays[] = "MonTueWedThuFriSatSun";  // absl::Weekday order.
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  static constexpr char kTemplate[] = "Mon, 00 Jan 0000 00:00:00 GMT";
  constexpr std::size_t kLength = sizeof kTemplate - 1;
  thread_local std::int64_t cached_second = -1;
  thread_local char cached[kLength];
  timespec now;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  const std::int64_t second = now.tv_sec;
  if (second != cached_second) {
    const absl::CivilSecond t =
        absl::ToCivilSecond(absl::FromUnixSeconds(second), absl::UTCTimeZone());
    std::memcpy(cached, kTemplate, kLength);
    std::memcpy(cached, kDays + 3 * static_cast<int>(absl::GetWeekday(t)), 3);
    PutDigits(t.day(), 2, cached + 7);
    std::memcpy(cached + 8, kMonths + 3 * (t.month() - 1), 3);
    PutDigits(t.year() % 10000, 4, cached + 16);
    PutDigits(t.hour(), 2, cached + 19);
    PutDigits(t.minute(), 2, cached + 22);
    PutDigits(t.second(), 2, cached + 25);
    cached_second = second;
  }
  return absl::string_view(cached, kLength);
}

// AppendHead appends the status line and the headers every response carries.
void AppendHead(int status_code, std::string* out) {
  absl::StrAppend(out, "HTTP/1.1 ", status_code, " ", ReasonPhrase(status_code),
                  "\r\nServer: weft\r\nDate: ", HttpDate(), "\r\n");
}

// ConnectionHeader returns the Connection field a response needs: "close" when the connection
// will close, "keep-alive" to confirm it to an HTTP/1.0 client, none when HTTP/1.1's default holds.
absl::string_view ConnectionHeader(const HttpRequest& request, bool closing) {
  if (closing) return "Connection: close\r\n";
  if (request.version_minor == 0) return "Connection: keep-alive\r\n";
  return "";
}

// KeepAliveOk: one connection's copy of the complete response to an HTTP/1.1 GET that keeps the
// connection open (every request of a keep-alive client but its last), rebuilt when the date
// changes: such a request costs one append.
class KeepAliveOk {
 public:
  explicit KeepAliveOk(const HttpHelloConfig& config) : config_(config) {}

  absl::string_view Get() {
    const absl::string_view date = HttpDate();
    if (date != date_) {
      text_.clear();
      AppendHead(200, &text_);
      absl::StrAppend(&text_, config_.body_headers, "\r\n", config_.body);
      date_.assign(date.data(), date.size());
    }
    return text_;
  }

 private:
  const HttpHelloConfig& config_;
  std::string date_;  // The date text_ carries.
  std::string text_;
};

// AppendResponse appends the response to `request`; `closing` says the connection closes after
// it.
void AppendResponse(const HttpHelloConfig& config, const HttpRequest& request, bool closing,
                    KeepAliveOk& keep_alive_ok, std::string* out) {
  if (!closing && request.version_minor == 1 && request.method == "GET") {
    const absl::string_view response = keep_alive_ok.Get();
    out->append(response.data(), response.size());
    return;
  }
  const bool head = request.method == "HEAD";
  if (head || request.method == "GET") {
    AppendHead(200, out);
    absl::StrAppend(out, config.body_headers, ConnectionHeader(request, closing), "\r\n");
    if (!head) out->append(config.body);
    return;
  }
  AppendHead(405, out);
  absl::StrAppend(out, "Allow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: ",
                  kMethodNotAllowedBody.size(), "\r\n", ConnectionHeader(request, closing), "\r\n",
                  kMethodNotAllowedBody);
}

// AppendError appends the response to a request the parser rejected; the connection closes.
void AppendError(const HttpParseError& error, std::string* out) {
  AppendHead(error.status_code, out);
  absl::StrAppend(out, "Content-Type: text/plain\r\nContent-Length: ", error.message.size() + 1,
                  "\r\nConnection: close\r\n\r\n", error.message, "\n");
}

// LingeringClose half-closes, then reads and drops whatever the client still sends until it
// closes too, for at most kLingerTime. Closing with unread bytes would make the kernel send a
// reset, which can destroy the response before the client has read it (RFC 9112 §9.6).
void LingeringClose(Connection& connection, absl::Span<char> buffer) {
  if (!connection.ShutdownWrite().ok()) return;
  connection.SetDeadline(DeadlineAfter(kLingerTime));
  while (!ShutdownRequested()) {
    const absl::StatusOr<std::size_t> n = connection.Read(buffer);
    if (!n.ok() || *n == 0) return;
  }
}

void ServeHttp(const HttpHelloConfig& config, Connection& connection) {
  HttpRequestParser parser;
  KeepAliveOk keep_alive_ok(config);
  char buffer[kReadBufferSize];
  std::string out;
  // The flag check matters for a client that pipelines without pause: Read keeps returning
  // buffered data after a shutdown request.
  while (!ShutdownRequested()) {
    const absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    // End of stream, even mid-request, leaves nobody to answer; errors (reset, timeout,
    // shutdown) end the connection as well.
    if (!n.ok() || *n == 0) return;
    absl::string_view input(buffer, *n);
    bool close = false;
    while (!close) {
      const HttpParseStatus status = parser.Feed(&input);
      if (status == HttpParseStatus::kNeedMore) {
        DCHECK(input.empty());
        break;
      }
      if (status == HttpParseStatus::kError) {
        AppendError(parser.error(), &out);
        close = true;
        break;
      }
      // A request read as the task is asked to stop (a drain's close spread, StopTask) is still
      // answered, with "Connection: close", so the client knows not to send another.
      close = !parser.request().keep_alive || ShutdownRequested();
      AppendResponse(config, parser.request(), close, keep_alive_ok, &out);
      parser.Reset();
    }
    if (!out.empty()) {
      if (!connection.WriteAll(out).ok()) return;
      out.clear();
    }
    if (close) {
      LingeringClose(connection, absl::MakeSpan(buffer));
      return;
    }
  }
}

}  // namespace

absl::StatusOr<Handler> CreateHttpHelloHandler(const HandlerArgs& args) {
  HttpHelloConfig config;
  bool body_given = false;
  for (const std::string& arg : args) {
    if (!absl::StartsWith(arg, kBodyArgument)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument \"", arg, "\" (accepted: body=TEXT)"));
    }
    if (body_given) return absl::InvalidArgumentError("body=TEXT is given more than once");
    body_given = true;
    config.body = arg.substr(kBodyArgument.size());
  }
  if (!body_given) config.body = std::string(kDefaultBody);
  config.body_headers =
      absl::StrCat("Content-Type: text/plain\r\nContent-Length: ", config.body.size(), "\r\n");
  return Handler([config = std::move(config)](Connection& connection, const HandlerArgs&) {
    ServeHttp(config, connection);
  });
}

}  // namespace weft::handlers_internal

// Internal header: do not include from outside the weft_handlers library, its tests and fuzzers.
//
// HttpRequestParser: incremental HTTP/1.x request framing for the http-hello handler, on top of
// Boost.Beast's parser (boost::beast::http::basic_parser). Pure (no I/O, no clock, no globals),
// so it can be unit-tested byte by byte and fuzzed: any byte sequence is safe to feed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::handlers_internal {

// HttpRequestLimits: what the parser accepts before answering with an error status.
struct HttpRequestLimits {
  // Bytes of the request head: request line, header lines, their line ends and the blank line
  // that ends the head (empty lines skipped before the request line count too). Beyond: 431.
  std::size_t max_head_bytes = 8 * 1024;
  // Header fields per request. Beyond: 431.
  std::size_t max_headers = 100;
  // Content-Length above this: 413. Bodies are counted and discarded, never stored.
  std::uint64_t max_body_bytes = 1024 * 1024;
};

// HttpRequest: the parsed head of one request.
struct HttpRequest {
  std::string method;     // Case-sensitive token, e.g. "GET".
  std::string target;     // As sent, e.g. "/index.html?q=1".
  int version_minor = 1;  // HTTP/1.<version_minor>: 0 or 1.
  // Header fields in arrival order: names as sent, values without surrounding whitespace (a
  // value folded over several lines arrives joined by single spaces).
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t content_length = 0;  // Body bytes (consumed and discarded by the parser).
  // Whether the connection may carry another request after this one (RFC 9112 §9.3): never
  // after "Connection: close"; otherwise HTTP/1.1 always, HTTP/1.0 with "Connection: keep-alive".
  bool keep_alive = true;
};

// HttpParseError: why a request was rejected, as an HTTP status and an English reason.
// After any error the connection must be closed: the framing of what follows is unknown.
struct HttpParseError {
  int status_code = 0;  // 400, 413, 431 or 501.
  std::string message;
};

// HttpParseStatus: what Feed found.
enum class HttpParseStatus {
  kNeedMore,  // All input was consumed; the request is not complete yet.
  kComplete,  // A whole request (head and body) was consumed; see request().
  kError,     // The request is invalid; see error().
};

// HttpRequestParser: parses one request at a time from a byte stream. Beast decides the syntax
// (RFC 9112: CRLF line ends only, HTTP/1.0 and HTTP/1.1 only, obsolete line folding joined
// with spaces, a Content-Length list of identical values taken as one value); this class adds
// what http-hello needs on top: empty lines before the request line are skipped, the body is
// framed by Content-Length only (any Transfer-Encoding: 501), an HTTP/1.1 request needs exactly
// one Host field, and the limits above. A head is judged once its empty line has arrived (or
// once it passes the limit), so the verdict never depends on how the bytes were split between
// Feed calls.
// Thread contract: thread-compatible.
class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpRequestLimits limits = {});
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Feed consumes bytes from the front of *input, advancing it, until the current request is
  // complete, is found invalid, or the input runs out (kNeedMore: *input is then empty). On
  // kComplete the bytes left in *input belong to the next request: call Reset and feed them.
  // Once kComplete or kError, Feed consumes nothing and returns the same status until Reset.
  // Requires: input != nullptr.
  HttpParseStatus Feed(absl::string_view* input);

  // Reset forgets the current request and prepares for the next one (buffers are reused).
  void Reset();

  // request returns the parsed request. Requires: the last Feed returned kComplete.
  const HttpRequest& request() const;
  // error returns the reason for kError. Requires: the last Feed returned kError.
  const HttpParseError& error() const;

 private:
  class BeastParser;  // Beast's parser with this class's callbacks; defined in the .cc file.
  enum class State { kHead, kBody, kComplete, kError };

  HttpParseStatus FeedHead(absl::string_view* input);
  HttpParseStatus FeedBody(absl::string_view* input);
  // ParseHead gives the whole head `head` to a fresh Beast parser; the state becomes kBody,
  // kComplete or kError.
  void ParseHead(absl::string_view head);
  // ClearRequest empties request_, keeping its buffers.
  void ClearRequest();
  HttpParseStatus Fail(int status_code, std::string message);

  HttpRequestLimits limits_;
  State state_ = State::kHead;
  // A head that spans several Feed calls is gathered here (Beast parses a head from one
  // buffer); empty while heads arrive whole, so the usual case copies nothing.
  std::string pending_;
  std::size_t skipped_ = 0;  // Empty-line bytes skipped before the request line.
  std::size_t scanned_ = 0;  // pending_[0, scanned_) holds no end of head.
  HttpRequest request_;
  HttpParseError error_;
  // Beast parses one message per parser: reassigned a fresh one for each head.
  std::unique_ptr<BeastParser> beast_;
};

}  // namespace weft::handlers_internal

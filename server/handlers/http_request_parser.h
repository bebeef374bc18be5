// Internal header: do not include from outside the weft_handlers library, its tests and fuzzers.
//
// HttpRequestParser: incremental HTTP/1.x request framing for the http-hello handler. Pure (no
// I/O, no clock, no globals), so it can be unit-tested byte by byte and fuzzed: any byte
// sequence is safe to feed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace weft::handlers_internal {

// HttpRequestLimits: what the parser accepts before answering with an error status.
struct HttpRequestLimits {
  // Bytes of the request head: request line, header lines, their line ends and the blank line
  // that ends the head (empty lines ignored before the request line count too). Beyond: 431.
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
  int version_minor = 1;  // HTTP/1.<version_minor>; the major version is always 1.
  // Header fields in arrival order: names as sent, values without surrounding whitespace.
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t content_length = 0;  // Body bytes (consumed and discarded by the parser).
  // Whether the connection may carry another request after this one (RFC 9112 §9.3):
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;
};

// HttpParseError: why a request was rejected, as an HTTP status and an English reason.
// After any error the connection must be closed: the framing of what follows is unknown.
struct HttpParseError {
  int status_code = 0;  // 400, 413, 431, 501 or 505.
  std::string message;
};

// HttpParseStatus: what Feed found.
enum class HttpParseStatus {
  kNeedMore,  // All input was consumed; the request is not complete yet.
  kComplete,  // A whole request (head and body) was consumed; see request().
  kError,     // The request is invalid; see error().
};

// HttpRequestParser: parses one request at a time from a byte stream. Recognised framing:
// CRLF or bare LF line ends (a CR anywhere else is an error), empty lines before the request
// line are skipped, header lines folded with leading whitespace are rejected, the body is
// framed by Content-Length only (any Transfer-Encoding: 501), and an HTTP/1.1 request needs
// exactly one Host field.
// Thread contract: thread-compatible.
class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpRequestLimits limits = {});

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
  enum class State { kHead, kBody, kComplete, kError };

  HttpParseStatus FeedHead(absl::string_view* input);
  HttpParseStatus FeedBody(absl::string_view* input);
  // ParseHead parses head_ (complete, blank line included) into request_; sets the state.
  HttpParseStatus ParseHead();
  HttpParseStatus Fail(int status_code, std::string message);

  HttpRequestLimits limits_;
  State state_ = State::kHead;
  std::string head_;             // The head received so far, line ends included.
  std::size_t head_bytes_ = 0;   // Bytes counted against max_head_bytes (skipped lines too).
  std::size_t line_start_ = 0;   // Start in head_ of the line not yet complete.
  std::size_t lines_ = 0;        // Complete non-empty lines in head_.
  std::uint64_t body_left_ = 0;  // Body bytes still to consume.
  HttpRequest request_;
  HttpParseError error_;
};

}  // namespace weft::handlers_internal

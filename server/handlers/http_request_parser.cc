#include "server/handlers/http_request_parser.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace weft::handlers_internal {
namespace {

// IsTokenChar: RFC 9110 §5.6.2 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// IsFieldValueChar: VCHAR, SP, HTAB or obs-text (RFC 9110 §5.5); no other control character.
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// IsTargetChar: the visible ASCII characters a request-target may contain (no whitespace,
// controls or raw non-ASCII; those must be percent-encoded).
bool IsTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

// TrimOws strips optional whitespace (SP and HTAB) from both ends.
absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// HasToken returns whether the comma-separated list `value` contains `token` (any case).
bool HasToken(absl::string_view value, absl::string_view token) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    if (absl::EqualsIgnoreCase(TrimOws(item), token)) return true;
  }
  return false;
}

// ContentLengthResult: a Content-Length value read with a cap, without overflow.
enum class ContentLengthResult { kOk, kInvalid, kTooLarge };

ContentLengthResult ParseContentLength(absl::string_view value, std::uint64_t max,
                                       std::uint64_t* out) {
  if (value.empty()) return ContentLengthResult::kInvalid;
  std::uint64_t n = 0;
  bool too_large = false;
  for (const char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return ContentLengthResult::kInvalid;
    if (too_large) continue;  // Keep checking the syntax; the value no longer matters.
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      too_large = true;
      continue;
    }
    n = n * 10 + digit;
    too_large = n > max;
  }
  if (too_large) return ContentLengthResult::kTooLarge;
  *out = n;
  return ContentLengthResult::kOk;
}

}  // namespace

HttpRequestParser::HttpRequestParser(HttpRequestLimits limits) : limits_(limits) {}

void HttpRequestParser::Reset() {
  state_ = State::kHead;
  head_.clear();
  head_bytes_ = 0;
  line_start_ = 0;
  lines_ = 0;
  body_left_ = 0;
  request_.method.clear();
  request_.target.clear();
  request_.version_minor = 1;
  request_.headers.clear();
  request_.content_length = 0;
  request_.keep_alive = true;
  error_ = HttpParseError{};
}

const HttpRequest& HttpRequestParser::request() const {
  CHECK(state_ == State::kComplete) << "request() before Feed returned kComplete";
  return request_;
}

const HttpParseError& HttpRequestParser::error() const {
  CHECK(state_ == State::kError) << "error() before Feed returned kError";
  return error_;
}

HttpParseStatus HttpRequestParser::Feed(absl::string_view* input) {
  CHECK(input != nullptr);
  switch (state_) {
    case State::kHead:
      return FeedHead(input);
    case State::kBody:
      return FeedBody(input);
    case State::kComplete:
      return HttpParseStatus::kComplete;
    case State::kError:
      return HttpParseStatus::kError;
  }
  LOG(FATAL) << "unreachable parser state";
}

HttpParseStatus HttpRequestParser::Fail(int status_code, std::string message) {
  state_ = State::kError;
  error_ = HttpParseError{status_code, std::move(message)};
  return HttpParseStatus::kError;
}

HttpParseStatus HttpRequestParser::FeedHead(absl::string_view* input) {
  while (!input->empty()) {
    // Take up to and including the next LF, or everything if there is none.
    const std::size_t lf = input->find('\n');
    const std::size_t take = lf == absl::string_view::npos ? input->size() : lf + 1;
    if (take > limits_.max_head_bytes - head_bytes_) {
      return Fail(
          431, absl::StrCat("the request head is longer than ", limits_.max_head_bytes, " bytes"));
    }
    head_.append(input->data(), take);
    head_bytes_ += take;
    input->remove_prefix(take);
    if (lf == absl::string_view::npos) break;

    absl::string_view line(head_);
    line.remove_prefix(line_start_);
    line.remove_suffix(1);  // The LF.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) {
      line_start_ = head_.size();
      if (++lines_ > limits_.max_headers + 1) {  // The request line plus the header lines.
        return Fail(
            431, absl::StrCat("the request has more than ", limits_.max_headers, " header fields"));
      }
      continue;
    }
    if (lines_ == 0) {
      // RFC 9112 §2.2: ignore empty lines received before the request line.
      head_.clear();
      line_start_ = 0;
      continue;
    }
    const HttpParseStatus status = ParseHead();
    if (status != HttpParseStatus::kNeedMore) return status;
    return FeedBody(input);  // The rest of *input may hold body bytes.
  }
  return HttpParseStatus::kNeedMore;
}

HttpParseStatus HttpRequestParser::FeedBody(absl::string_view* input) {
  const std::uint64_t take = std::min<std::uint64_t>(body_left_, input->size());
  input->remove_prefix(static_cast<std::size_t>(take));
  body_left_ -= take;
  if (body_left_ > 0) return HttpParseStatus::kNeedMore;
  state_ = State::kComplete;
  return HttpParseStatus::kComplete;
}

HttpParseStatus HttpRequestParser::ParseHead() {
  std::vector<absl::string_view> lines = absl::StrSplit(head_, '\n');
  // head_ ends with the blank line's LF: drop the blank line and the empty piece after it.
  lines.resize(lines.size() - 2);
  for (absl::string_view& line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }

  // Request line: method SP request-target SP HTTP-version (RFC 9112 §3).
  const std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty() ||
      !std::all_of(parts[1].begin(), parts[1].end(), IsTargetChar)) {
    return Fail(400, "malformed request line");
  }
  const absl::string_view version = parts[2];
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return Fail(400, "malformed HTTP version");
  }
  if (version[5] != '1') return Fail(505, "only HTTP/1.x is supported");
  request_.method.assign(parts[0].data(), parts[0].size());
  request_.target.assign(parts[1].data(), parts[1].size());
  request_.version_minor = version[7] - '0';

  // Header fields: field-name ":" OWS field-value OWS (RFC 9112 §5).
  int hosts = 0;
  bool transfer_encoding = false;
  bool close = false;
  bool keep_alive = false;
  std::string content_length;
  bool has_content_length = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    DCHECK(!line.empty()) << "an empty line ends the head";
    if (line.front() == ' ' || line.front() == '\t') {
      return Fail(400, "obsolete line folding is not accepted");
    }
    const std::size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return Fail(400, "header line without a colon");
    const absl::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Fail(400, "invalid header field name");
    const absl::string_view value = TrimOws(line.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(), IsFieldValueChar)) {
      return Fail(400, "invalid character in a header field value");
    }
    request_.headers.emplace_back(std::string(name), std::string(value));

    if (absl::EqualsIgnoreCase(name, "host")) {
      ++hosts;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      close = close || HasToken(value, "close");
      keep_alive = keep_alive || HasToken(value, "keep-alive");
    } else if (absl::EqualsIgnoreCase(name, "content-length")) {
      // Repeats are tolerated only when identical (RFC 9110 §8.6); anything else could frame
      // the body differently from a proxy in front of us.
      if (has_content_length && value != content_length) {
        return Fail(400, "conflicting Content-Length fields");
      }
      content_length.assign(value.data(), value.size());
      has_content_length = true;
    }
  }
  if (hosts > 1) return Fail(400, "more than one Host field");
  if (hosts == 0 && request_.version_minor >= 1) {
    return Fail(400, "an HTTP/1.1 request needs a Host field");
  }
  if (transfer_encoding) return Fail(501, "Transfer-Encoding is not supported");
  if (has_content_length) {
    switch (ParseContentLength(content_length, limits_.max_body_bytes, &request_.content_length)) {
      case ContentLengthResult::kOk:
        break;
      case ContentLengthResult::kInvalid:
        return Fail(400, "Content-Length is not a decimal number");
      case ContentLengthResult::kTooLarge:
        return Fail(413,
                    absl::StrCat("the body is larger than ", limits_.max_body_bytes, " bytes"));
    }
  }
  request_.keep_alive = !close && (request_.version_minor >= 1 || keep_alive);

  body_left_ = request_.content_length;
  if (body_left_ > 0) {
    state_ = State::kBody;
    return HttpParseStatus::kNeedMore;
  }
  state_ = State::kComplete;
  return HttpParseStatus::kComplete;
}

}  // namespace weft::handlers_internal

#include "server/handlers/http_request_parser.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
// gcc 12 at -O2 with ASan/UBSan reports boost::optional<std::size_t> in Beast's basic_parser as
// maybe-uninitialized (a known false positive of boost::optional, GCC bug 80635); the diagnostic
// is scoped to Beast's own header, where the reported line is. (clang has no such warning.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/basic_parser.hpp>
#pragma GCC diagnostic pop
#else
#include <boost/beast/http/basic_parser.hpp>
#endif
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/verb.hpp>

#include "absl/strings/str_cat.h"
#include "weft/base/log.h"

namespace weft::handlers_internal {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

constexpr absl::string_view kEmptyLine = "\r\n";

// EndOfHead returns the end of the first empty line (CRLF, or a bare LF, which Beast rejects)
// that follows a line end in `bytes`, searching from `from`; npos if there is none.
std::size_t EndOfHead(absl::string_view bytes, std::size_t from) {
  for (std::size_t lf = bytes.find('\n', from); lf != absl::string_view::npos;
       lf = bytes.find('\n', lf + 1)) {
    if (bytes.substr(lf + 1, 1) == "\n") return lf + 2;
    if (bytes.substr(lf + 1, 2) == "\r\n") return lf + 3;
  }
  return absl::string_view::npos;
}

std::string HeadTooLong(const HttpRequestLimits& limits) {
  return absl::StrCat("the request head is longer than ", limits.max_head_bytes, " bytes");
}

// ErrorFor returns the response to a request Beast rejected with `ec`.
HttpParseError ErrorFor(beast::error_code ec, const HttpRequestLimits& limits) {
  if (ec == http::error::body_limit) {
    return {413, absl::StrCat("the body is larger than ", limits.max_body_bytes, " bytes")};
  }
  // Beast's own header limit is off, but an obsolete line folding longer than its 4 KiB buffer
  // is reported as one.
  if (ec == http::error::header_limit) return {431, "a folded header field is too long"};
  // A second Transfer-Encoding, or one after Content-Length.
  if (ec == http::error::bad_transfer_encoding) return {501, "Transfer-Encoding is not supported"};
  return {400, absl::StrCat("malformed request: ", ec.message())};
}

}  // namespace

// BeastParser: Beast's request parser with callbacks that fill the owner's request_, reject
// what http-hello does not accept (into the owner's error_), and discard the body.
class HttpRequestParser::BeastParser final : public http::basic_parser<true> {
 public:
  explicit BeastParser(HttpRequestParser* owner) : owner_(owner) {
    // The head limit is the owner's to enforce: Beast only ever sees whole heads within it.
    header_limit(std::numeric_limits<std::uint32_t>::max());
    body_limit(owner->limits_.max_body_bytes);
  }
  BeastParser(BeastParser&&) = default;
  BeastParser& operator=(BeastParser&&) = default;

  // connection_close returns whether a Connection field listed "close". Beast's keep_alive()
  // ignores it in an HTTP/1.0 request that also lists "keep-alive"; RFC 9112 §9.3 does not.
  bool connection_close() const { return connection_close_; }

 private:
  void on_request_impl(http::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    HttpRequest& request = owner_->request_;
    request.method.assign(method.data(), method.size());
    request.target.assign(target.data(), target.size());
    request.version_minor = version % 10;  // Beast accepts 10 and 11 only.
  }

  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {
    LOG(FATAL) << "a request parser received a status line";
  }

  void on_field_impl(http::field field, beast::string_view name, beast::string_view value,
                     beast::error_code& ec) override {
    HttpRequest& request = owner_->request_;
    if (request.headers.size() == owner_->limits_.max_headers) {
      return Reject(
          431,
          absl::StrCat("the request has more than ", owner_->limits_.max_headers, " header fields"),
          ec);
    }
    request.headers.emplace_back(std::string(name.data(), name.size()),
                                 std::string(value.data(), value.size()));
    switch (field) {
      case http::field::host:
        if (++hosts_ > 1) return Reject(400, "more than one Host field", ec);
        break;
      case http::field::transfer_encoding:
        // Chunked bodies are not read: refuse before Beast would frame one.
        return Reject(501, "Transfer-Encoding is not supported", ec);
      case http::field::connection:
      case http::field::proxy_connection:  // Beast treats both alike; so do we.
        for (const beast::string_view token : http::opt_token_list(value)) {
          connection_close_ = connection_close_ || beast::iequals(token, "close");
        }
        break;
      default:
        break;
    }
  }

  void on_header_impl(beast::error_code& ec) override {
    if (hosts_ == 0 && owner_->request_.version_minor == 1) {
      Reject(400, "an HTTP/1.1 request needs a Host field", ec);
    }
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}

  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    return body.size();  // Counted by Beast, discarded here.
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {
    LOG(FATAL) << "chunked framing is refused at its Transfer-Encoding field";
  }

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view, beast::error_code&) override {
    LOG(FATAL) << "chunked framing is refused at its Transfer-Encoding field";
  }

  void on_finish_impl(beast::error_code&) override {}

  // Reject records the response for the request and stops Beast (any error code does).
  void Reject(int status_code, std::string message, beast::error_code& ec) {
    owner_->error_ = HttpParseError{status_code, std::move(message)};
    ec = http::error::bad_field;
  }

  HttpRequestParser* owner_;
  int hosts_ = 0;
  bool connection_close_ = false;
};

HttpRequestParser::HttpRequestParser(HttpRequestLimits limits)
    : limits_(limits), beast_(std::make_unique<BeastParser>(this)) {}

HttpRequestParser::~HttpRequestParser() = default;

void HttpRequestParser::Reset() {
  state_ = State::kHead;
  pending_.clear();
  skipped_ = 0;
  scanned_ = 0;
  error_ = HttpParseError{};
  ClearRequest();
}

void HttpRequestParser::ClearRequest() {
  request_.method.clear();
  request_.target.clear();
  request_.version_minor = 1;
  request_.headers.clear();
  request_.content_length = 0;
  request_.keep_alive = true;
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
  // `bytes`: the head so far. Beast parses a head from one buffer, so a head that spans Feed
  // calls is gathered in pending_ — no more of *input than the limit leaves room for, so a
  // body is never copied. A head that arrives whole is parsed in place.
  absl::string_view bytes = *input;
  const bool gathering = !pending_.empty();
  std::size_t appended = 0;
  if (gathering) {
    appended = std::min(input->size(), limits_.max_head_bytes - skipped_ - pending_.size());
    pending_.append(input->data(), appended);
    bytes = pending_;
  }
  // RFC 9112 §2.2: empty lines before the request line are ignored (our own code: Beast
  // rejects them). pending_ never starts with one, except a lone CR whose LF had not arrived.
  std::size_t skip = 0;
  while (bytes.substr(skip, kEmptyLine.size()) == kEmptyLine) skip += kEmptyLine.size();
  if (skip > 0) {
    bytes.remove_prefix(skip);
    skipped_ += skip;
    scanned_ = 0;
    if (skipped_ >= limits_.max_head_bytes) return Fail(431, HeadTooLong(limits_));
  }

  // Beast is given whole heads only, each to a fresh parser: its verdict then depends on the
  // bytes alone, never on how they were split between Feed calls.
  const std::size_t budget = limits_.max_head_bytes - skipped_;
  const std::size_t head_size = EndOfHead(bytes.substr(0, budget), scanned_ < 2 ? 0 : scanned_ - 2);
  if (head_size == absl::string_view::npos) {
    if (bytes.size() >= budget) return Fail(431, HeadTooLong(limits_));
    if (gathering) {
      pending_.erase(0, skip);
    } else {
      pending_.assign(bytes.data(), bytes.size());
    }
    scanned_ = pending_.size();
    input->remove_prefix(input->size());
    return HttpParseStatus::kNeedMore;
  }
  ParseHead(bytes.substr(0, head_size));
  // What follows the head in `bytes` is still in *input: consume the rest.
  input->remove_prefix(gathering ? appended - (bytes.size() - head_size) : skip + head_size);
  pending_.clear();
  scanned_ = 0;
  if (state_ == State::kBody) return FeedBody(input);
  return state_ == State::kError ? HttpParseStatus::kError : HttpParseStatus::kComplete;
}

void HttpRequestParser::ParseHead(absl::string_view head) {
  ClearRequest();
  *beast_ = BeastParser(this);
  beast::error_code ec;
  const std::size_t used = beast_->put(boost::asio::const_buffer(head.data(), head.size()), ec);
  if (ec && ec != http::error::need_more) {
    if (error_.status_code == 0) error_ = ErrorFor(ec, limits_);
    state_ = State::kError;
    return;
  }
  // Beast ends a head at its first empty line, as EndOfHead does, unless a line is cut short
  // (e.g. "GET / HTTP\r\n\r\n", where it waits for the rest of the version).
  if (ec || used != head.size()) {
    Fail(400, "malformed request: the head ends inside a line");
    return;
  }
  request_.content_length = beast_->content_length().value_or(0);
  request_.keep_alive = beast_->keep_alive() && !beast_->connection_close();
  state_ = beast_->is_done() ? State::kComplete : State::kBody;
}

HttpParseStatus HttpRequestParser::FeedBody(absl::string_view* input) {
  if (input->empty()) return HttpParseStatus::kNeedMore;
  beast::error_code ec;
  const std::size_t used = beast_->put(boost::asio::const_buffer(input->data(), input->size()), ec);
  input->remove_prefix(used);
  if (ec) return Fail(400, absl::StrCat("malformed request body: ", ec.message()));
  if (beast_->is_done()) {
    state_ = State::kComplete;
    return HttpParseStatus::kComplete;
  }
  CHECK(input->empty()) << "Beast left body bytes unread";
  return HttpParseStatus::kNeedMore;
}

}  // namespace weft::handlers_internal

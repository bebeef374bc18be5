// Fuzz target: the http-hello request parser (weft::handlers_internal::HttpRequestParser).
//
// Beyond "never crashes": framing must not depend on how the bytes arrive. The input is parsed
// twice — in one piece, and in chunks whose size comes from the first input byte — and both
// runs must see the same sequence of complete requests and the same final error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/handlers/http_request_parser.h"
#include "weft/base/log.h"

namespace weft::handlers_internal {
namespace {

// Outcome: what a parse of a whole byte stream produced, comparable across chunkings.
struct Outcome {
  std::vector<std::string> requests;  // One summary line per complete request.
  std::string error;                  // "status message" of the error that ended it, if any.
  bool operator==(const Outcome&) const = default;
};

std::string Summarise(const HttpRequest& request) {
  std::string line = absl::StrCat(request.method, " ", request.target, " 1.",
                                  request.version_minor, " len=", request.content_length,
                                  " keep_alive=", request.keep_alive);
  for (const auto& [name, value] : request.headers) absl::StrAppend(&line, " ", name, "=", value);
  return line;
}

Outcome Parse(absl::string_view data, std::size_t chunk, const HttpRequestLimits& limits) {
  Outcome outcome;
  HttpRequestParser parser(limits);
  while (!data.empty()) {
    absl::string_view piece = data.substr(0, chunk);
    data.remove_prefix(piece.size());
    for (;;) {
      const HttpParseStatus status = parser.Feed(&piece);
      if (status == HttpParseStatus::kNeedMore) {
        CHECK(piece.empty()) << "kNeedMore must consume all input";
        break;
      }
      if (status == HttpParseStatus::kError) {
        const HttpParseError& error = parser.error();
        CHECK(error.status_code >= 400 && error.status_code < 600) << error.status_code;
        CHECK(!error.message.empty());
        outcome.error = absl::StrCat(error.status_code, " ", error.message);
        return outcome;
      }
      outcome.requests.push_back(Summarise(parser.request()));
      parser.Reset();
      if (piece.empty()) break;
    }
  }
  return outcome;
}

}  // namespace
}  // namespace weft::handlers_internal

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using weft::handlers_internal::HttpRequestLimits;
  using weft::handlers_internal::Parse;
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 16;
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Small limits, so inputs of a few hundred bytes reach every limit's error path.
  const HttpRequestLimits limits{.max_head_bytes = 256, .max_headers = 8, .max_body_bytes = 64};
  const auto whole = Parse(input, input.size() + 1, limits);
  const auto chunked = Parse(input, chunk, limits);
  CHECK(whole == chunked) << "chunk size " << chunk << " changed the parse: " << whole.requests.size()
                          << " requests / error \"" << whole.error << "\" in one piece, "
                          << chunked.requests.size() << " / \"" << chunked.error << "\" chunked";
  return 0;
}

// echo (RFC 862): sends back every byte received until the client ends its stream.
#include <cstddef>
#include <memory>

#include "absl/types/span.h"
#include "server/handlers/builtin_handlers.h"
#include "weft/connection.h"
#include "weft/task_context.h"

namespace weft::handlers_internal {
namespace {

// A connection starts with a small buffer on the stack, so that an idle connection's whole
// stack — the thread's descriptor and TLS at its top, the frames down to recv() — fits in two
// pages: with the 16 KiB stack buffer of before, an idle threaded connection kept a third page
// resident (13.7 against 9.7 KiB per connection, bench/RESULTS.md). Request/response traffic
// rarely fills it; the first read that does marks a stream, which gets a large buffer on the
// heap.
constexpr std::size_t kSmallBufferSize = 512;
constexpr std::size_t kLargeBufferSize = 16 * 1024;

void Echo(Connection& connection) {
  char small[kSmallBufferSize];
  std::unique_ptr<char[]> large;
  absl::Span<char> buffer = absl::MakeSpan(small);
  // Read returns data already buffered even after shutdown was requested, so a client that
  // never stops sending must not keep the loop alive: check the flag on every round.
  while (!ShutdownRequested()) {
    const absl::StatusOr<std::size_t> n = connection.Read(buffer);
    if (!n.ok() || *n == 0) return;
    if (!connection.WriteAll(absl::string_view(buffer.data(), *n)).ok()) return;
    if (*n == buffer.size() && large == nullptr) {
      large = std::make_unique_for_overwrite<char[]>(kLargeBufferSize);
      buffer = absl::MakeSpan(large.get(), kLargeBufferSize);
    }
  }
}

}  // namespace

absl::StatusOr<Handler> CreateEchoHandler(const HandlerArgs& args) {
  if (absl::Status status = RequireNoArguments(args); !status.ok()) return status;
  return Handler([](Connection& connection, const HandlerArgs&) { Echo(connection); });
}

}  // namespace weft::handlers_internal

// discard (RFC 863): reads and drops everything until the client ends its stream.
#include <cstddef>

#include "absl/types/span.h"
#include "server/handlers/builtin_handlers.h"
#include "weft/connection.h"
#include "weft/task_context.h"

namespace weft::handlers_internal {
namespace {

constexpr std::size_t kBufferSize = 16 * 1024;

void Discard(Connection& connection) {
  char buffer[kBufferSize];
  // A client that never stops sending would otherwise keep Read succeeding past a shutdown.
  while (!ShutdownRequested()) {
    const absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    if (!n.ok() || *n == 0) return;
  }
}

}  // namespace

absl::StatusOr<Handler> CreateDiscardHandler(const HandlerArgs& args) {
  if (absl::Status status = RequireNoArguments(args); !status.ok()) return status;
  return Handler([](Connection& connection, const HandlerArgs&) { Discard(connection); });
}

}  // namespace weft::handlers_internal

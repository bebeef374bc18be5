// echo (RFC 862): sends back every byte received until the client ends its stream.
#include <cstddef>

#include "absl/types/span.h"
#include "server/handlers/builtin_handlers.h"
#include "weft/connection.h"
#include "weft/task_context.h"

namespace weft::handlers_internal {
namespace {

constexpr std::size_t kBufferSize = 16 * 1024;

void Echo(Connection& connection) {
  char buffer[kBufferSize];
  // Read returns data already buffered even after shutdown was requested, so a client that
  // never stops sending must not keep the loop alive: check the flag on every round.
  while (!ShutdownRequested()) {
    const absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    if (!n.ok() || *n == 0) return;
    if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
  }
}

}  // namespace

absl::StatusOr<Handler> CreateEchoHandler(const HandlerArgs& args) {
  if (absl::Status status = RequireNoArguments(args); !status.ok()) return status;
  return Handler([](Connection& connection, const HandlerArgs&) { Echo(connection); });
}

}  // namespace weft::handlers_internal

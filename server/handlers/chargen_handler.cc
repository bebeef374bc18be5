// chargen (RFC 864): streams rotating 72-character lines of the 95 printable ASCII characters
// until the client goes away or the task is asked to shut down. Input is ignored (never read).
#include <cstddef>
#include <string>

#include "server/handlers/builtin_handlers.h"
#include "weft/connection.h"
#include "weft/task_context.h"

namespace weft::handlers_internal {
namespace {

constexpr char kFirstPrintable = ' ';
constexpr std::size_t kPrintableCount = 95;  // ' ' through '~'.
constexpr std::size_t kLineLength = 72;      // Characters before the "\r\n".
// Full pattern cycles per write: larger writes cost fewer system calls.
constexpr int kCyclesPerWrite = 2;

// Pattern returns all 95 lines of the cycle: line i holds characters i .. i+71 of the ring of
// printable characters (numbered from 0 = ' '), then "\r\n". After line 94 the cycle repeats.
const std::string& Pattern() {
  static const std::string* const pattern = [] {
    auto* lines = new std::string;
    lines->reserve(kCyclesPerWrite * kPrintableCount * (kLineLength + 2));
    for (int cycle = 0; cycle < kCyclesPerWrite; ++cycle) {
      for (std::size_t line = 0; line < kPrintableCount; ++line) {
        for (std::size_t i = 0; i < kLineLength; ++i) {
          lines->push_back(static_cast<char>(kFirstPrintable + (line + i) % kPrintableCount));
        }
        lines->append("\r\n");
      }
    }
    return lines;
  }();
  return *pattern;
}

void Chargen(Connection& connection) {
  const std::string& pattern = Pattern();
  // WriteAll fails once the client has gone (UNAVAILABLE) or shutdown wakes a blocked write
  // (CANCELLED); the flag covers a client fast enough that the writes never block.
  while (!ShutdownRequested()) {
    if (!connection.WriteAll(pattern).ok()) return;
  }
}

}  // namespace

absl::StatusOr<Handler> CreateChargenHandler(const HandlerArgs& args) {
  if (absl::Status status = RequireNoArguments(args); !status.ok()) return status;
  return Handler([](Connection& connection, const HandlerArgs&) { Chargen(connection); });
}

}  // namespace weft::handlers_internal

// The commands of weftctl: one function per command. Each runs on every target (concurrently
// when there are several), writes its output for the targets that answered, and returns OK or
// the failures (see CombineFailures); main maps the result to the exit code (ExitCodeFor).
#pragma once

#include <ostream>
#include <vector>

#include "absl/status/status.h"
#include "client-cli/client.h"
#include "client-cli/flags.h"
#include "weft/base/signal_fd.h"

namespace weft::cli {

// CommandContext: what a command works with. The streams and the cancel group outlive the call.
struct CommandContext {
  const Invocation& invocation;
  const ClientConfig& client;
  // Results (tables, JSON).
  std::ostream& out;
  // Progress notes for a person, e.g. "weftctl: watching 127.0.0.1:7070"; errors are returned,
  // not written here.
  std::ostream& err;
  // Cancels in-flight calls when watch or top are interrupted; may be null otherwise.
  CancelGroup* cancel = nullptr;
  // The signals that end watch and top (SIGWINCH excepted); null = not watched. Others ignore
  // it.
  SignalFd* signals = nullptr;
};

absl::Status RunServersCommand(const CommandContext& context);
absl::Status RunServerCommand(const CommandContext& context);
absl::Status RunRunCommand(const CommandContext& context);
absl::Status RunStopCommand(const CommandContext& context);
absl::Status RunStopAcceptingCommand(const CommandContext& context);
absl::Status RunTasksCommand(const CommandContext& context);
absl::Status RunTaskStopCommand(const CommandContext& context);
absl::Status RunTaskRemoveCommand(const CommandContext& context);
absl::Status RunLimitsCommand(const CommandContext& context);
// RunWatchCommand returns OK when interrupted by a signal.
absl::Status RunWatchCommand(const CommandContext& context);
absl::Status RunHealthCommand(const CommandContext& context);
absl::Status RunProcessCommand(const CommandContext& context);
// RunAuditCommand: the newest audit records (ListAuditRecords), newest first.
absl::Status RunAuditCommand(const CommandContext& context);
// RunTopCommand: see top.h.

// RunCommand dispatches to the function of context.invocation.command. Requires: a command
// that talks to targets (not kHelp, not kCompletion).
absl::Status RunCommand(const CommandContext& context);

// CombineFailures returns OK when every status is OK; otherwise a status with the code and
// payloads of the first failure and the messages of all failures, one per line.
absl::Status CombineFailures(const std::vector<absl::Status>& statuses);

}  // namespace weft::cli

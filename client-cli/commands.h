// The commands of weftctl: one function per command. Each runs on every target (concurrently
// when there are several), writes its output for the targets that answered, and returns OK or
// the failures (see CombineFailures); main maps the result to the exit code (ExitCodeFor).
#pragma once

#include <istream>
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
  // Answers to questions (stop-tasks' confirmation); null = none can be asked.
  std::istream* in = nullptr;
  // stdin and stdout are terminals: a person is there to answer (stop-tasks asks first).
  bool interactive = false;
  // stdout is a terminal: drain redraws its progress bar in place.
  bool terminal = false;
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
// RunStopTasksCommand (stop_tasks_command.cc): StopTasks on every target, one after the other;
// asks for confirmation first when context.interactive (unless --yes or --dry-run). A declined
// confirmation is ABORTED (exit 1), nothing stopped.
absl::Status RunStopTasksCommand(const CommandContext& context);
// RunDrainCommand (drain_command.cc): StopServer on every target, one after the other, showing
// the EVENT_TYPE_DRAIN_PROGRESS events of a WatchEvents stream opened first.
absl::Status RunDrainCommand(const CommandContext& context);
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

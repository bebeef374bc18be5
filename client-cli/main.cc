// weftctl: the admin CLI of weftd's control plane. `weftctl --help` lists the commands.
//
// main parses the command line, loads the credentials, runs one command function and maps its
// status to the exit code: 0 success, 1 failed, 2 usage, 3 not found, 4 unauthenticated or
// permission denied, 5 unreachable.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client-cli/client.h"
#include "client-cli/commands.h"
#include "client-cli/completion.h"
#include "client-cli/flags.h"
#include "weft/base/signal_fd.h"

namespace {

namespace cli = ::weft::cli;

std::optional<std::string> GetEnvironment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void PrintError(absl::string_view message) {
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    std::cerr << "weftctl: " << line << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<cli::Invocation> invocation = cli::ParseCommandLine(args, GetEnvironment);
  if (!invocation.ok()) {
    PrintError(invocation.status().message());
    std::cerr << "Run 'weftctl --help' for usage.\n";
    return cli::kExitUsage;
  }
  switch (invocation->command) {
    case cli::Command::kHelp:
      std::cout << cli::UsageText(invocation->help_topic);
      return cli::kExitOk;
    case cli::Command::kCompletion:
      std::cout << cli::BashCompletionScript();
      return cli::kExitOk;
    default:
      break;
  }

  // watch and top end on a signal and must clean up: take the signals synchronously, before
  // gRPC starts any thread (each inherits the blocked mask).
  std::optional<weft::SignalFd> signals;
  if (invocation->command == cli::Command::kWatch || invocation->command == cli::Command::kTop) {
    signals.emplace({SIGINT, SIGTERM, SIGHUP, SIGWINCH});
  }
  // gRPC's own log lines would repeat, less clearly, what weftctl reports; the user can still
  // ask for them with GRPC_VERBOSITY.
  setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);

  absl::StatusOr<cli::ClientConfig> config = cli::LoadClientConfig(invocation->global);
  if (!config.ok()) {
    PrintError(config.status().message());
    return cli::kExitUsage;
  }
  if (!config->token.empty() && !config->tls) {
    for (const cli::Target& target : invocation->global.targets) {
      if (!target.local) {
        std::cerr << "weftctl: warning: sending the token to " << target.name
                  << " without TLS (use --tls-ca)\n";
      }
    }
  }
  cli::CancelGroup cancel;
  const cli::CommandContext context{
      .invocation = *invocation,
      .client = *config,
      .out = std::cout,
      .err = std::cerr,
      .cancel = &cancel,
      .signals = signals.has_value() ? &*signals : nullptr,
      .in = &std::cin,
      .interactive = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO),
      .terminal = ::isatty(STDOUT_FILENO) != 0};
  const absl::Status status = cli::RunCommand(context);
  std::cout.flush();
  if (!status.ok()) PrintError(status.message());
  return cli::ExitCodeFor(status);
}

// weftctl's command line: the commands, their flags, and the parser that turns argv into an
// Invocation. No I/O: the environment is passed in, so the parser is unit-tested (and fuzzed)
// like the helpers in parse.h.
//
// Hand-written on purpose (weftd uses CLI11; weftctl cannot without changing what README.md
// documents): CLI11 2.1 binds a subcommand's flags to the words after it, so `--drain 5s
// stop web`, accepted here, would fail; it reads `-o=json` as the value "=json"; its messages
// ("The following arguments were not expected", "A subcommand is required") would replace
// the ones users and tests rely on ("servers does not take --drain", "task needs a
// subcommand: ..."); and its environment fallbacks call getenv itself, which would make this
// parser impure. What it would replace is the tokenizer; the command table, the help text,
// the value parsers (parse.h) and the completion script would stay ours either way.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client-cli/parse.h"
#include "weft/control/v1/control.pb.h"

namespace weft::cli {

// Command: what weftctl was asked to do.
enum class Command {
  kHelp,  // weftctl [COMMAND] --help, weftctl help [COMMAND], or no command at all.
  kServers,
  kServer,
  kRun,
  kStop,
  kStopAccepting,
  kTasks,
  kTaskStop,
  kTaskRemove,
  kLimits,
  kWatch,
  kTop,
  kHealth,
  kProcess,
  kStopTasks,
  kDrain,
  kAudit,
  kCompletion,
};

// OutputFormat: -o table|wide|json.
enum class OutputFormat { kTable, kWide, kJson };

// GlobalOptions: the flags every command takes.
struct GlobalOptions {
  // --target (repeatable, or comma lists), else $WEFT_TARGET, else kDefaultTarget. Never empty.
  std::vector<Target> targets{};
  // --token-file, else $WEFT_TOKEN_FILE; empty = send no token.
  std::string token_file{};
  // --tls-ca; with it (or with --tls-cert) weftctl speaks TLS.
  std::string tls_ca{};
  // --tls-cert and --tls-key: a client certificate for mutual TLS; both or neither.
  std::string tls_cert{};
  std::string tls_key{};
  // --timeout: the deadline of each RPC, connecting included.
  absl::Duration timeout = absl::Seconds(10);
  // -o / --output.
  OutputFormat output = OutputFormat::kTable;

  bool tls() const { return !tls_ca.empty() || !tls_cert.empty(); }
};

// audit --limit: the default, and the most a target keeps.
inline constexpr std::uint32_t kDefaultAuditLimit = 20;
inline constexpr std::uint32_t kMaxAuditLimit = 1000;

// Invocation: a parsed command line.
struct Invocation {
  Command command = Command::kHelp;
  // For kHelp: the command whose help to print; kHelp for the overview.
  Command help_topic = Command::kHelp;
  GlobalOptions global{};
  // NAME: the server (listener) operated on; empty where optional and omitted
  // (tasks, watch, health).
  std::string server{};
  // ID of task stop / task remove.
  std::uint64_t task_id = 0;
  // stop --drain; nullopt = the server's configured drain_timeout.
  std::optional<absl::Duration> drain{};
  // task stop and stop-tasks --timeout (after the command words); nullopt = the server's
  // default (5s). drain --timeout goes to `drain`.
  std::optional<absl::Duration> task_timeout{};
  // tasks and stop-tasks: the task filter flags (task_filter_flags.h).
  control::v1::TaskFilter filter{};
  // tasks --order-by, as the server spells it ("idle desc"); empty = id order.
  std::string order_by{};
  // stop-tasks --dry-run, --yes and --max (nullopt = the server's default, 1000).
  bool dry_run = false;
  bool yes = false;
  std::optional<std::uint32_t> max_count{};
  // tasks --older-than and --idle-than.
  std::optional<absl::Duration> older_than{};
  std::optional<absl::Duration> idle_than{};
  // limits --max-connections (required there); 0 = unlimited.
  std::uint32_t max_connections = 0;
  // top --interval.
  absl::Duration interval = absl::Seconds(1);
  // audit --limit: how many records to show, newest first.
  std::uint32_t limit = kDefaultAuditLimit;
  // completion SHELL.
  std::string shell{};
};

// Limits of the duration flags (the server enforces the same maxima).
inline constexpr absl::Duration kMaxDrain = absl::Hours(1);
inline constexpr absl::Duration kMaxTaskTimeout = absl::Hours(1);
inline constexpr absl::Duration kMinInterval = absl::Milliseconds(100);

// Getenv returns an environment variable, or nullopt when it is unset.
using Getenv = std::function<std::optional<std::string>(const char* name)>;

// ParseCommandLine parses `args` (argv without argv[0]). Flags may come before or after the
// command words, as --flag VALUE, --flag=VALUE, or -o VALUE / -oVALUE; "--" ends the flags.
// The one ambiguous flag, --timeout, is the grace period of task stop, stop-tasks and drain
// when it follows their command words, and the RPC deadline everywhere else. Any --help or -h
// yields a kHelp invocation for the command named so far, whatever else is wrong with the line.
// INVALID_ARGUMENT, with a message for the user, for any usage error: unknown command or flag,
// a flag the command does not take, a missing or extra argument, a bad value.
[[nodiscard]] absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                                          const Getenv& getenv);

// UsageText returns the help of `topic` (kHelp: the overview listing every command), ending in
// a newline.
std::string UsageText(Command topic);

// CommandName returns the command words of `command`, e.g. "task stop".
absl::string_view CommandName(Command command);

}  // namespace weft::cli

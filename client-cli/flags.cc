#include "client-cli/flags.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client-cli/task_filter_flags.h"

namespace weft::cli {
namespace {

// CommandSpec: one command's words, arguments, own flags and help.
struct CommandSpec {
  Command command;
  absl::string_view words;  // "task stop"
  int min_args;
  int max_args;
  std::vector<absl::string_view> flags;  // Its own flags, beyond the global ones.
  absl::string_view synopsis;            // Arguments and flags after the words.
  absl::string_view summary;             // One line for the overview.
  absl::string_view details;             // The rest of `weftctl COMMAND --help`.
};

const std::vector<CommandSpec>& Specs() {
  static const auto* specs = new std::vector<CommandSpec>{
      {Command::kServers,
       "servers",
       0,
       0,
       {},
       "",
       "list the listeners: address, state, tasks, counters (alias: status)",
       "One row per listener: NAME, ADDRESS (address:port), STATE, ACTIVE/QUEUED/LIMIT (running\n"
       "and queued tasks, and the limit: the manager's, else max_connections, '-' = none),\n"
       "ACCEPTED and REFUSED (connections since weftd started). -o wide adds the handler, the\n"
       "manager, open connections, failed handlers and the uptime.\n"},
      {Command::kServer,
       "server",
       1,
       1,
       {},
       "NAME",
       "show one listener in detail",
       "Every field of one listener, one per line.\n"},
      {Command::kRun,
       "run",
       1,
       1,
       {},
       "NAME",
       "start a stopped listener, or resume accepting",
       "Starts a stopped listener, or resumes accepting on one that stopped accepting. Fails\n"
       "(exit 1) if it is already accepting or its address is in use.\n"},
      {Command::kStop,
       "stop",
       1,
       1,
       {"--drain"},
       "NAME [--drain 30s]",
       "stop accepting, drain the connections, then stop",
       "Stops accepting, asks every task to end, shuts down the connections still open after\n"
       "the drain timeout, and returns once every task has ended.\n"
       "\n"
       "  --drain D   grace period before connections are shut down (default: the listener's\n"
       "              configured drain_timeout; at most 1h). The call's deadline is --timeout\n"
       "              plus the drain.\n"},
      {Command::kStopAccepting,
       "stop-accepting",
       1,
       1,
       {},
       "NAME",
       "close the listening socket; open connections go on",
       "Closes the listener's socket only; its open connections go on until their clients\n"
       "close. `weftctl run NAME` resumes accepting.\n"},
      {Command::kTasks,
       "tasks",
       0,
       1,
       {"--older-than", "--idle-than", "--state", "--peer", "--idle-over", "--age-over",
        "--min-bytes", "--max-bytes", "--stuck", "--order-by"},
       "[NAME] [FILTER FLAGS] [--order-by idle-desc]",
       "list the connections (tasks) of one or every listener",
       "One row per task: SERVER, ID, PEER, STATE, AGE, IDLE, IN and OUT (bytes). Without NAME,\n"
       "the tasks of every listener. -o wide adds the creation, start and last activity times.\n"
       "The filter flags are evaluated by the server; every one given must hold.\n"
       "\n"
       "  --older-than D   only tasks at least this old (the same as --age-over)\n"
       "  --idle-than D    only tasks idle at least this long (the same as --idle-over)\n"
       "  --order-by O     id (default), idle (most recently active first), idle-desc (longest\n"
       "                   idle first), age (youngest first) or age-desc (oldest first); the\n"
       "                   AIP-132 forms (\"idle desc\") are accepted too\n"},
      {Command::kTaskStop,
       "task stop",
       2,
       2,
       {"--timeout"},
       "NAME ID [--timeout 5s]",
       "stop one task, shutting its connection down after the timeout",
       "Asks the task to end and returns once it has; a queued task is dropped. After the\n"
       "timeout its connection is shut down.\n"
       "\n"
       "  --timeout D   (after `task stop`) the task's grace period (default 5s, at most 1h);\n"
       "                the call's deadline is the global --timeout (before the command) plus\n"
       "                this.\n"},
      {Command::kTaskRemove,
       "task remove",
       2,
       2,
       {},
       "NAME ID",
       "drop one task at once",
       "Removes the task without waiting: a queued task is dropped, a running task has its\n"
       "connection shut down at once.\n"},
      {Command::kStopTasks,
       "stop-tasks",
       1,
       1,
       {"--state", "--peer", "--idle-over", "--age-over", "--min-bytes", "--max-bytes", "--stuck",
        "--dry-run", "--max", "--timeout", "--yes"},
       "NAME FILTER FLAGS [--dry-run] [--max N] [--timeout 5s] [--yes]",
       "stop the tasks a filter selects, cooperatively then forced",
       "Stops every task of NAME that the filter flags select (at least one is required; `stop`\n"
       "stops them all): queued ones are dropped, running ones asked to end together, and the\n"
       "connections of those still running after the timeout shut down. Prints how many matched\n"
       "and how each ended. Tasks still running after the timeout are reported stuck.\n"
       "\n"
       "When stdin and stdout are terminals, weftctl first shows how many tasks match and the\n"
       "first of them, and asks \"Stop N tasks on NAME? [y/N]\"; --yes skips the question.\n"
       "Without a terminal (scripts), or with -o json, it does not ask and stops at once: the\n"
       "--max guard protects scripts, --dry-run previews.\n"
       "\n"
       "  --dry-run        stop nothing: print how many tasks match and the first of them\n"
       "  --max N          refuse, stopping nothing, if more than N tasks match (default 1000)\n"
       "  --timeout D      (after `stop-tasks`) the grace period (default 5s, at most 1h); the\n"
       "                   call's deadline is the global --timeout plus this\n"
       "  --yes            do not ask for confirmation\n"},
      {Command::kDrain,
       "drain",
       1,
       1,
       {"--timeout"},
       "NAME [--timeout 30s]",
       "stop a listener, showing the drain's progress live",
       "Stops NAME like `weftctl stop` and shows how the drain goes while it waits: a progress\n"
       "bar redrawn in place on a terminal (remaining, cooperative and forced tasks, elapsed\n"
       "time against the timeout), one line per update otherwise, then the final counts.\n"
       "Progress comes from the WatchEvents stream, opened before the stop.\n"
       "\n"
       "  --timeout D   (after `drain`) the grace period before connections are shut down\n"
       "                (default: the listener's drain_timeout; at most 1h)\n"},
      {Command::kLimits,
       "limits",
       1,
       1,
       {"--max-connections"},
       "NAME --max-connections N",
       "change a listener's connection limit at run time",
       "  --max-connections N   the new maximum of open connections; 0 = unlimited. Lowering it\n"
       "                        refuses new connections and never closes open ones.\n"},
      {Command::kWatch,
       "watch",
       0,
       1,
       {},
       "[NAME]",
       "follow the event stream until interrupted",
       "Prints each event as it happens: TIME, SERVER, EVENT and its details (task, peer, new\n"
       "state, refusal reason). Once the stream of each target is established, says\n"
       "\"watching TARGET\" on stderr. Ctrl-C (SIGINT) or SIGTERM ends it with exit 0. With\n"
       "-o json, one JSON object per line.\n"},
      {Command::kTop,
       "top",
       0,
       0,
       {"--interval"},
       "[--interval 1s]",
       "live view of the listeners and their busiest tasks",
       "A full-screen view refreshed every interval: the listeners, then their tasks, busiest\n"
       "(most bytes per second) first. Needs a terminal. q or Ctrl-C quits.\n"
       "\n"
       "  --interval D   time between refreshes (default 1s, at least 100ms)\n"},
      {Command::kHealth,
       "health",
       0,
       1,
       {},
       "[NAME]",
       "the gRPC health status; exit 0 only when SERVING",
       "Asks the standard grpc.health.v1 service: for NAME, whether that listener accepts;\n"
       "without NAME, the overall status (NOT_SERVING while weftd drains). Exit 0 only when\n"
       "SERVING on every target, 3 for an unknown NAME, 1 otherwise.\n"},
      {Command::kProcess,
       "process",
       0,
       0,
       {},
       "",
       "the weftd process: pid, start time, generation, serving or draining",
       "One row for the weftd process that answers (ROLE \"this\") and, during a hand-off\n"
       "(weftd --takeover), one for its peer (ROLE \"predecessor\" or \"successor\"): PID,\n"
       "STARTED (RFC 3339, and how long ago), GENERATION (1 when started fresh, one more per\n"
       "hand-off) and STATE (serving, or draining after SIGTERM or a hand-off). While two\n"
       "processes share the control port, either may answer.\n"},
      {Command::kAudit,
       "audit",
       0,
       0,
       {"--limit"},
       "[--limit 20]",
       "the recent mutating and refused control calls (operator)",
       "One row per audit record, newest first: TIME (UTC), METHOD, RESOURCE (servers/NAME or\n"
       "servers/NAME/tasks/ID), CALLER (the token's name), ROLE, PEER (the caller's address),\n"
       "CODE (OK, PERMISSION_DENIED, ...) and DURATION. weftd records every call that changes\n"
       "something and every call refused for its credentials, keeps the newest 1000 of each\n"
       "(refused, other), and logs each one (and files it with an audit block in its\n"
       "configuration); tokens never appear.\n"
       "-o json adds the TLS subject, the status message and the request's arguments. Needs an\n"
       "operator token.\n"
       "\n"
       "  --limit N   how many records (default 20, at most 1000)\n"},
      {Command::kCompletion,
       "completion",
       1,
       1,
       {},
       "bash",
       "print the bash completion script",
       "Prints a bash completion script: source <(weftctl completion bash)\n"},
  };
  return *specs;
}

constexpr std::array<absl::string_view, 7> kGlobalValueFlags = {
    "--target", "--token-file", "--tls-ca", "--tls-cert", "--tls-key", "--timeout", "--output"};

constexpr std::array<absl::string_view, 8> kCommandValueFlags = {
    "--drain",    "--older-than", "--idle-than", "--max-connections",
    "--interval", "--order-by",   "--max",       "--limit"};
constexpr std::array<absl::string_view, 2> kCommandSwitches = {"--dry-run", "--yes"};

bool Contains(auto& list, absl::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool TakesValue(absl::string_view name) {
  return Contains(kGlobalValueFlags, name) || Contains(kCommandValueFlags, name) ||
         Contains(kTaskFilterValueFlags, name);
}

// IsCommandFlag: a flag some command takes (so "X does not take it" rather than "unknown").
bool IsCommandFlag(absl::string_view name) {
  return Contains(kCommandValueFlags, name) || Contains(kCommandSwitches, name) ||
         IsTaskFilterFlag(name);
}

// GraceTimeout: the commands whose --timeout, after their words, is a grace period.
bool GraceTimeout(Command command) {
  return command == Command::kTaskStop || command == Command::kStopTasks ||
         command == Command::kDrain;
}

// FlagToken: one flag from the command line, before validation.
struct FlagToken {
  std::string name;  // "--drain"; "-o" becomes "--output", "-h" becomes "--help".
  std::string value;
  std::size_t words_before = 0;  // Positional arguments seen before it.
};

struct Tokens {
  std::vector<std::string> words;
  std::vector<FlagToken> flags;
  bool help = false;
};

// Tokenize splits flags from positional words without judging either.
absl::StatusOr<Tokens> Tokenize(const std::vector<std::string>& args) {
  Tokens tokens;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      tokens.words.insert(tokens.words.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      tokens.words.push_back(arg);
      continue;
    }
    FlagToken flag{.name = "", .value = "", .words_before = tokens.words.size()};
    bool has_value = false;
    if (arg == "-h" || arg == "--help") {
      tokens.help = true;
      continue;
    }
    if (absl::StartsWith(arg, "--")) {
      const std::size_t eq = arg.find('=');
      flag.name = arg.substr(0, eq);
      if (eq != std::string::npos) {
        flag.value = arg.substr(eq + 1);
        has_value = true;
      }
    } else if (arg[1] == 'o') {
      flag.name = "--output";
      if (arg.size() > 2) {
        flag.value = arg.substr(arg[2] == '=' ? 3 : 2);
        has_value = true;
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", QuoteForMessage(arg)));
    }
    if (TakesValue(flag.name) && !has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(flag.name, " needs a value"));
      }
      flag.value = args[++i];
    } else if (!TakesValue(flag.name) && has_value) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", QuoteForMessage(flag.name)));
    }
    tokens.flags.push_back(std::move(flag));
  }
  return tokens;
}

// FindCommand matches the leading words; returns the spec and how many words it used.
const CommandSpec* FindCommand(const std::vector<std::string>& words, std::size_t* used) {
  if (words.empty()) return nullptr;
  std::string first = words[0];
  if (first == "status") first = "servers";
  for (const CommandSpec& spec : Specs()) {
    if (spec.words == first) {
      *used = 1;
      return &spec;
    }
    if (first == "task" && words.size() > 1 && spec.words == absl::StrCat("task ", words[1])) {
      *used = 2;
      return &spec;
    }
  }
  return nullptr;
}

absl::Status UnknownCommand(const std::vector<std::string>& words) {
  if (words[0] == "task") {
    return absl::InvalidArgumentError(
        words.size() > 1 ? absl::StrCat("unknown command \"task ", absl::CHexEscape(words[1]),
                                        "\"; use task stop or task remove")
                         : "task needs a subcommand: task stop NAME ID, or task remove NAME ID");
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown command ", QuoteForMessage(words[0])));
}

absl::Status ApplyGlobalFlag(const FlagToken& flag, GlobalOptions& global,
                             std::vector<std::string>& target_values) {
  if (flag.name == "--target") {
    target_values.push_back(flag.value);
  } else if (flag.name == "--token-file") {
    if (flag.value.empty()) return absl::InvalidArgumentError("--token-file: empty path");
    global.token_file = flag.value;
  } else if (flag.name == "--tls-ca") {
    global.tls_ca = flag.value;
  } else if (flag.name == "--tls-cert") {
    global.tls_cert = flag.value;
  } else if (flag.name == "--tls-key") {
    global.tls_key = flag.value;
  } else if (flag.name == "--timeout") {
    absl::StatusOr<absl::Duration> timeout =
        ParseDurationFlag("--timeout", flag.value, {.allow_zero = false, .max = absl::Hours(24)});
    if (!timeout.ok()) return timeout.status();
    global.timeout = *timeout;
  } else if (flag.name == "--output") {
    if (flag.value == "table") {
      global.output = OutputFormat::kTable;
    } else if (flag.value == "wide") {
      global.output = OutputFormat::kWide;
    } else if (flag.value == "json") {
      global.output = OutputFormat::kJson;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("-o: ", QuoteForMessage(flag.value),
                                                     " is not an output format; use table, wide or "
                                                     "json"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag ", QuoteForMessage(flag.name)));
  }
  return absl::OkStatus();
}

absl::Status ApplyCommandFlag(const FlagToken& flag, Invocation& invocation) {
  auto duration = [&](const DurationLimits& limits,
                      std::optional<absl::Duration>& out) -> absl::Status {
    absl::StatusOr<absl::Duration> parsed = ParseDurationFlag(flag.name, flag.value, limits);
    if (!parsed.ok()) return parsed.status();
    out = *parsed;
    return absl::OkStatus();
  };
  if (flag.name == "--drain") return duration({.max = kMaxDrain}, invocation.drain);
  if (flag.name == "--timeout") return duration({.max = kMaxTaskTimeout}, invocation.task_timeout);
  if (flag.name == "--older-than") return duration({}, invocation.older_than);
  if (flag.name == "--idle-than") return duration({}, invocation.idle_than);
  if (IsTaskFilterFlag(flag.name)) {
    return ApplyTaskFilterFlag(flag.name, flag.value, invocation.filter);
  }
  if (flag.name == "--order-by") {
    absl::StatusOr<std::string> order = ParseOrderBy(flag.value);
    if (!order.ok()) return order.status();
    invocation.order_by = *std::move(order);
    return absl::OkStatus();
  }
  if (flag.name == "--max") {
    absl::StatusOr<std::uint32_t> count = ParseCount(flag.name, flag.value);
    if (!count.ok()) return count.status();
    if (*count == 0) return absl::InvalidArgumentError("--max: at least 1");
    invocation.max_count = *count;
    return absl::OkStatus();
  }
  if (flag.name == "--dry-run") {
    invocation.dry_run = true;
    return absl::OkStatus();
  }
  if (flag.name == "--yes") {
    invocation.yes = true;
    return absl::OkStatus();
  }
  if (flag.name == "--max-connections") {
    absl::StatusOr<std::uint32_t> count = ParseCount(flag.name, flag.value);
    if (!count.ok()) return count.status();
    invocation.max_connections = *count;
    return absl::OkStatus();
  }
  if (flag.name == "--limit") {
    absl::StatusOr<std::uint32_t> count = ParseCount(flag.name, flag.value);
    if (!count.ok()) return count.status();
    if (*count == 0 || *count > kMaxAuditLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat("--limit: between 1 and ", kMaxAuditLimit, " records"));
    }
    invocation.limit = *count;
    return absl::OkStatus();
  }
  if (flag.name == "--interval") {
    std::optional<absl::Duration> interval;
    if (absl::Status status = duration({.allow_zero = false, .max = absl::Hours(1)}, interval);
        !status.ok()) {
      return status;
    }
    if (*interval < kMinInterval) {
      return absl::InvalidArgumentError(
          absl::StrCat("--interval: at least ", absl::FormatDuration(kMinInterval)));
    }
    invocation.interval = *interval;
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("unhandled command flag ", flag.name));
}

}  // namespace

absl::string_view CommandName(Command command) {
  if (command == Command::kHelp) return "help";
  for (const CommandSpec& spec : Specs()) {
    if (spec.command == command) return spec.words;
  }
  return "?";
}

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                            const Getenv& getenv) {
  absl::StatusOr<Tokens> tokens = Tokenize(args);
  if (!tokens.ok()) return tokens.status();
  std::vector<std::string>& words = tokens->words;

  Invocation invocation;
  // Help: `help [COMMAND...]` or any -h/--help.
  const bool help_word = !words.empty() && words[0] == "help";
  if (tokens->help || help_word) {
    if (help_word) words.erase(words.begin());
    invocation.command = Command::kHelp;
    if (words.empty()) return invocation;
    std::size_t used = 0;
    const CommandSpec* spec = FindCommand(words, &used);
    if (spec == nullptr) {
      // "task --help" is help for both task commands: show the overview.
      if (words[0] == "task") return invocation;
      return UnknownCommand(words);
    }
    invocation.help_topic = spec->command;
    return invocation;
  }
  if (words.empty()) {
    return absl::InvalidArgumentError("no command given");
  }
  std::size_t used = 0;
  const CommandSpec* spec = FindCommand(words, &used);
  if (spec == nullptr) return UnknownCommand(words);
  invocation.command = spec->command;
  const std::vector<std::string> command_args(words.begin() + static_cast<long>(used), words.end());

  std::vector<std::string> target_values;
  bool saw_max_connections = false;
  for (const FlagToken& flag : tokens->flags) {
    // --timeout after "task stop", "stop-tasks" or "drain" is the grace period; anywhere else
    // the global deadline.
    const bool own =
        Contains(spec->flags, flag.name) &&
        !(flag.name == "--timeout" && (!GraceTimeout(spec->command) || flag.words_before < used));
    absl::Status status;
    if (own) {
      status = ApplyCommandFlag(flag, invocation);
      saw_max_connections |= flag.name == "--max-connections";
    } else if (Contains(kGlobalValueFlags, flag.name)) {
      status = ApplyGlobalFlag(flag, invocation.global, target_values);
    } else if (IsCommandFlag(flag.name)) {
      status = absl::InvalidArgumentError(absl::StrCat(spec->words, " does not take ", flag.name));
    } else {
      status =
          absl::InvalidArgumentError(absl::StrCat("unknown flag ", QuoteForMessage(flag.name)));
    }
    if (!status.ok()) return status;
  }

  const int count = static_cast<int>(command_args.size());
  if (count < spec->min_args || count > spec->max_args) {
    const std::string usage = absl::StrCat("usage: weftctl ", spec->words,
                                           spec->synopsis.empty() ? "" : " ", spec->synopsis);
    if (count > spec->max_args) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument ", QuoteForMessage(command_args[spec->max_args]), "; ", usage));
    }
    return absl::InvalidArgumentError(absl::StrCat("missing argument; ", usage));
  }
  switch (spec->command) {
    case Command::kTaskStop:
    case Command::kTaskRemove: {
      absl::StatusOr<std::uint64_t> id = ParseTaskId(command_args[1]);
      if (!id.ok()) return id.status();
      invocation.task_id = *id;
      break;
    }
    case Command::kStopTasks:
      if (invocation.filter.ByteSizeLong() == 0) {
        return absl::InvalidArgumentError(
            "stop-tasks needs at least one filter flag (--state, --peer, --idle-over, "
            "--age-over, --min-bytes, --max-bytes, --stuck); `weftctl stop NAME` stops every task");
      }
      break;
    case Command::kDrain:
      invocation.drain = std::exchange(invocation.task_timeout, std::nullopt);
      break;
    case Command::kLimits:
      if (!saw_max_connections) {
        return absl::InvalidArgumentError("limits needs --max-connections N (0 = unlimited)");
      }
      break;
    case Command::kCompletion:
      if (command_args[0] != "bash") {
        return absl::InvalidArgumentError(absl::StrCat(
            "completion: ", QuoteForMessage(command_args[0]), " is not supported; use bash"));
      }
      invocation.shell = command_args[0];
      break;
    case Command::kTop:
      if (invocation.global.output == OutputFormat::kJson) {
        return absl::InvalidArgumentError(
            "top is interactive and has no JSON output; use servers or tasks -o json");
      }
      break;
    default:
      break;
  }
  if (spec->command != Command::kCompletion && !command_args.empty()) {
    invocation.server = command_args[0];
    if (invocation.server.empty()) return absl::InvalidArgumentError("empty server NAME");
  }

  // Targets: flags, else the environment, else the default.
  std::string source = "--target";
  if (target_values.empty()) {
    if (std::optional<std::string> env = getenv("WEFT_TARGET"); env.has_value() && !env->empty()) {
      target_values.push_back(*env);
      source = "WEFT_TARGET";
    } else {
      target_values.push_back(kDefaultTarget);
    }
  }
  absl::StatusOr<std::vector<Target>> targets = ParseTargetList(target_values);
  if (!targets.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", targets.status().message()));
  }
  invocation.global.targets = *std::move(targets);

  if (invocation.global.token_file.empty()) {
    if (std::optional<std::string> env = getenv("WEFT_TOKEN_FILE"); env.has_value()) {
      invocation.global.token_file = *env;
    }
  }
  if (invocation.global.tls_cert.empty() != invocation.global.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  return invocation;
}

std::string UsageText(Command topic) {
  if (topic != Command::kHelp) {
    for (const CommandSpec& spec : Specs()) {
      if (spec.command != topic) continue;
      return absl::StrCat("usage: weftctl [FLAGS] ", spec.words, spec.synopsis.empty() ? "" : " ",
                          spec.synopsis, "\n\n",
                          absl::StrCat(absl::AsciiStrToUpper(spec.summary.substr(0, 1)),
                                       spec.summary.substr(1), ".\n\n"),
                          spec.details, Contains(spec.flags, "--peer") ? kTaskFilterHelp : "",
                          "\nGlobal flags (--target, --token-file, --tls-*, --timeout, -o): "
                          "see weftctl --help.\n");
    }
  }
  std::string text =
      "usage: weftctl [FLAGS] COMMAND [ARGS]\n"
      "\n"
      "Inspects and controls the listeners of weftd processes through their gRPC control\n"
      "plane.\n"
      "\n"
      "Commands:\n";
  for (const CommandSpec& spec : Specs()) {
    std::string left = absl::StrCat(spec.words, spec.synopsis.empty() ? "" : " ", spec.synopsis);
    if (left.size() <= 30) {
      absl::StrAppend(&text, "  ", left, std::string(31 - left.size(), ' '), spec.summary, "\n");
    } else {
      absl::StrAppend(&text, "  ", left, "\n", std::string(33, ' '), spec.summary, "\n");
    }
  }
  absl::StrAppend(
      &text,
      "\n"
      "Flags (before or after the command):\n"
      "  --target HOST:PORT|unix:PATH   the control plane; repeat the flag or give a comma list\n"
      "                                 to run the command on several (default $WEFT_TARGET,\n"
      "                                 else 127.0.0.1:7070)\n"
      "  --token-file FILE              send the bearer token in FILE (default "
      "$WEFT_TOKEN_FILE)\n"
      "  --tls-ca FILE                  use TLS, verifying the server with this CA\n"
      "  --tls-cert FILE --tls-key FILE a client certificate (mutual TLS)\n"
      "  --timeout D                    deadline of each call, connecting included "
      "(default 10s)\n"
      "  -o, --output table|wide|json   output format (default table)\n"
      "  -h, --help                     this help; weftctl COMMAND --help for one command\n"
      "\n"
      "Durations: 500ms, 30s, 5m, 1h30m.\n"
      "Exit codes: 0 success; 1 the operation failed; 2 usage error; 3 not found;\n"
      "            4 unauthenticated or permission denied; 5 target unreachable.\n"
      "With several targets, the exit code is that of the first target (in --target order)\n"
      "that failed.\n");
  return text;
}

}  // namespace weft::cli

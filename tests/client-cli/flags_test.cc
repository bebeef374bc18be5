#include "client-cli/flags.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::cli {
namespace {

using ::testing::HasSubstr;

class FlagsTest : public ::testing::Test {
 protected:
  // Parse splits `line` on spaces (no quoting needed in these tests).
  absl::StatusOr<Invocation> Parse(const std::string& line) {
    std::vector<std::string> args;
    if (!line.empty()) args = absl::StrSplit(line, ' ');
    return ParseCommandLine(args, [this](const char* name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  // Error returns the message of a usage error, failing the test if there is none.
  std::string Error(const std::string& line) {
    absl::StatusOr<Invocation> invocation = Parse(line);
    EXPECT_FALSE(invocation.ok()) << line;
    if (invocation.ok()) return "";
    EXPECT_EQ(invocation.status().code(), absl::StatusCode::kInvalidArgument) << line;
    return std::string(invocation.status().message());
  }

  std::map<std::string, std::string> env_;
};

TEST_F(FlagsTest, ServersHasTheDefaults) {
  absl::StatusOr<Invocation> invocation = Parse("servers");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kServers);
  ASSERT_EQ(invocation->global.targets.size(), 1u);
  EXPECT_EQ(invocation->global.targets[0].name, "127.0.0.1:7070");
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(10));
  EXPECT_EQ(invocation->global.output, OutputFormat::kTable);
  EXPECT_TRUE(invocation->global.token_file.empty());
  EXPECT_FALSE(invocation->global.tls());
}

TEST_F(FlagsTest, StatusIsAnAliasOfServers) {
  EXPECT_EQ(Parse("status")->command, Command::kServers);
}

TEST_F(FlagsTest, GlobalFlagsGoBeforeOrAfterTheCommandInEitherSpelling) {
  for (const std::string line : {"--target 127.0.0.1:1 -o json --timeout 2s servers",
                                 "servers --target=127.0.0.1:1 -ojson --timeout=2s",
                                 "--output=json servers --target 127.0.0.1:1 --timeout 2s",
                                 "-o=json servers --target 127.0.0.1:1 --timeout 2s"}) {
    absl::StatusOr<Invocation> invocation = Parse(line);
    ASSERT_TRUE(invocation.ok()) << line << ": " << invocation.status();
    EXPECT_EQ(invocation->global.targets[0].name, "127.0.0.1:1") << line;
    EXPECT_EQ(invocation->global.output, OutputFormat::kJson) << line;
    EXPECT_EQ(invocation->global.timeout, absl::Seconds(2)) << line;
  }
  EXPECT_EQ(Parse("servers -o wide")->global.output, OutputFormat::kWide);
  EXPECT_EQ(Parse("servers -o table")->global.output, OutputFormat::kTable);
  EXPECT_THAT(Error("servers -o yaml"), HasSubstr("\"yaml\" is not an output format"));
}

TEST_F(FlagsTest, TargetsComeFromFlagsElseTheEnvironmentElseTheDefault) {
  env_["WEFT_TARGET"] = "127.0.0.1:5,127.0.0.1:6";
  absl::StatusOr<Invocation> invocation = Parse("servers");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  ASSERT_EQ(invocation->global.targets.size(), 2u);
  EXPECT_EQ(invocation->global.targets[1].name, "127.0.0.1:6");

  invocation = Parse("servers --target 127.0.0.1:1 --target 127.0.0.1:2,unix:/s");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  ASSERT_EQ(invocation->global.targets.size(), 3u);
  EXPECT_EQ(invocation->global.targets[2].name, "unix:/s");

  env_["WEFT_TARGET"] = "nope";
  EXPECT_THAT(Error("servers"), HasSubstr("WEFT_TARGET: bad target \"nope\""));
  EXPECT_THAT(Error("servers --target 127.0.0.1"), HasSubstr("--target: bad target"));
}

TEST_F(FlagsTest, TokenFileComesFromTheFlagElseTheEnvironment) {
  env_["WEFT_TOKEN_FILE"] = "/env/token";
  EXPECT_EQ(Parse("servers")->global.token_file, "/env/token");
  EXPECT_EQ(Parse("servers --token-file /flag/token")->global.token_file, "/flag/token");
}

TEST_F(FlagsTest, TlsFlags) {
  absl::StatusOr<Invocation> invocation =
      Parse("servers --tls-ca ca.pem --tls-cert c.pem --tls-key k.pem");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_TRUE(invocation->global.tls());
  EXPECT_EQ(invocation->global.tls_ca, "ca.pem");
  EXPECT_EQ(invocation->global.tls_cert, "c.pem");
  EXPECT_EQ(invocation->global.tls_key, "k.pem");
  EXPECT_THAT(Error("servers --tls-cert c.pem"), HasSubstr("go together"));
  EXPECT_THAT(Error("servers --tls-key k.pem"), HasSubstr("go together"));
}

TEST_F(FlagsTest, CommandsTakeTheirArguments) {
  absl::StatusOr<Invocation> invocation = Parse("server web");
  ASSERT_TRUE(invocation.ok());
  EXPECT_EQ(invocation->command, Command::kServer);
  EXPECT_EQ(invocation->server, "web");
  EXPECT_EQ(Parse("run web")->command, Command::kRun);
  EXPECT_EQ(Parse("stop-accepting web")->command, Command::kStopAccepting);
  EXPECT_EQ(Parse("watch")->server, "");
  EXPECT_EQ(Parse("watch web")->server, "web");
  EXPECT_EQ(Parse("health")->command, Command::kHealth);
  EXPECT_EQ(Parse("health web")->server, "web");
  EXPECT_EQ(Parse("process")->command, Command::kProcess);
  EXPECT_THAT(Error("process web"), HasSubstr("unexpected argument"));
  EXPECT_EQ(Parse("audit")->command, Command::kAudit);
  EXPECT_EQ(Parse("audit")->limit, kDefaultAuditLimit);
  EXPECT_EQ(Parse("audit --limit 1000")->limit, 1000u);
  EXPECT_THAT(Error("audit --limit 0"), HasSubstr("between 1 and 1000"));
  EXPECT_THAT(Error("audit --limit 1001"), HasSubstr("between 1 and 1000"));
  EXPECT_THAT(Error("audit web"), HasSubstr("unexpected argument"));
  EXPECT_THAT(Error("servers --limit 5"), HasSubstr("servers does not take --limit"));
  EXPECT_EQ(Parse("tasks")->server, "");
  // "--" ends the flags: a server could be named like one.
  EXPECT_EQ(Parse("server -- -web")->server, "-web");
}

TEST_F(FlagsTest, StopTakesADrain) {
  absl::StatusOr<Invocation> invocation = Parse("stop web --drain 30s");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kStop);
  EXPECT_EQ(invocation->drain, absl::Seconds(30));
  EXPECT_FALSE(Parse("stop web")->drain.has_value());
  EXPECT_THAT(Error("stop web --drain -1s"), HasSubstr("--drain: the duration must not be "
                                                       "negative"));
  EXPECT_THAT(Error("stop web --drain 2h"), HasSubstr("at most 1h"));
  EXPECT_THAT(Error("stop web --drain soon"), HasSubstr("\"soon\" is not a duration"));
  EXPECT_THAT(Error("stop web --drain"), HasSubstr("--drain needs a value"));
}

TEST_F(FlagsTest, TimeoutAfterTaskStopIsTheTasksAndBeforeItTheDeadline) {
  absl::StatusOr<Invocation> invocation = Parse("task stop echo 7 --timeout 2s");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kTaskStop);
  EXPECT_EQ(invocation->server, "echo");
  EXPECT_EQ(invocation->task_id, 7u);
  EXPECT_EQ(invocation->task_timeout, absl::Seconds(2));
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(10));

  invocation = Parse("--timeout 3s task stop echo 7");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_FALSE(invocation->task_timeout.has_value());
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(3));

  invocation = Parse("--timeout 3s task stop --timeout 1s echo 7");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->task_timeout, absl::Seconds(1));
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(3));

  // Elsewhere --timeout is always the deadline.
  EXPECT_EQ(Parse("servers --timeout 4s")->global.timeout, absl::Seconds(4));
  EXPECT_THAT(Error("servers --timeout 0s"), HasSubstr("above 0"));
}

TEST_F(FlagsTest, TaskCommandsNeedANameAndAnId) {
  absl::StatusOr<Invocation> invocation = Parse("task remove echo 12");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kTaskRemove);
  EXPECT_EQ(invocation->task_id, 12u);
  EXPECT_THAT(Error("task remove echo"), HasSubstr("missing argument"));
  EXPECT_THAT(Error("task remove echo zero"), HasSubstr("bad task id \"zero\""));
  EXPECT_THAT(Error("task"), HasSubstr("task needs a subcommand"));
  EXPECT_THAT(Error("task kill echo 1"), HasSubstr("unknown command \"task kill\""));
  // task remove has no grace period: its --timeout is the deadline.
  EXPECT_EQ(Parse("task remove echo 1 --timeout 1s")->global.timeout, absl::Seconds(1));
}

TEST_F(FlagsTest, TasksFilters) {
  absl::StatusOr<Invocation> invocation = Parse("tasks web --older-than 10m --idle-than 1m");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kTasks);
  EXPECT_EQ(invocation->server, "web");
  EXPECT_EQ(invocation->older_than, absl::Minutes(10));
  EXPECT_EQ(invocation->idle_than, absl::Minutes(1));
  EXPECT_THAT(Error("tasks --idle-than x"), HasSubstr("--idle-than"));
}

TEST_F(FlagsTest, TaskFilterFlagsFillTheFilterOfTasksAndStopTasks) {
  absl::StatusOr<Invocation> invocation =
      Parse("stop-tasks web --state running,queued --state running --peer 10.0.0.0/8 "
            "--idle-over 5m --age-over 1h --min-bytes 10 --max-bytes 20 --stuck --timeout 2s "
            "--max 50 --dry-run --yes");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kStopTasks);
  EXPECT_EQ(invocation->server, "web");
  const control::v1::TaskFilter& filter = invocation->filter;
  ASSERT_EQ(filter.states_size(), 2);
  EXPECT_EQ(filter.states(0), control::v1::TASK_STATE_RUNNING);
  EXPECT_EQ(filter.states(1), control::v1::TASK_STATE_QUEUED);
  EXPECT_EQ(filter.peer(), "10.0.0.0/8");
  EXPECT_EQ(filter.min_idle().seconds(), 300);
  EXPECT_EQ(filter.min_age().seconds(), 3600);
  EXPECT_EQ(filter.min_bytes(), 10u);
  EXPECT_EQ(filter.max_bytes(), 20u);
  EXPECT_TRUE(filter.stuck_only());
  EXPECT_EQ(invocation->task_timeout, absl::Seconds(2)) << "after stop-tasks: the grace";
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(10));
  EXPECT_EQ(invocation->max_count, 50u);
  EXPECT_TRUE(invocation->dry_run);
  EXPECT_TRUE(invocation->yes);

  invocation = Parse("tasks --peer 127.0.0.1 --order-by idle-desc");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->filter.peer(), "127.0.0.1");
  EXPECT_EQ(invocation->order_by, "idle desc");
  EXPECT_EQ(Parse("tasks --order-by=age")->order_by, "age");
}

TEST_F(FlagsTest, StopTasksAndDrainRejectWhatTheyCannotUse) {
  EXPECT_THAT(Error("stop-tasks web"), HasSubstr("needs at least one filter flag"));
  EXPECT_THAT(Error("stop-tasks web --state idle"), HasSubstr("\"idle\" is not a state"));
  EXPECT_THAT(Error("stop-tasks web --min-bytes 9 --max-bytes 8"),
              HasSubstr("--max-bytes is below --min-bytes"));
  EXPECT_THAT(Error("stop-tasks web --min-bytes -1"), HasSubstr("is not a byte count"));
  EXPECT_THAT(Error("stop-tasks web --stuck --max 0"), HasSubstr("--max: at least 1"));
  EXPECT_THAT(Error("stop-tasks web --stuck --timeout 2h"), HasSubstr("--timeout"));
  EXPECT_THAT(Error("stop-tasks --stuck"), HasSubstr("missing argument"));
  EXPECT_THAT(Error("servers --stuck"), HasSubstr("servers does not take --stuck"));
  EXPECT_THAT(Error("stop web --dry-run"), HasSubstr("stop does not take --dry-run"));
  EXPECT_THAT(Error("tasks --order-by size"), HasSubstr("is not an order"));
  EXPECT_THAT(Error("drain web --peer 10.0.0.0/8"), HasSubstr("drain does not take --peer"));
}

TEST_F(FlagsTest, DrainTimeoutIsTheDrainAndBeforeTheCommandTheDeadline) {
  absl::StatusOr<Invocation> invocation = Parse("--timeout 3s drain web --timeout 20s");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kDrain);
  EXPECT_EQ(invocation->drain, absl::Seconds(20));
  EXPECT_EQ(invocation->task_timeout, std::nullopt);
  EXPECT_EQ(invocation->global.timeout, absl::Seconds(3));
  EXPECT_EQ(Parse("drain web")->drain, std::nullopt);
}

TEST_F(FlagsTest, LimitsNeedsMaxConnections) {
  absl::StatusOr<Invocation> invocation = Parse("limits web --max-connections 0");
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->command, Command::kLimits);
  EXPECT_EQ(invocation->max_connections, 0u);
  EXPECT_EQ(Parse("limits web --max-connections=25")->max_connections, 25u);
  EXPECT_THAT(Error("limits web"), HasSubstr("needs --max-connections"));
  EXPECT_THAT(Error("limits web --max-connections -1"), HasSubstr("not a number"));
}

TEST_F(FlagsTest, TopTakesAnIntervalAndNoJson) {
  EXPECT_EQ(Parse("top")->interval, absl::Seconds(1));
  EXPECT_EQ(Parse("top --interval 250ms")->interval, absl::Milliseconds(250));
  EXPECT_THAT(Error("top --interval 10ms"), HasSubstr("at least 100ms"));
  EXPECT_THAT(Error("top -o json"), HasSubstr("no JSON output"));
  EXPECT_TRUE(Parse("top -o wide").ok());
}

TEST_F(FlagsTest, RejectsUnknownAndMisplacedFlagsAndArguments) {
  EXPECT_THAT(Error(""), HasSubstr("no command given"));
  EXPECT_THAT(Error("frobnicate"), HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(Error("servers --bogus"), HasSubstr("unknown flag \"--bogus\""));
  EXPECT_THAT(Error("servers -x"), HasSubstr("unknown flag \"-x\""));
  EXPECT_THAT(Error("servers --drain 1s"), HasSubstr("servers does not take --drain"));
  EXPECT_THAT(Error("servers extra"), HasSubstr("unexpected argument \"extra\""));
  EXPECT_THAT(Error("server"), HasSubstr("missing argument; usage: weftctl server NAME"));
  EXPECT_THAT(Error("server web web2"), HasSubstr("unexpected argument"));
  EXPECT_THAT(Error("server --target"), HasSubstr("--target needs a value"));
  EXPECT_THAT(Error("completion zsh"), HasSubstr("use bash"));
}

TEST_F(FlagsTest, HelpWinsOverEverythingElse) {
  for (const std::string line : {"--help", "-h", "help"}) {
    absl::StatusOr<Invocation> invocation = Parse(line);
    ASSERT_TRUE(invocation.ok()) << line;
    EXPECT_EQ(invocation->command, Command::kHelp);
    EXPECT_EQ(invocation->help_topic, Command::kHelp);
  }
  for (const std::string line :
       {"stop --help", "help stop", "stop -h", "stop web --drain x --help", "--bogus stop -h"}) {
    absl::StatusOr<Invocation> invocation = Parse(line);
    ASSERT_TRUE(invocation.ok()) << line << ": " << invocation.status();
    EXPECT_EQ(invocation->command, Command::kHelp) << line;
    EXPECT_EQ(invocation->help_topic, Command::kStop) << line;
  }
  EXPECT_EQ(Parse("task stop --help")->help_topic, Command::kTaskStop);
  EXPECT_EQ(Parse("task --help")->help_topic, Command::kHelp);
  EXPECT_THAT(Error("help frobnicate"), HasSubstr("unknown command"));
}

TEST_F(FlagsTest, UsageTextListsEveryCommandAndExplainsOne) {
  const std::string overview = UsageText(Command::kHelp);
  for (const char* word : {"servers",
                           "server NAME",
                           "run NAME",
                           "stop NAME [--drain 30s]",
                           "stop-accepting NAME",
                           "tasks [NAME]",
                           "task stop NAME ID",
                           "task remove NAME ID",
                           "limits NAME --max-connections N",
                           "watch [NAME]",
                           "top",
                           "health [NAME]",
                           "process",
                           "stop-tasks NAME FILTER FLAGS",
                           "drain NAME [--timeout 30s]",
                           "audit [--limit 20]",
                           "completion bash",
                           "--target",
                           "--token-file",
                           "--tls-ca",
                           "--timeout",
                           "-o, --output",
                           "Exit codes"}) {
    EXPECT_THAT(overview, HasSubstr(word));
  }
  EXPECT_THAT(UsageText(Command::kStop), HasSubstr("usage: weftctl [FLAGS] stop NAME [--drain "
                                                   "30s]"));
  EXPECT_THAT(UsageText(Command::kTaskStop), HasSubstr("--timeout D"));
  EXPECT_THAT(UsageText(Command::kStopTasks), HasSubstr("--peer CIDR"));
  EXPECT_THAT(UsageText(Command::kStopTasks), HasSubstr("[y/N]"));
  EXPECT_THAT(UsageText(Command::kTasks), HasSubstr("--order-by O"));
  EXPECT_EQ(CommandName(Command::kTaskRemove), "task remove");
}

}  // namespace
}  // namespace weft::cli

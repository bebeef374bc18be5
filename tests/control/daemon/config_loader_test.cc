// The weftd configuration: every error is located and says what is wrong.
#include "control/daemon/config_loader.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "control/daemon/listener_builder.h"
#include "tests/testing/concurrent_tasks.h"
#include "tests/testing/loopback_client.h"
#include "weft/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace weft::control {
namespace {

using ::testing::HasSubstr;

class ConfigLoaderTest : public ::testing::Test {
 protected:
  absl::StatusOr<config::v1::Config> Parse(const std::string& text,
                                           ConfigOverrides overrides = {}) {
    return ParseConfig(text, "test.textproto", registry_, overrides);
  }
  std::string Error(const std::string& text) {
    absl::StatusOr<config::v1::Config> config = Parse(text);
    EXPECT_FALSE(config.ok()) << "expected an error for:\n" << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }

  const HandlerRegistry registry_ = BuiltinHandlers();
};

TEST_F(ConfigLoaderTest, TheEmbeddedDefaultIsValidAndMatchesTheDocumentedPorts) {
  absl::StatusOr<config::v1::Config> config =
      ParseConfig(DefaultConfigText(), "<default>", registry_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->control().address(), "127.0.0.1:7070");
  ASSERT_EQ(config->listeners_size(), 1);
  EXPECT_EQ(config->listeners(0).port(), 7007u);
  EXPECT_EQ(config->listeners(0).handler().name(), "echo");
}

TEST_F(ConfigLoaderTest, SyntaxErrorsNameLineAndColumn) {
  const std::string message = Error("listeners {\n  name: \"a\"\n  port: seven\n}\n");
  EXPECT_THAT(message, HasSubstr("test.textproto:3:"));
}

TEST_F(ConfigLoaderTest, UnknownFieldsAreErrors) {
  EXPECT_THAT(Error("listeners { nmae: \"a\" }"), HasSubstr("nmae"));
}

TEST_F(ConfigLoaderTest, SemanticErrorsNameLineAndField) {
  const std::string message = Error(
      "listeners {\n"
      "  name: \"web\"\n"
      "  port: 70000\n"
      "  handler { name: \"echo\" }\n"
      "}\n");
  EXPECT_THAT(message, HasSubstr("test.textproto:3:3: listeners[0].port: 70000 is not a TCP port"));
}

TEST_F(ConfigLoaderTest, EveryProblemIsReportedAtOnce) {
  const std::string message = Error(
      "listeners { name: \"a\" port: 1 handler { name: \"nope\" } }\n"
      "listeners { name: \"a\" port: 1 handler { name: \"echo\" } idle_timeout: \"soon\" }\n");
  EXPECT_THAT(message, HasSubstr("listeners[0].handler: unknown handler \"nope\""));
  EXPECT_THAT(message, HasSubstr("listeners[1].name: duplicate listener name \"a\""));
  EXPECT_THAT(message, HasSubstr("listeners[1].port: another listener already uses 127.0.0.1:1"));
  EXPECT_THAT(message, HasSubstr("listeners[1].idle_timeout: \"soon\" is not a duration"));
}

TEST_F(ConfigLoaderTest, NamesAndHandlersAreChecked) {
  EXPECT_THAT(Error("listeners { name: \"Web Server\" handler { name: \"echo\" } }"),
              HasSubstr("is not a valid name"));
  EXPECT_THAT(Error("listeners { name: \"web\" }"), HasSubstr("listeners[0].handler: is required"));
  EXPECT_THAT(Error("listeners { name: \"web\" handler { name: \"http-hello\" args: \"x=1\" } }"),
              HasSubstr("listeners[0].handler:"));
}

TEST_F(ConfigLoaderTest, AFiberManagerIsParsedCheckedAndBuilt) {
  absl::StatusOr<config::v1::Config> config = Parse(
      "listeners {\n"
      "  name: \"echo\"\n"
      "  handler { name: \"echo\" }\n"
      "  fiber { threads: 2 stack_size: 131072 }\n"
      "}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->listeners_size(), 1);
  EXPECT_EQ(config->listeners(0).fiber().threads(), 2u);
  EXPECT_EQ(config->listeners(0).fiber().stack_size(), 131072u);

  absl::StatusOr<ManagedServer> built = BuildListener(config->listeners(0), registry_, nullptr, nullptr);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->server->task_manager().kind(), "fiber");
  EXPECT_EQ(built->server->task_manager().limit(), std::nullopt);

  EXPECT_THAT(Error("listeners { name: \"a\" handler { name: \"echo\" } fiber { threads: 5000 } }"),
              HasSubstr("listeners[0].fiber: threads must be at most 1024"));
  EXPECT_THAT(Error("listeners { name: \"a\" handler { name: \"echo\" } fiber { stack_size: 4096 } }"),
              HasSubstr("listeners[0].fiber: stack_size must be between 16384 and 67108864 bytes"));
}

TEST_F(ConfigLoaderTest, TheThreadedIdleThreadCacheIsCheckedAndReachesTheManager) {
  absl::StatusOr<config::v1::Config> config = Parse(
      "listeners { name: \"a\" handler { name: \"echo\" }"
      " threaded { idle_threads: 2 idle_thread_timeout: \"1h\" } }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<ManagedServer> built =
      BuildListener(config->listeners(0), registry_, nullptr, nullptr);
  ASSERT_TRUE(built.ok()) << built.status();
  // Five tasks end together: the cache keeps the configured two of their threads.
  TaskManager& manager = built->server->task_manager();
  ASSERT_TRUE(testing::RunTogether(manager, 5).ok());
  EXPECT_TRUE(testing::WaitUntil([&] { return manager.Stats().idle_threads == 2; }));
  manager.StopAllTasks(absl::ZeroDuration());

  EXPECT_THAT(
      Error("listeners { name: \"a\" handler { name: \"echo\" } threaded { idle_threads: 5000 } }"),
      HasSubstr("listeners[0].threaded: idle_threads must be at most 4096"));
  EXPECT_THAT(Error("listeners { name: \"a\" handler { name: \"echo\" }"
                    " threaded { idle_thread_timeout: \"soon\" } }"),
              HasSubstr("listeners[0].threaded.idle_thread_timeout: \"soon\" is not a duration"));
}

TEST_F(ConfigLoaderTest, ReusePortIsParsedAndReachesTheServer) {
  absl::StatusOr<config::v1::Config> config = Parse(
      "listeners { name: \"shared\" handler { name: \"echo\" } reuse_port: true }\n"
      "listeners { name: \"plain\" handler { name: \"echo\" } port: 1 }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->listeners_size(), 2);
  EXPECT_TRUE(config->listeners(0).reuse_port());
  EXPECT_FALSE(config->listeners(1).reuse_port());

  absl::StatusOr<ManagedServer> shared =
      BuildListener(config->listeners(0), registry_, nullptr, nullptr);
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_TRUE(shared->server->reuse_port());
  absl::StatusOr<ManagedServer> plain =
      BuildListener(config->listeners(1), registry_, nullptr, nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->server->reuse_port());
}

TEST_F(ConfigLoaderTest, ControlSecuritySettingsAreChecked) {
  EXPECT_THAT(Error("control { tls { cert_file: \"c.pem\" } }"),
              HasSubstr("control.tls.key_file: is required with tls"));
  EXPECT_THAT(Error("control { tokens { token_file: \"t\" } }"),
              HasSubstr("control.tokens[0].role: is required"));
  EXPECT_THAT(Error("control { address: \"0.0.0.0:7070\" }"),
              HasSubstr("is not a loopback address"));
  EXPECT_TRUE(Parse("control { address: \"0.0.0.0:7070\" allow_insecure: true }").ok());
  EXPECT_TRUE(Parse("control { address: \"0.0.0.0:7070\" }", {.allow_insecure = true}).ok());
  EXPECT_TRUE(
      Parse("control { address: \"0.0.0.0:7070\" tokens { role: ROLE_VIEWER token_file: \"t\" } }")
          .ok());
  EXPECT_THAT(Error("control { address: \"no-port\" }"), HasSubstr("HOST:PORT"));
  EXPECT_THAT(Error("control { max_connections: 70000 }"),
              HasSubstr("control.max_connections: must be at most 65536"));
  EXPECT_THAT(Error("control { handshake_timeout: \"10ms\" }"),
              HasSubstr("control.handshake_timeout: must be between 100ms and 5m"));
  EXPECT_THAT(Error("control { handshake_timeout: \"soon\" }"),
              HasSubstr("control.handshake_timeout"));
  EXPECT_THAT(Error("descriptors { reserve: 20000000 }"),
              HasSubstr("descriptors.reserve: must be at most 16777216"));
  EXPECT_TRUE(Parse("control { max_connections: 8 handshake_timeout: \"2s\" } "
                    "descriptors { reserve: 100 }")
                  .ok());
}

TEST_F(ConfigLoaderTest, DurationsAcceptUnitsAndRejectGarbage) {
  EXPECT_EQ(ParseConfigDuration("500ms", absl::ZeroDuration()).value(), absl::Milliseconds(500));
  EXPECT_EQ(ParseConfigDuration("5m", absl::ZeroDuration()).value(), absl::Minutes(5));
  EXPECT_EQ(ParseConfigDuration("", absl::Seconds(7)).value(), absl::Seconds(7));
  EXPECT_FALSE(ParseConfigDuration("-1s", absl::ZeroDuration()).ok());
  EXPECT_FALSE(ParseConfigDuration("inf", absl::ZeroDuration()).ok());
  EXPECT_FALSE(ParseConfigDuration("10", absl::ZeroDuration()).ok());
}

TEST_F(ConfigLoaderTest, ControlAddressesAreParsedAsTheGatewayParsesThem) {
  EXPECT_TRUE(Parse("control { address: \"127.0.0.1:0\" }").ok());
  EXPECT_TRUE(Parse("control { address: \"[::1]:7070\" }").ok());
  EXPECT_TRUE(Parse("control { address: \"localhost:7070\" }").ok());
  EXPECT_TRUE(Parse("control { address: \"unix:/run/weftd.sock\" }").ok());
  EXPECT_THAT(Error("control { address: \"127.0.0.1:http\" }"),
              HasSubstr("must be HOST:PORT or unix:/path, e.g. \"127.0.0.1:7070\" (the port must "
                        "be a number from 0 to 65535)"));
  EXPECT_THAT(Error("control { address: \"::1:7070\" }"),
              HasSubstr("write an IPv6 address in brackets"));
  EXPECT_THAT(Error("control { address: \"[::]:7070\" }"), HasSubstr("is not a loopback address"));
}

TEST_F(ConfigLoaderTest, AMissingFileIsNotFound) {
  EXPECT_EQ(LoadConfigFile("/nonexistent/weftd.textproto", registry_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ConfigLoaderTest, TheDrainDelayIsADurationLocatedOnError) {
  absl::StatusOr<config::v1::Config> config = Parse("control { drain_delay: \"10s\" }");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->control().drain_delay(), "10s");
  EXPECT_TRUE(Parse("control { drain_delay: \"0s\" }").ok());
  EXPECT_THAT(Error("control {\n  drain_delay: \"soon\"\n}\n"),
              HasSubstr("test.textproto:2:3: control.drain_delay: \"soon\" is not a duration"));
  EXPECT_THAT(Error("control { drain_delay: \"-1s\" }"),
              HasSubstr("control.drain_delay: a duration must not be negative"));
}

TEST_F(ConfigLoaderTest, TheHandoffPathMustBeAnAbsoluteUnixSocketPath) {
  absl::StatusOr<config::v1::Config> config =
      Parse("handoff { path: \"/run/weft/handoff.sock\" }");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->handoff().path(), "/run/weft/handoff.sock");
  EXPECT_THAT(Error("handoff {\n  path: \"handoff.sock\"\n}\n"),
              HasSubstr("test.textproto:2:3: handoff.path: must be an absolute path"));
  EXPECT_THAT(Error("handoff { }"), HasSubstr("handoff.path: must be an absolute path"));
  EXPECT_THAT(Error(absl::StrCat("handoff { path: \"/", std::string(120, 'x'), "\" }")),
              HasSubstr("handoff.path: unix socket path"));
}

TEST_F(ConfigLoaderTest, TheAuditPathMustBeAnAbsoluteFilePath) {
  absl::StatusOr<config::v1::Config> config = Parse("audit { path: \"/var/log/weft/audit.jsonl\" }");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->audit().path(), "/var/log/weft/audit.jsonl");
  EXPECT_THAT(
      Error("audit {\n  path: \"audit.jsonl\"\n}\n"),
      HasSubstr("test.textproto:2:3: audit.path: \"audit.jsonl\" is not an absolute path"));
  EXPECT_THAT(Error("audit { }"), HasSubstr("audit.path: is required in an audit block"));
  EXPECT_THAT(Error("audit { path: \"/var/log/weft/\" }"),
              HasSubstr("audit.path: \"/var/log/weft/\" names a directory"));
}

TEST_F(ConfigLoaderTest, ATokenNameIsShortAndPlain) {
  constexpr char kToken[] = "control { tokens { role: ROLE_VIEWER token_file: \"/t\" name: \"";
  EXPECT_TRUE(Parse(absl::StrCat(kToken, "ci-bot@x_1.2\" } }")).ok());
  EXPECT_THAT(Error(absl::StrCat(kToken, "a b\" } }")),
              HasSubstr("control.tokens[0].name: must be 1-64 bytes of letters, digits"));
  EXPECT_THAT(Error(absl::StrCat(kToken, std::string(65, 'a'), "\" } }")),
              HasSubstr("control.tokens[0].name"));
}

TEST_F(ConfigLoaderTest, CloseSpreadIsADurationNoLongerThanTheDrainTimeout) {
  absl::StatusOr<config::v1::Config> config = Parse(
      "listeners { name: \"web\" handler { name: \"echo\" } drain_timeout: \"10s\" "
      "close_spread: \"2s\" }\n"
      "listeners { name: \"plain\" handler { name: \"echo\" } port: 1 }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<ManagedServer> web =
      BuildListener(config->listeners(0), registry_, nullptr, nullptr);
  ASSERT_TRUE(web.ok()) << web.status();
  EXPECT_EQ(web->close_spread, absl::Seconds(2));
  absl::StatusOr<ManagedServer> plain =
      BuildListener(config->listeners(1), registry_, nullptr, nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->close_spread, absl::ZeroDuration()) << "the default is no spreading";

  // Up to the default drain timeout (30s) when drain_timeout is left out; equal is allowed.
  EXPECT_TRUE(
      Parse("listeners { name: \"a\" handler { name: \"echo\" } close_spread: \"30s\" }").ok());
  EXPECT_THAT(
      Error("listeners {\n  name: \"a\"\n  handler { name: \"echo\" }\n  drain_timeout: \"5s\"\n"
            "  close_spread: \"6s\"\n}\n"),
      HasSubstr("test.textproto:5:3: listeners[0].close_spread: \"6s\" must not exceed "
                "drain_timeout (5s)"));
  EXPECT_THAT(Error("listeners { name: \"a\" handler { name: \"echo\" } close_spread: \"31s\" }"),
              HasSubstr("must not exceed drain_timeout (30s)"));
  EXPECT_THAT(Error("listeners { name: \"a\" handler { name: \"echo\" } close_spread: \"soon\" }"),
              HasSubstr("listeners[0].close_spread: \"soon\" is not a duration"));
}

}  // namespace
}  // namespace weft::control

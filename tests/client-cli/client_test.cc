// The parts of client.h and commands.h that need no server: exit codes, combined failures,
// credentials loading.
#include "client-cli/client.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client-cli/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ExitCodeForTest, MapsStatusesToTheDocumentedCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), 1);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), 1);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("slow")), 1);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("address in use")), 1);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("x")), 4);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("x")), 4);
  EXPECT_EQ(ExitCodeFor(MarkUnreachable(absl::UnavailableError("x"))), 5);
  EXPECT_EQ(ExitCodeFor(MarkUnreachable(absl::DeadlineExceededError("x"))), 5);
  EXPECT_FALSE(IsUnreachable(absl::UnavailableError("x")));
}

TEST(CombineFailuresTest, KeepsTheFirstCodeAndEveryMessage) {
  EXPECT_TRUE(CombineFailures({absl::OkStatus(), absl::OkStatus()}).ok());
  EXPECT_EQ(CombineFailures({absl::OkStatus(), absl::NotFoundError("a")}),
            absl::NotFoundError("a"));
  const absl::Status combined =
      CombineFailures({MarkUnreachable(absl::UnavailableError("a")), absl::OkStatus(),
                       absl::PermissionDeniedError("b")});
  EXPECT_EQ(combined.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsUnreachable(combined));
  EXPECT_EQ(combined.message(), "a\nb");
  EXPECT_EQ(ExitCodeFor(combined), 5);
}

class LoadClientConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("weftctl_client_test_", ::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << contents;
    ::chmod(path.c_str(), 0600);
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(LoadClientConfigTest, ReadsTheTokenWithoutSurroundingWhitespace) {
  GlobalOptions global;
  global.token_file = Write("token", "  s3cret-token\n");
  global.timeout = absl::Seconds(3);
  absl::StatusOr<ClientConfig> config = LoadClientConfig(global);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token, "s3cret-token");
  EXPECT_EQ(config->timeout, absl::Seconds(3));
  EXPECT_FALSE(config->tls);
  EXPECT_NE(config->credentials, nullptr);
}

TEST_F(LoadClientConfigTest, RejectsBadTokenFilesWithoutQuotingTheToken) {
  GlobalOptions global;
  global.token_file = (dir_ / "missing").string();
  absl::StatusOr<ClientConfig> config = LoadClientConfig(global);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("--token-file"));
  EXPECT_THAT(config.status().message(), HasSubstr("missing: cannot open"));

  global.token_file = Write("empty", " \n");
  EXPECT_THAT(LoadClientConfig(global).status().message(), HasSubstr("holds no token"));

  global.token_file = Write("spaced", "two words");
  config = LoadClientConfig(global);
  EXPECT_THAT(config.status().message(), HasSubstr("outside printable ASCII"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("two words")));

  global.token_file = dir_.string();
  EXPECT_THAT(LoadClientConfig(global).status().message(), HasSubstr("not a regular file"));
}

TEST_F(LoadClientConfigTest, TlsFilesMustHoldPem) {
  GlobalOptions global;
  global.tls_ca = Write("ca.pem", "not a certificate");
  absl::StatusOr<ClientConfig> config = LoadClientConfig(global);
  EXPECT_THAT(config.status().message(), HasSubstr("--tls-ca"));
  EXPECT_THAT(config.status().message(), HasSubstr("holds no PEM block"));

  global.tls_ca = Write("ca2.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  config = LoadClientConfig(global);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->tls);

  global.tls_cert = Write("c.pem", "-----BEGIN CERTIFICATE-----\n");
  global.tls_key = (dir_ / "nokey.pem").string();
  EXPECT_THAT(LoadClientConfig(global).status().message(), HasSubstr("--tls-key"));
}

TEST(CancelGroupTest, CancelsRegisteredAndLaterContexts) {
  CancelGroup group;
  grpc::ClientContext before;
  group.Add(&before);
  EXPECT_FALSE(group.cancelled());
  group.CancelAll();
  EXPECT_TRUE(group.cancelled());
  grpc::ClientContext after;
  group.Add(&after);  // Cancelled at once; must not crash without a call.
  group.Remove(&before);
  group.Remove(&after);
}

}  // namespace
}  // namespace weft::cli

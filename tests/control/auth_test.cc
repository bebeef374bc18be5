#include "control/auth.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::control {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kViewerToken[] = "viewer-7f3a9c2e5b1d";
constexpr char kOperatorToken[] = "operator-0c8e4d6a2f9b";

// FakeMetadata owns the strings a grpc::ServerContext's client_metadata() would refer to.
// Move-only: a copy's map would point into the original's strings. Moving a deque keeps its
// elements where they are.
class FakeMetadata {
 public:
  FakeMetadata() = default;
  FakeMetadata(FakeMetadata&&) = default;
  FakeMetadata& operator=(FakeMetadata&&) = default;

  void Add(std::string key, std::string value) {
    const std::string& k = strings_.emplace_back(std::move(key));
    const std::string& v = strings_.emplace_back(std::move(value));
    map_.emplace(grpc::string_ref(k), grpc::string_ref(v));
  }
  const std::multimap<grpc::string_ref, grpc::string_ref>& map() const { return map_; }

 private:
  std::deque<std::string> strings_;  // a deque never moves its elements
  std::multimap<grpc::string_ref, grpc::string_ref> map_;
};

FakeMetadata Authorization(std::string value) {
  FakeMetadata metadata;
  metadata.Add("authorization", std::move(value));
  return metadata;
}

// A fresh directory per test, removed afterwards.
class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "auth_test.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // WriteTokenFile creates a file holding `contents` with permission bits `mode`.
  std::string WriteTokenFile(std::string_view contents, mode_t mode = 0600) {
    std::string path = (dir_ / "token.XXXXXX");
    int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
    EXPECT_EQ(fchmod(fd, mode), 0);
    close(fd);
    return path;
  }

  // LoadStandard loads a viewer and an operator token.
  std::unique_ptr<Authenticator> LoadStandard() {
    absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Load(
        {{Role::kViewer, WriteTokenFile(kViewerToken)},
         {Role::kOperator, WriteTokenFile(absl::StrCat("\n  ", kOperatorToken, " \n"))}});
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(AuthenticatorTest, LoadReturnsNotFoundNamingTheMissingFile) {
  std::string path = (dir_ / "absent").string();
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load({{Role::kViewer, path}});
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(auth.status().message(), HasSubstr(path));
}

TEST_F(AuthenticatorTest, LoadReturnsNotFoundWhenAPathComponentIsAFile) {
  std::string path = WriteTokenFile(kViewerToken) + "/token";
  EXPECT_EQ(Authenticator::Load({{Role::kViewer, path}}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AuthenticatorTest, LoadRefusesFilesAccessibleByGroupOrOthers) {
  for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0666}) {
    SCOPED_TRACE(absl::StrCat("mode ", mode));
    std::string path = WriteTokenFile(kViewerToken, mode);
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Load({{Role::kViewer, path}});
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(auth.status().message(),
                AllOf(HasSubstr(path), HasSubstr("group or others"), HasSubstr("chmod 600"),
                      Not(HasSubstr(kViewerToken))));
  }
}

TEST_F(AuthenticatorTest, LoadAcceptsFilesAccessibleByTheOwnerOnly) {
  for (mode_t mode : {0600, 0400, 0700, 0611}) {
    SCOPED_TRACE(absl::StrCat("mode ", mode));
    EXPECT_TRUE(Authenticator::Load({{Role::kViewer, WriteTokenFile(kViewerToken, mode)}}).ok());
  }
}

TEST_F(AuthenticatorTest, LoadReturnsPermissionDeniedForAnUnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = WriteTokenFile(kViewerToken, 0200);
  EXPECT_EQ(Authenticator::Load({{Role::kViewer, path}}).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthenticatorTest, LoadRejectsAnEmptyToken) {
  for (std::string_view contents : {"", " \n\t \r\n"}) {
    std::string path = WriteTokenFile(contents);
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Load({{Role::kViewer, path}});
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(auth.status().message(), HasSubstr(path));
  }
}

TEST_F(AuthenticatorTest, LoadAcceptsTokensUpToTheMaximumLength) {
  std::string longest(Authenticator::kMaxTokenBytes, 'x');
  std::unique_ptr<Authenticator> auth =
      *Authenticator::Load({{Role::kViewer, WriteTokenFile(longest + "\n")}});
  EXPECT_EQ(*auth->Authenticate(Authorization("Bearer " + longest).map()), Role::kViewer);
}

TEST_F(AuthenticatorTest, LoadRejectsATooLongToken) {
  std::string token(Authenticator::kMaxTokenBytes + 1, 'x');
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load({{Role::kViewer, WriteTokenFile(token)}});
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(auth.status().message(), AllOf(HasSubstr("4096"), Not(HasSubstr(token))));
}

TEST_F(AuthenticatorTest, LoadRejectsATooLargeFile) {
  std::string contents = absl::StrCat("x", std::string(1 << 20, ' '));
  EXPECT_EQ(Authenticator::Load({{Role::kViewer, WriteTokenFile(contents)}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuthenticatorTest, LoadRejectsBytesOutsidePrintableAscii) {
  for (const std::string& token : std::vector<std::string>{
           "inner space", std::string("nul\0byte", 8), "bell\x07", "del\x7f", "caf\xc3\xa9"}) {
    SCOPED_TRACE(token);
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Load({{Role::kViewer, WriteTokenFile(token)}});
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(auth.status().message(),
                AllOf(HasSubstr("printable ASCII"), Not(HasSubstr(token))));
  }
}

TEST_F(AuthenticatorTest, LoadRejectsTheSameTokenTwiceNamingBothFiles) {
  std::string first = WriteTokenFile(kViewerToken);
  std::string second = WriteTokenFile(absl::StrCat(" ", kViewerToken, "\n"));
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load({{Role::kViewer, first}, {Role::kOperator, second}});
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(auth.status().message(),
              AllOf(HasSubstr(first), HasSubstr(second), Not(HasSubstr(kViewerToken))));
}

TEST_F(AuthenticatorTest, LoadRejectsADirectoryAndAnEmptyPath) {
  EXPECT_EQ(Authenticator::Load({{Role::kViewer, dir_.string()}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Authenticator::Load({{Role::kViewer, ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuthenticatorTest, LoadWithoutSourcesIsOpen) {
  std::unique_ptr<Authenticator> auth = *Authenticator::Load({});
  EXPECT_FALSE(auth->enabled());
  EXPECT_EQ(*auth->Authenticate(FakeMetadata().map()), Role::kOperator);
}

TEST(OpenAuthenticatorTest, EveryCallerIsAnOperator) {
  std::unique_ptr<Authenticator> auth = Authenticator::Open();
  EXPECT_FALSE(auth->enabled());
  EXPECT_EQ(*auth->Authenticate(FakeMetadata().map()), Role::kOperator);
  EXPECT_EQ(*auth->Authenticate(Authorization("Bearer whatever").map()), Role::kOperator);
  EXPECT_TRUE(auth->Authorize(FakeMetadata().map(), Role::kOperator, "StopServer").ok());
}

TEST_F(AuthenticatorTest, AuthenticateReturnsTheTokensRole) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  ASSERT_TRUE(auth->enabled());
  EXPECT_EQ(*auth->Authenticate(Authorization(absl::StrCat("Bearer ", kViewerToken)).map()),
            Role::kViewer);
  EXPECT_EQ(*auth->Authenticate(Authorization(absl::StrCat("Bearer ", kOperatorToken)).map()),
            Role::kOperator);
}

TEST_F(AuthenticatorTest, IdentifyNamesTheCallerByItsTokensNameOrElseItsFileName) {
  const std::string viewer_file = WriteTokenFile(kViewerToken);
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load({{Role::kViewer, viewer_file},
                           {Role::kOperator, WriteTokenFile(kOperatorToken), "alice"}});
  ASSERT_TRUE(auth.ok()) << auth.status();
  absl::StatusOr<Caller> viewer =
      (*auth)->Identify(Authorization(absl::StrCat("Bearer ", kViewerToken)).map());
  ASSERT_TRUE(viewer.ok()) << viewer.status();
  EXPECT_EQ(viewer->name, std::filesystem::path(viewer_file).filename().string());
  EXPECT_EQ(viewer->role, Role::kViewer);
  absl::StatusOr<Caller> alice =
      (*auth)->Identify(Authorization(absl::StrCat("Bearer ", kOperatorToken)).map());
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->role, Role::kOperator);
  EXPECT_EQ((*auth)->Identify(Authorization("Bearer nope").map()).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<Caller> open = Authenticator::Open()->Identify(FakeMetadata().map());
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->name, "");
  EXPECT_EQ(open->role, Role::kOperator);
}

TEST_F(AuthenticatorTest, AuthenticateAcceptsAnySchemeCaseAndSurroundingWhitespace) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  for (std::string header :
       {absl::StrCat("bearer ", kViewerToken), absl::StrCat("BEARER ", kViewerToken),
        absl::StrCat("BeArEr ", kViewerToken), absl::StrCat("Bearer ", kViewerToken, "  \t"),
        absl::StrCat("  Bearer   ", kViewerToken), absl::StrCat("Bearer\t", kViewerToken)}) {
    SCOPED_TRACE(header);
    absl::StatusOr<Role> role = auth->Authenticate(Authorization(header).map());
    ASSERT_TRUE(role.ok()) << role.status();
    EXPECT_EQ(*role, Role::kViewer);
  }
}

TEST_F(AuthenticatorTest, AuthenticateRejectsMissingMalformedAndUnknownCredentials) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  std::string t = kOperatorToken;
  std::vector<FakeMetadata> rejected;
  rejected.emplace_back();  // no metadata
  rejected.emplace_back().Add("x-token", "Bearer " + t);
  for (const std::string& header : std::vector<std::string>{
           t,  // no scheme: the token alone
           "Basic " + t, "Token " + t, "Bearer:" + t, "Bearer", "Bearer   ", "",
           "Bearer " + t + "x",                          // longer
           "Bearer " + t.substr(0, t.size() - 1),        // a prefix
           "Bearer " + t.substr(0, t.size() - 1) + "c",  // last byte differs
           "Bearer " + t + std::string(1, '\0'),         // zero padding
           "Bearer " + t + " " + t, "Bearer " + std::string(Authenticator::kMaxTokenBytes + 1, 'x'),
           "Bearer " + t + std::string(Authenticator::kMaxHeaderBytes, ' ')}) {
    rejected.push_back(Authorization(header));
  }
  FakeMetadata twice = Authorization("Bearer " + t);
  twice.Add("authorization", absl::StrCat("Bearer ", kViewerToken));
  rejected.push_back(std::move(twice));
  for (const FakeMetadata& metadata : rejected) {
    absl::StatusOr<Role> role = auth->Authenticate(metadata.map());
    EXPECT_EQ(role.status().code(), absl::StatusCode::kUnauthenticated) << role.status();
    EXPECT_THAT(role.status().message(),
                AllOf(Not(HasSubstr(kOperatorToken)), Not(HasSubstr(kViewerToken))));
  }
}

TEST_F(AuthenticatorTest, AuthorizeLetsAViewerReadButNotOperate) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  FakeMetadata viewer = Authorization(absl::StrCat("Bearer ", kViewerToken));
  EXPECT_TRUE(auth->Authorize(viewer.map(), Role::kViewer, "ListServers").ok());
  absl::Status denied = auth->Authorize(viewer.map(), Role::kOperator, "StopServer");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(), "role viewer may not call StopServer (requires operator)");
}

TEST_F(AuthenticatorTest, AuthorizeLetsAnOperatorDoEverything) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  FakeMetadata op = Authorization(absl::StrCat("Bearer ", kOperatorToken));
  EXPECT_TRUE(auth->Authorize(op.map(), Role::kViewer, "ListServers").ok());
  EXPECT_TRUE(auth->Authorize(op.map(), Role::kOperator, "StopServer").ok());
}

TEST_F(AuthenticatorTest, AuthorizeReturnsUnauthenticatedBeforeCheckingTheRole) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  absl::Status status =
      auth->Authorize(Authorization("Bearer nope").map(), Role::kViewer, "ListServers");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), Not(HasSubstr("nope")));
}

TEST_F(AuthenticatorTest, AuthenticateIsSafeFromManyThreads) {
  std::unique_ptr<Authenticator> auth = LoadStandard();
  FakeMetadata viewer = Authorization(absl::StrCat("Bearer ", kViewerToken));
  FakeMetadata op = Authorization(absl::StrCat("Bearer ", kOperatorToken));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 200; ++j) {
        if (auth->Authenticate(viewer.map()).value_or(Role::kOperator) != Role::kViewer) ++wrong;
        if (auth->Authenticate(op.map()).value_or(Role::kViewer) != Role::kOperator) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(RoleNameTest, NamesEachRole) {
  EXPECT_EQ(RoleName(Role::kViewer), "viewer");
  EXPECT_EQ(RoleName(Role::kOperator), "operator");
}

}  // namespace
}  // namespace weft::control

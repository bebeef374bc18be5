// The audit interceptor on a real gRPC server in-process, in front of a fake Control service:
// which calls it records, and what it records about them.
#include "control/audit/audit_interceptor.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/audit/audit_record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kOperatorToken[] = "operator-token-for-the-interceptor-test";
constexpr char kViewerToken[] = "viewer-token-for-the-interceptor-test";

// FakeControl: GetServer and StopAccepting succeed, ListServers refuses with PERMISSION_DENIED;
// every other method is the generated UNIMPLEMENTED (StopTasks among them: it is recorded by
// name whatever its implementation).
class FakeControl final : public v1::Control::Service {
 public:
  grpc::Status GetServer(grpc::ServerContext*, const v1::GetServerRequest*, v1::Server*) override {
    return grpc::Status::OK;
  }
  grpc::Status StopAccepting(grpc::ServerContext*, const v1::StopAcceptingRequest*,
                             v1::Server*) override {
    return grpc::Status::OK;
  }
  grpc::Status ListServers(grpc::ServerContext*, const v1::ListServersRequest*,
                           v1::ListServersResponse*) override {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no \"listing\"\nfor you");
  }
};

class AuditInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / "audit_interceptor_test.XXXXXX");
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Load({{Role::kOperator, TokenFile("operator", kOperatorToken), "alice"},
                             {Role::kViewer, TokenFile("viewer", kViewerToken), "bob"}});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<AuditInterceptorFactory>(
        &trail_, auth_.get(), [](const std::string& peer) { return "named:" + peer; }));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Control::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::string TokenFile(const std::string& name, const std::string& token) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << token << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  std::vector<v1::AuditRecord> Records() { return trail_.List(0, 100).records; }

  std::filesystem::path dir_;
  std::unique_ptr<Authenticator> auth_;
  AuditTrail trail_;
  FakeControl service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

TEST_F(AuditInterceptorTest, RecordsAMutatingCallWithItsCallerResourceAndArguments) {
  v1::StopAcceptingRequest request;
  request.set_name("echo");
  v1::Server reply;
  ASSERT_TRUE(stub_->StopAccepting(Context(kOperatorToken).get(), request, &reply).ok());
  const std::vector<v1::AuditRecord> records = Records();
  ASSERT_EQ(records.size(), 1u);
  const v1::AuditRecord& record = records[0];
  EXPECT_EQ(record.sequence(), 1u);
  EXPECT_EQ(record.method(), "StopAccepting");
  EXPECT_EQ(record.resource(), "servers/echo");
  EXPECT_EQ(record.caller(), "alice");
  EXPECT_EQ(record.role(), "operator");
  EXPECT_THAT(record.peer(), StartsWith("named:ipv4:127.0.0.1:"));
  EXPECT_EQ(record.code(), "OK");
  EXPECT_EQ(record.message(), "");
  EXPECT_EQ(record.request(), "{}");
  EXPECT_GT(record.time().seconds(), 0);
  EXPECT_TRUE(record.has_duration());
}

TEST_F(AuditInterceptorTest, RecordsStopTasksByNameWhateverItsImplementation) {
  v1::StopTasksRequest request;
  request.set_server("web");
  request.set_dry_run(true);
  request.mutable_filter()->set_min_bytes(10);
  v1::StopTasksResponse reply;
  EXPECT_EQ(stub_->StopTasks(Context(kOperatorToken).get(), request, &reply).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  const std::vector<v1::AuditRecord> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].method(), "StopTasks");
  EXPECT_EQ(records[0].resource(), "servers/web");
  EXPECT_EQ(records[0].request(), R"({"filter":{"min_bytes":"10"},"dry_run":true})");
  EXPECT_EQ(records[0].code(), "UNIMPLEMENTED");
}

TEST_F(AuditInterceptorTest, RecordsRefusedReadsButNotAllowedOnes) {
  v1::GetServerRequest get;
  get.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(stub_->GetServer(Context(kViewerToken).get(), get, &server).ok());
  v1::ListServersRequest list;
  list.set_page_size(7);
  v1::ListServersResponse servers;
  EXPECT_EQ(stub_->ListServers(Context(kViewerToken).get(), list, &servers).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->ListServers(Context("").get(), list, &servers).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const std::vector<v1::AuditRecord> records = Records();
  ASSERT_EQ(records.size(), 2u);  // GetServer, allowed, is not recorded.
  EXPECT_EQ(records[1].method(), "ListServers");
  EXPECT_EQ(records[1].caller(), "bob");
  EXPECT_EQ(records[1].role(), "viewer");
  EXPECT_EQ(records[1].code(), "PERMISSION_DENIED");
  EXPECT_EQ(records[1].message(), "no \"listing\"\nfor you");
  EXPECT_EQ(records[1].request(), R"({"page_size":7})");
  // Without a token the caller is unknown and no role was granted.
  EXPECT_EQ(records[0].caller(), "");
  EXPECT_EQ(records[0].role(), "");
}

TEST_F(AuditInterceptorTest, NoTokenEverAppearsInARecord) {
  v1::StopAcceptingRequest request;
  request.set_name("echo");
  v1::Server reply;
  ASSERT_TRUE(stub_->StopAccepting(Context(kOperatorToken).get(), request, &reply).ok());
  v1::ListServersResponse servers;
  ASSERT_FALSE(
      stub_->ListServers(Context(kViewerToken).get(), v1::ListServersRequest(), &servers).ok());
  ASSERT_FALSE(
      stub_->ListServers(Context("not-a-token").get(), v1::ListServersRequest(), &servers).ok());
  ASSERT_EQ(Records().size(), 3u);
  for (const v1::AuditRecord& record : Records()) {
    const std::string json = AuditRecordToJson(record);
    EXPECT_THAT(json, Not(HasSubstr(kOperatorToken)));
    EXPECT_THAT(json, Not(HasSubstr(kViewerToken)));
    EXPECT_THAT(json, Not(HasSubstr("not-a-token")));
  }
}

}  // namespace
}  // namespace weft::control::audit

#include "control/admin/rpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/control/admin/exposition_samples.h"
#include "tests/control/admin/intercepted_server.h"
#include "tests/testing/loopback_client.h"

namespace weft::control::admin {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

using testing::SampleValue;

std::string Render(const RpcMetrics& metrics) {
  MetricsWriter writer;
  metrics.Append(writer);
  return std::move(writer).Finish();
}

const google::protobuf::ServiceDescriptor& HealthDescriptor() {
  return *HealthCheckRequest::descriptor()->file()->FindServiceByName("Health");
}

constexpr char kCheck[] =
    R"(grpc_type="unary",grpc_service="grpc.health.v1.Health",grpc_method="Check")";
constexpr char kWatch[] =
    R"(grpc_type="server_stream",grpc_service="grpc.health.v1.Health",grpc_method="Watch")";

std::string Handled(absl::string_view method, absl::string_view code) {
  return absl::StrCat("grpc_server_handled_total{", method, ",grpc_code=\"", code, "\"}");
}

// RpcMetricsTest: RpcMetrics counting the RPCs of a real in-process server.
class RpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::InterceptedServer>> server =
        testing::InterceptedServer::Start(metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  grpc::Status Check(const std::string& service) { return server_->Check(service); }

  RpcMetrics metrics_;
  std::unique_ptr<testing::InterceptedServer> server_;
};

TEST_F(RpcMetricsTest, NothingIsRenderedBeforeTheFirstCall) { EXPECT_EQ(Render(metrics_), ""); }

TEST_F(RpcMetricsTest, CountsOkAndErrorCodesWithGoNames) {
  ASSERT_TRUE(Check("").ok());
  ASSERT_TRUE(Check("").ok());
  ASSERT_EQ(Check("no-such-service").error_code(), grpc::StatusCode::NOT_FOUND);

  // The status is recorded before it is sent, so the client's answer implies the count.
  const std::string text = Render(metrics_);
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_started_total{", kCheck, "}")), 3) << text;
  EXPECT_EQ(SampleValue(text, Handled(kCheck, "OK")), 2) << text;
  EXPECT_EQ(SampleValue(text, Handled(kCheck, "NotFound")), 1) << text;
  // Codes never seen are not rendered for a method that was not pre-registered.
  EXPECT_EQ(SampleValue(text, Handled(kCheck, "Internal")), std::nullopt) << text;
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_handling_seconds_count{", kCheck, "}")), 3)
      << text;
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_handling_seconds_bucket{", kCheck,
                                           ",le=\"+Inf\"}")),
            3)
      << text;
  EXPECT_TRUE(absl::StrContains(text, "# TYPE grpc_server_handling_seconds histogram\n"));
}

TEST_F(RpcMetricsTest, UnimplementedMethodOfARegisteredServiceIsCounted) {
  grpc::ClientContext context;
  weft::control::v1::GetServerRequest request;
  weft::control::v1::Server response;
  ASSERT_EQ(server_->control().GetServer(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = Render(metrics_);
  EXPECT_EQ(SampleValue(text, Handled(R"(grpc_type="unary",grpc_service="weft.control.v1.Control",)"
                                      R"(grpc_method="GetServer")",
                                      "Unimplemented")),
            1)
      << text;
}

TEST_F(RpcMetricsTest, ServerStreamCancelledByTheClientCountsAsCanceled) {
  grpc::ClientContext context;
  HealthCheckRequest request;
  auto reader = server_->health().Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));  // the first status: the stream is established
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  std::string text;
  EXPECT_TRUE(weft::testing::WaitUntil([&] {
    text = Render(metrics_);
    return SampleValue(text, Handled(kWatch, "Canceled")) == 1;
  })) << text;
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_started_total{", kWatch, "}")), 1) << text;
}

TEST_F(RpcMetricsTest, ServerStreamPastItsDeadlineCountsAsDeadlineExceeded) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  HealthCheckRequest request;
  auto reader = server_->health().Watch(&context, request);
  HealthCheckResponse response;
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  std::string text;
  EXPECT_TRUE(weft::testing::WaitUntil([&] {
    text = Render(metrics_);
    return SampleValue(text, Handled(kWatch, "DeadlineExceeded")) == 1;
  })) << text;
}

TEST_F(RpcMetricsTest, RegisteredServiceShowsEveryMethodAndCodeAtZero) {
  metrics_.RegisterService(HealthDescriptor());
  metrics_.RegisterService(HealthDescriptor());
  std::string text = Render(metrics_);
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_started_total{", kCheck, "}")), 0) << text;
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_started_total{", kWatch, "}")), 0) << text;
  for (const char* code :
       {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
        "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}) {
    EXPECT_EQ(SampleValue(text, Handled(kCheck, code)), 0) << code;
    EXPECT_EQ(SampleValue(text, Handled(kWatch, code)), 0) << code;
  }
  EXPECT_EQ(SampleValue(text, absl::StrCat("grpc_server_handling_seconds_count{", kCheck, "}")), 0);

  // A call lands on the pre-registered method.
  ASSERT_TRUE(Check("").ok());
  text = Render(metrics_);
  EXPECT_EQ(SampleValue(text, Handled(kCheck, "OK")), 1) << text;
  EXPECT_EQ(SampleValue(text, Handled(kCheck, "NotFound")), 0) << text;
}

TEST(RpcMetricsCapTest, TracksAtMostMaxMethods) {
  google::protobuf::FileDescriptorProto file;
  file.set_name("many.proto");
  file.set_package("test");
  file.set_syntax("proto3");
  google::protobuf::DescriptorProto* empty = file.add_message_type();
  empty->set_name("Empty");
  google::protobuf::ServiceDescriptorProto* service = file.add_service();
  service->set_name("Many");
  for (size_t i = 0; i < RpcMetrics::kMaxMethods + 10; ++i) {
    google::protobuf::MethodDescriptorProto* method = service->add_method();
    method->set_name(absl::StrCat("M", i));
    method->set_input_type(".test.Empty");
    method->set_output_type(".test.Empty");
  }
  google::protobuf::DescriptorPool pool;
  const google::protobuf::FileDescriptor* built = pool.BuildFile(file);
  ASSERT_NE(built, nullptr);

  RpcMetrics metrics;
  metrics.RegisterService(*built->service(0));
  size_t started = 0;
  for (absl::string_view line : absl::StrSplit(Render(metrics), '\n')) {
    if (absl::StartsWith(line, "grpc_server_started_total{")) ++started;
  }
  EXPECT_EQ(started, RpcMetrics::kMaxMethods);
}

}  // namespace
}  // namespace weft::control::admin

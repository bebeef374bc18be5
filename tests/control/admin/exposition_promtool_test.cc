// The whole /metrics exposition (two servers, the control plane's RPCs, the process, the build)
// passes `promtool check metrics`, Prometheus's own linter, without a remark.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/admin/metrics_writer.h"
#include "control/admin/process_metrics.h"
#include "control/admin/rpc_metrics.h"
#include "control/admin/server_metrics.h"
#include "tests/control/admin/intercepted_server.h"
#include "tests/testing/child_process.h"
#include "weft/base/histogram.h"

namespace weft::control::admin {
namespace {

namespace v1 = weft::control::v1;

constexpr char kPromtool[] = "/usr/bin/promtool";

ServerSample Sample(const std::string& name, double duration_seconds) {
  ServerSample sample;
  sample.server.set_name(name);
  sample.server.set_state(v1::SERVER_STATE_RUNNING);
  sample.server.set_open_connections(2);
  sample.server.set_accepted_total(10);
  sample.server.set_received_bytes_total(1 << 20);
  v1::RefusalCount* refusal = sample.server.add_refused_by_reason();
  refusal->set_reason(v1::REFUSAL_REASON_DESCRIPTOR_BUDGET);
  refusal->set_count(1);
  v1::CloseCount* close = sample.server.add_closed_by_initiator();
  close->set_initiator(v1::CLOSE_INITIATOR_HANDLER);
  close->set_count(8);
  weft::base::Histogram durations(weft::base::DurationBucketsSeconds());
  durations.Observe(duration_seconds);
  sample.connection_durations = durations.Snapshot();
  return sample;
}

// RenderEverything renders what weftd's /metrics serves, after a few real RPCs.
std::string RenderEverything() {
  RpcMetrics rpc;
  // As weftd does: every Control method shows up, all codes at 0; Health methods once called.
  rpc.RegisterService(*v1::GetServerRequest::descriptor()->file()->FindServiceByName("Control"));
  absl::StatusOr<std::unique_ptr<testing::InterceptedServer>> server =
      testing::InterceptedServer::Start(rpc);
  EXPECT_TRUE(server.ok()) << server.status();
  if (server.ok()) {
    EXPECT_TRUE((*server)->Check("").ok());
    EXPECT_EQ((*server)->Check("nope").error_code(), grpc::StatusCode::NOT_FOUND);
  }
  MetricsWriter writer;
  AppendServerMetrics({Sample("echo", 0.02), Sample("http \"quoted\"\\", 7200)}, writer);
  rpc.Append(writer);
  AppendProcessMetrics(writer);
  AppendProcessStateMetrics(2, true, writer);
  AppendBuildInfo("0.1.0", writer);
  return std::move(writer).Finish();
}

// PromtoolResult: what `promtool check metrics` said about an exposition.
struct PromtoolResult {
  int wait_status = -1;
  std::vector<std::string> remarks;  // its output lines, stdout and stderr
};

// CheckMetrics pipes `text` through `promtool check metrics`; a failure to run it fails the test.
PromtoolResult CheckMetrics(const std::string& text) {
  PromtoolResult result;
  const std::string path = absl::StrCat(::testing::TempDir(), "/exposition_", getpid(), ".txt");
  {
    std::ofstream out(path);
    out << text;
    EXPECT_TRUE(out.good()) << "cannot write " << path;
  }
  // promtool reads the exposition from stdin; its remarks go to stdout or stderr, so both are
  // read.
  absl::StatusOr<weft::testing::ChildProcess> promtool = weft::testing::ChildProcess::Start(
      {"/bin/sh", "-c", absl::StrCat("exec ", kPromtool, " check metrics < '", path, "' 2>&1")});
  EXPECT_TRUE(promtool.ok()) << promtool.status();
  if (promtool.ok()) {
    for (;;) {
      absl::StatusOr<std::string> line = promtool->ReadLine(absl::Seconds(30));
      if (!line.ok()) {
        EXPECT_TRUE(absl::IsOutOfRange(line.status())) << line.status();
        break;
      }
      result.remarks.push_back(*std::move(line));
    }
    const absl::StatusOr<int> status = promtool->Wait(absl::Seconds(30));
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok()) result.wait_status = *status;
  }
  unlink(path.c_str());
  return result;
}

class ExpositionPromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kPromtool, X_OK), 0)
        << kPromtool
        << " is missing: install Debian's prometheus package (bash deploy/build.sh deps)";
  }
};

TEST_F(ExpositionPromtoolTest, PromtoolCheckMetricsReportsNothing) {
  const std::string text = RenderEverything();
  const PromtoolResult result = CheckMetrics(text);
  EXPECT_TRUE(WIFEXITED(result.wait_status) && WEXITSTATUS(result.wait_status) == 0)
      << "wait status " << result.wait_status;
  EXPECT_TRUE(result.remarks.empty()) << absl::StrJoin(result.remarks, "\n") << "\n--- on ---\n"
                                      << text;
  // The exposition holds every part, so promtool had all of them to check.
  for (const char* family :
       {"weft_connections_active", "weft_connection_duration_seconds", "grpc_server_handled_total",
        "grpc_server_handling_seconds", "process_open_fds", "weft_process_generation",
        "weft_process_draining", "weft_build_info"}) {
    EXPECT_NE(text.find(absl::StrCat("# TYPE ", family, " ")), std::string::npos) << family;
  }
}

// The harness hears promtool: a counter without _total is reported.
TEST_F(ExpositionPromtoolTest, PromtoolRemarksReachTheTest) {
  MetricsWriter writer;
  writer.Family("weft_misnamed", MetricType::kCounter, "A counter without the _total suffix.");
  writer.Sample("weft_misnamed", {}, 1);
  const PromtoolResult result = CheckMetrics(std::move(writer).Finish());
  ASSERT_EQ(result.remarks.size(), 1u) << absl::StrJoin(result.remarks, "\n");
  EXPECT_NE(result.remarks[0].find("_total"), std::string::npos) << result.remarks[0];
  EXPECT_NE(result.wait_status, 0);
}

}  // namespace
}  // namespace weft::control::admin

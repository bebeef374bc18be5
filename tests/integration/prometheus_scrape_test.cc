// A real Prometheus (Debian's) scraping a real weftd's admin endpoint: what it stores agrees
// with the connections the test holds, the control tokens guard the scrape, and promtool finds
// nothing to lint in the live /metrics.
#include <httplib.h>
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/prometheus_process.h"
#include "tests/testing/weftd_process.h"

namespace weft::testing {
namespace {

constexpr char kListener[] = R"pb(
  listeners {
    name: "echo"
    port: 0
    handler { name: "echo" }
  }
)pb";

std::unique_ptr<WeftdProcess> StartWeftd(const std::string& control_block) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(
      WEFTD_PATH, absl::StrCat(control_block, "admin { address: \"127.0.0.1:0\" }\n", kListener));
  EXPECT_TRUE(weftd.ok()) << weftd.status();
  if (!weftd.ok()) return nullptr;
  EXPECT_NE((*weftd)->admin_port(), 0);
  return std::move(*weftd);
}

std::unique_ptr<PrometheusProcess> StartPrometheus(const WeftdProcess& weftd,
                                                   const std::string& token_file = "") {
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus = PrometheusProcess::Start(
      {.target = absl::StrCat("127.0.0.1:", weftd.admin_port()), .bearer_token_file = token_file});
  EXPECT_TRUE(prometheus.ok()) << prometheus.status();
  return prometheus.ok() ? std::move(*prometheus) : nullptr;
}

std::function<bool(const Json&)> ValueIs(double expected) {
  return [expected](const Json& result) { return SampleValue(result) == expected; };
}

TEST(PrometheusScrapeTest, PrometheusSeesTheConnectionsTheTestHolds) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd("control { address: \"127.0.0.1:0\" }\n");
  ASSERT_NE(weftd, nullptr);
  std::unique_ptr<PrometheusProcess> prometheus = StartPrometheus(*weftd);
  ASSERT_NE(prometheus, nullptr);

  absl::StatusOr<Json> up = prometheus->WaitFor("up", ValueIs(1));
  ASSERT_TRUE(up.ok()) << up.status() << prometheus->Stderr();

  constexpr int kConnections = 5;
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < kConnections; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->port("echo"));
    ASSERT_TRUE(client.ok()) << client.status();
    // The echo proves the connection was accepted and handed to the handler.
    ASSERT_TRUE(client->Echo("ping").ok());
    clients.push_back(std::move(*client));
  }
  absl::StatusOr<Json> active =
      prometheus->WaitFor("weft_connections_active{server=\"echo\"}", ValueIs(kConnections));
  EXPECT_TRUE(active.ok()) << active.status();

  clients.pop_back();
  clients.pop_back();
  active =
      prometheus->WaitFor("weft_connections_active{server=\"echo\"}", ValueIs(kConnections - 2));
  EXPECT_TRUE(active.ok()) << active.status();
  absl::StatusOr<Json> accepted = prometheus->WaitFor(
      "weft_connections_accepted_total{server=\"echo\"}", ValueIs(kConnections));
  EXPECT_TRUE(accepted.ok()) << accepted.status();
}

TEST(PrometheusScrapeTest, WithControlTokensOnlyAScrapeWithTheViewerTokenSucceeds) {
  const std::string operator_token = WriteTempFile("weft-operator-token", "operator-secret-1\n");
  const std::string viewer_token = WriteTempFile("weft-viewer-token", "viewer-secret-2\n");
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(absl::StrCat(
      "control { address: \"127.0.0.1:0\"\n  tokens { role: ROLE_OPERATOR token_file: \"",
      operator_token, "\" }\n  tokens { role: ROLE_VIEWER token_file: \"", viewer_token,
      "\" } }\n"));
  ASSERT_NE(weftd, nullptr);
  std::unique_ptr<PrometheusProcess> with_token = StartPrometheus(*weftd, viewer_token);
  std::unique_ptr<PrometheusProcess> without_token = StartPrometheus(*weftd);
  ASSERT_NE(with_token, nullptr);
  ASSERT_NE(without_token, nullptr);

  absl::StatusOr<Json> up = with_token->WaitFor("up", ValueIs(1));
  EXPECT_TRUE(up.ok()) << up.status() << with_token->Stderr();
  absl::StatusOr<Json> build_info =
      with_token->WaitFor("weft_build_info", [](const Json& result) { return !result.empty(); });
  EXPECT_TRUE(build_info.ok()) << build_info.status();

  up = without_token->WaitFor("up", ValueIs(0));
  EXPECT_TRUE(up.ok()) << up.status();
  absl::StatusOr<Json> nothing = without_token->Query("weft_build_info");
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_TRUE((*nothing)["data"]["result"].empty()) << JsonDump(*nothing);
  ::unlink(operator_token.c_str());
  ::unlink(viewer_token.c_str());
}

TEST(PromtoolTest, CheckMetricsFindsNothingInTheLiveEndpoint) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd("control { address: \"127.0.0.1:0\" }\n");
  ASSERT_NE(weftd, nullptr);
  // Some traffic first, so that the histogram and counters are not all zero.
  {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->port("echo"));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->Echo("ping").ok());
  }
  httplib::Client http("127.0.0.1", weftd->admin_port());
  http.set_read_timeout(10, 0);
  httplib::Result metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  ASSERT_EQ(metrics->status, 200);
  const std::string path = WriteTempFile("weft-metrics", metrics->body);

  absl::StatusOr<ChildProcess> promtool = ChildProcess::Start(
      {"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\" 2>&1", WEFT_PROMTOOL_PATH, path});
  ASSERT_TRUE(promtool.ok()) << promtool.status();
  std::string output;
  while (true) {
    absl::StatusOr<std::string> line = promtool->ReadLine(kTestTimeout);
    if (!line.ok()) {
      EXPECT_TRUE(absl::IsOutOfRange(line.status())) << line.status();
      break;
    }
    absl::StrAppend(&output, *line, "\n");
  }
  absl::StatusOr<int> status = promtool->Wait(kTestTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << output;
  EXPECT_EQ(output, "");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace weft::testing

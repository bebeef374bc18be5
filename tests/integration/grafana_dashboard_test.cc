// The Grafana dashboard, deploy/grafana/weft-dashboard.json, against a real Prometheus: every
// panel has a Prometheus query, and every query parses.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/prometheus_process.h"
#include "tests/testing/weftd_process.h"
#include "weft/base/log.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::testing {
namespace {

namespace v1 = ::weft::control::v1;
using ::testing::HasSubstr;

// PanelQuery: one target of one panel, its variables substituted.
struct PanelQuery {
  std::string panel;
  std::string expr;
};

Json LoadDashboard() {
  std::ifstream in(WEFT_GRAFANA_DASHBOARD);
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Json> dashboard = JsonParse(text.str());
  CHECK(dashboard.ok()) << WEFT_GRAFANA_DASHBOARD << ": " << dashboard.status();
  return *dashboard;
}

// CollectPanels appends the panels of `panels`, and those nested in collapsed rows, to `out`.
void CollectPanels(const Json& panels, std::vector<const Json*>* out) {
  for (const Json& panel : panels) {
    out->push_back(&panel);
    if (panel.contains("panels")) CollectPanels(panel["panels"], out);
  }
}

// DashboardQueries returns every panel target's expression as Grafana would send it for the
// listener `server` of the job `job`: the dashboard's variables substituted, and
// $__rate_interval at 1m (four times Prometheus's 1 s scrape interval and more, as Grafana
// chooses it).
std::vector<PanelQuery> DashboardQueries(const Json& dashboard, const std::string& server,
                                         const std::string& job) {
  std::vector<const Json*> panels;
  CollectPanels(dashboard["panels"], &panels);
  std::vector<PanelQuery> queries;
  for (const Json* panel : panels) {
    if (!panel->contains("targets")) continue;
    for (const Json& target : (*panel)["targets"]) {
      queries.push_back({(*panel)["title"].get<std::string>(),
                         absl::StrReplaceAll(target.value("expr", ""), {{"$__rate_interval", "1m"},
                                                                        {"${server}", server},
                                                                        {"$server", server},
                                                                        {"${job}", job},
                                                                        {"$job", job}})});
    }
  }
  return queries;
}

TEST(GrafanaDashboardTest, EveryPanelHasAPrometheusQueryOnTheImportedDatasource) {
  const Json dashboard = LoadDashboard();
  std::vector<const Json*> panels;
  CollectPanels(dashboard["panels"], &panels);
  ASSERT_FALSE(panels.empty());
  for (const Json* panel : panels) {
    if ((*panel)["type"] == "row") continue;
    SCOPED_TRACE((*panel)["title"].get<std::string>());
    EXPECT_EQ((*panel)["datasource"]["uid"], "${DS_PROMETHEUS}");
    ASSERT_TRUE(panel->contains("targets"));
    ASSERT_FALSE((*panel)["targets"].empty());
    for (const Json& target : (*panel)["targets"]) {
      EXPECT_THAT(target.value("expr", ""), Not(::testing::IsEmpty()));
    }
  }
  bool has_server_variable = false;
  for (const Json& variable : dashboard["templating"]["list"]) {
    if (variable["name"] == "server") {
      has_server_variable = true;
      EXPECT_THAT(variable["definition"].get<std::string>(),
                  HasSubstr("label_values(weft_connections_active"));
    }
  }
  EXPECT_TRUE(has_server_variable);
  for (const PanelQuery& query : DashboardQueries(dashboard, "echo", "weftd")) {
    EXPECT_FALSE(absl::StrContains(query.expr, "$")) << query.panel << ": " << query.expr;
  }
}

TEST(GrafanaDashboardTest, EveryQueryParses) {
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
      PrometheusProcess::Start({.target = "127.0.0.1:1"});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  for (const PanelQuery& query : DashboardQueries(LoadDashboard(), "echo", "weftd")) {
    absl::StatusOr<Json> response = (*prometheus)->Query(query.expr);
    EXPECT_TRUE(response.ok()) << query.panel << ": " << response.status();
  }
}

// A weftd with its admin endpoint and a Prometheus scraping it, with traffic on every series the
// dashboard charts: connections held and closed, one refused, control RPCs that succeed and one
// that fails. A query "has data" when some sample is a number (histogram_quantile gives NaN
// without observations in the window).
TEST(GrafanaDashboardTest, EveryQueryReturnsDataFromPrometheusScrapingALiveWeftd) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(WEFTD_PATH, R"pb(
    control { address: "127.0.0.1:0" }
    admin { address: "127.0.0.1:0" }
    listeners {
      name: "echo"
      port: 0
      handler { name: "echo" }
      max_connections: 2
    }
  )pb");
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
      PrometheusProcess::Start({.target = absl::StrCat("127.0.0.1:", (*weftd)->admin_port())});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  // The traffic must come after a first scrape: rate() and histogram_quantile() need an
  // increase inside their window.
  absl::StatusOr<Json> up =
      (*prometheus)->WaitFor("up", [](const Json& result) { return SampleValue(result) == 1; });
  ASSERT_TRUE(up.ok()) << up.status() << (*prometheus)->Stderr();

  const std::uint16_t port = (*weftd)->port("echo");
  std::vector<LoopbackClient> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->Echo("ping").ok());
    held.push_back(std::move(*client));
  }
  // Over max_connections: refused (closed at once).
  absl::StatusOr<LoopbackClient> refused = LoopbackClient::Connect(port);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_TRUE(refused->ReadUntilClosed().ok());
  // A connection that ends (peer close): a duration observation and a close by the peer.
  held.pop_back();
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
    return client.ok() && client->Echo("pong").ok();
  }));

  auto stub = v1::Control::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*weftd)->control_port()), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListServersResponse response;
    ASSERT_TRUE(stub->ListServers(&context, v1::ListServersRequest(), &response).ok());
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetServerRequest request;
    request.set_name("no-such-server");
    v1::Server response;
    EXPECT_EQ(stub->GetServer(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }

  // One deadline for all: once the first queries have data, the others have it too.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (const PanelQuery& query : DashboardQueries(LoadDashboard(), "echo", "weftd")) {
    absl::StatusOr<Json> result = (*prometheus)
                                      ->WaitFor(
                                          query.expr,
                                          [](const Json& result) {
                                            for (const Json& sample : result) {
                                              if (!std::isnan(SampleValue(Json::array({sample}))))
                                                return true;
                                            }
                                            return false;
                                          },
                                          std::max(deadline - absl::Now(), absl::Seconds(1)));
    EXPECT_TRUE(result.ok()) << query.panel << ": " << result.status();
  }
}

}  // namespace
}  // namespace weft::testing

// The Grafana dashboard, deploy/grafana/weft-dashboard.json, against a real Prometheus: every
// panel has a Prometheus query, and every query parses.
#include <glog/logging.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/prometheus_process.h"

namespace weft::testing {
namespace {

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

}  // namespace
}  // namespace weft::testing

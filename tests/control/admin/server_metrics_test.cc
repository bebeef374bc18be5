#include "control/admin/server_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/control/admin/exposition_samples.h"

namespace weft::control::admin {
namespace {

namespace v1 = weft::control::v1;
using testing::SampleValue;

std::string Render(const std::vector<ServerSample>& servers) {
  MetricsWriter writer;
  AppendServerMetrics(servers, writer);
  return std::move(writer).Finish();
}

ServerSample Echo() {
  ServerSample sample;
  v1::Server& server = sample.server;
  server.set_name("echo");
  server.set_state(v1::SERVER_STATE_RUNNING);
  server.set_max_connections(100);
  server.set_open_connections(7);
  server.set_active_tasks(5);
  server.set_queued_tasks(2);
  server.set_idle_threads(4);
  server.set_accepted_total(1000);
  server.set_received_bytes_total(123456);
  server.set_sent_bytes_total(654321);
  server.set_stuck_tasks_total(2);
  server.set_draining(false);
  v1::RefusalCount* refusal = server.add_refused_by_reason();
  refusal->set_reason(v1::REFUSAL_REASON_MANAGER_FULL);
  refusal->set_count(3);
  v1::CloseCount* close = server.add_closed_by_initiator();
  close->set_initiator(v1::CLOSE_INITIATOR_PEER);
  close->set_count(990);
  close = server.add_closed_by_initiator();
  close->set_initiator(v1::CLOSE_INITIATOR_IDLE_TIMEOUT);
  close->set_count(3);
  sample.connection_durations.upper_bounds = {0.5, 60};
  sample.connection_durations.counts = {900, 90, 3};
  sample.connection_durations.sum = 4000.25;
  sample.connection_durations.count = 993;
  return sample;
}

TEST(ServerMetricsTest, RendersEveryMetricOfOneServerExactly) {
  EXPECT_EQ(
      Render({Echo()}),
      R"(# HELP weft_connections_accepted_total Connections handed to the task manager since the process started.
# TYPE weft_connections_accepted_total counter
weft_connections_accepted_total{server="echo"} 1000
# HELP weft_connections_active Connections open now, running or queued.
# TYPE weft_connections_active gauge
weft_connections_active{server="echo"} 7
# HELP weft_connections_limit The connection limit: the task manager's limit, else max_connections; 0 = no limit.
# TYPE weft_connections_limit gauge
weft_connections_limit{server="echo"} 100
# HELP weft_connections_rejected_total Connections accepted and closed at once since the process started, by reason.
# TYPE weft_connections_rejected_total counter
weft_connections_rejected_total{server="echo",reason="max_connections"} 0
weft_connections_rejected_total{server="echo",reason="manager_full"} 3
weft_connections_rejected_total{server="echo",reason="descriptors_exhausted"} 0
weft_connections_rejected_total{server="echo",reason="stopping"} 0
weft_connections_rejected_total{server="echo",reason="descriptor_budget"} 0
# HELP weft_connections_closed_total Connections closed since the process started, by who ended them.
# TYPE weft_connections_closed_total counter
weft_connections_closed_total{server="echo",initiator="peer"} 990
weft_connections_closed_total{server="echo",initiator="idle_timeout"} 3
weft_connections_closed_total{server="echo",initiator="max_lifetime"} 0
weft_connections_closed_total{server="echo",initiator="stop"} 0
weft_connections_closed_total{server="echo",initiator="forced"} 0
weft_connections_closed_total{server="echo",initiator="handler"} 0
# HELP weft_received_bytes_total Bytes read from clients since the process started.
# TYPE weft_received_bytes_total counter
weft_received_bytes_total{server="echo"} 123456
# HELP weft_sent_bytes_total Bytes written to clients since the process started.
# TYPE weft_sent_bytes_total counter
weft_sent_bytes_total{server="echo"} 654321
# HELP weft_tasks_stuck_total Tasks still running when the grace of a stop ran out (they ignored their stop flag) since the process started.
# TYPE weft_tasks_stuck_total counter
weft_tasks_stuck_total{server="echo"} 2
# HELP weft_connection_duration_seconds How long closed connections were open, in seconds.
# TYPE weft_connection_duration_seconds histogram
weft_connection_duration_seconds_bucket{server="echo",le="0.5"} 900
weft_connection_duration_seconds_bucket{server="echo",le="60"} 990
weft_connection_duration_seconds_bucket{server="echo",le="+Inf"} 993
weft_connection_duration_seconds_sum{server="echo"} 4000.25
weft_connection_duration_seconds_count{server="echo"} 993
# HELP weft_listener_accepting 1 while the server accepts connections, else 0.
# TYPE weft_listener_accepting gauge
weft_listener_accepting{server="echo"} 1
# HELP weft_server_draining 1 while a stop waits for the server's tasks to end, else 0.
# TYPE weft_server_draining gauge
weft_server_draining{server="echo"} 0
# HELP weft_tasks_queued Tasks waiting for the task manager now.
# TYPE weft_tasks_queued gauge
weft_tasks_queued{server="echo"} 2
# HELP weft_tasks_running Tasks running now.
# TYPE weft_tasks_running gauge
weft_tasks_running{server="echo"} 5
# HELP weft_task_threads_idle Task manager threads waiting for their next connection now.
# TYPE weft_task_threads_idle gauge
weft_task_threads_idle{server="echo"} 4
)");
}

TEST(ServerMetricsTest, ManagerLimitTakesPrecedenceOverMaxConnections) {
  ServerSample sample = Echo();
  sample.server.mutable_manager()->set_limit(16);
  EXPECT_EQ(SampleValue(Render({sample}), R"(weft_connections_limit{server="echo"})"), 16);
  sample.server.mutable_manager()->set_limit(0);
  sample.server.set_max_connections(0);
  EXPECT_EQ(SampleValue(Render({sample}), R"(weft_connections_limit{server="echo"})"), 0);
}

TEST(ServerMetricsTest, StateAndDrainingBecomeZeroOrOne) {
  ServerSample sample = Echo();
  sample.server.set_state(v1::SERVER_STATE_NOT_ACCEPTING);
  sample.server.set_draining(true);
  const std::string text = Render({sample});
  EXPECT_EQ(SampleValue(text, R"(weft_listener_accepting{server="echo"})"), 0);
  EXPECT_EQ(SampleValue(text, R"(weft_server_draining{server="echo"})"), 1);
}

TEST(ServerMetricsTest, KeepsEachFamilyContiguousAcrossServers) {
  ServerSample other = Echo();
  other.server.set_name("web");
  other.server.set_accepted_total(5);
  const std::string text = Render({Echo(), other});
  EXPECT_NE(text.find("weft_connections_accepted_total{server=\"echo\"} 1000\n"
                      "weft_connections_accepted_total{server=\"web\"} 5\n"
                      "# HELP weft_connections_active"),
            std::string::npos)
      << text;
  EXPECT_EQ(SampleValue(text, R"(weft_tasks_running{server="web"})"), 5);
}

TEST(ServerMetricsTest, NoServersRenderNothing) { EXPECT_EQ(Render({}), ""); }

TEST(ServerMetricsTest, BuildInfoIsOneLabelledWithTheVersion) {
  MetricsWriter writer;
  AppendBuildInfo("1.2.3", writer);
  EXPECT_EQ(std::move(writer).Finish(),
            "# HELP weft_build_info Always 1; the label says which version of weftd is running.\n"
            "# TYPE weft_build_info gauge\n"
            "weft_build_info{version=\"1.2.3\"} 1\n");
}

TEST(ServerMetricsTest, ProcessStateIsTwoUnlabelledGauges) {
  MetricsWriter writer;
  AppendProcessStateMetrics(3, true, writer);
  const std::string text = std::move(writer).Finish();
  EXPECT_NE(text.find("# TYPE weft_process_generation gauge\nweft_process_generation 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE weft_process_draining gauge\nweft_process_draining 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP weft_process_generation Hand-off generation"), std::string::npos)
      << text;

  MetricsWriter serving;
  AppendProcessStateMetrics(1, false, serving);
  EXPECT_NE(std::move(serving).Finish().find("weft_process_draining 0\n"), std::string::npos);
}

}  // namespace
}  // namespace weft::control::admin

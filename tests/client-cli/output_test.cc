#include "client-cli/output.h"

#include "client-cli/audit.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/json_samples.h"

namespace weft::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Server SampleServer() {
  v1::Server server;
  server.set_name("echo");
  server.set_address("127.0.0.1");
  server.set_port(7007);
  server.set_state(v1::SERVER_STATE_RUNNING);
  server.set_handler("echo");
  server.mutable_manager()->set_kind(v1::MANAGER_KIND_THREADED);
  server.set_max_connections(100);
  server.set_active_tasks(2);
  server.set_queued_tasks(1);
  server.set_open_connections(3);
  server.set_accepted_total(42);
  server.set_refused_total(5);
  server.set_failed_total(1);
  server.mutable_start_time()->set_seconds(1000);
  server.mutable_drain_timeout()->set_seconds(30);
  return server;
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"NAME", "ADDRESS", "STATE"});
  table.AddRow({"echo", "127.0.0.1:7007", "running"});
  table.AddRow({"a-much-longer-name", "[::1]:1", ""});
  EXPECT_EQ(table.Render(),
            "NAME                 ADDRESS          STATE\n"
            "echo                 127.0.0.1:7007   running\n"
            "a-much-longer-name   [::1]:1\n");
}

TEST(TableTest, PadsMissingCellsAndNeutralisesControlBytes) {
  Table table({"A", "B"});
  table.AddRow({"\x1b[2Jevil"});
  EXPECT_EQ(table.Render(), "A             B\n\\x1b[2Jevil\n");
  EXPECT_FALSE(table.empty());
}

TEST(FormatTest, DurationsAreShort) {
  EXPECT_EQ(FormatDurationShort(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatDurationShort(-absl::Seconds(3)), "0s");
  EXPECT_EQ(FormatDurationShort(absl::Microseconds(300)), "0ms");
  EXPECT_EQ(FormatDurationShort(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(FormatDurationShort(absl::Milliseconds(4290)), "4.2s");
  EXPECT_EQ(FormatDurationShort(absl::Seconds(59)), "59s");
  EXPECT_EQ(FormatDurationShort(absl::Seconds(187)), "3m07s");
  EXPECT_EQ(FormatDurationShort(absl::Minutes(125)), "2h05m");
  EXPECT_EQ(FormatDurationShort(absl::Hours(76)), "3d04h");
}

TEST(FormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(1023), "1023B");
  EXPECT_EQ(FormatBytes(1536), "1.5KiB");
  EXPECT_EQ(FormatBytes(10 * 1024 - 1), "9.9KiB");
  EXPECT_EQ(FormatBytes(20 * 1024 * 1024), "20MiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16EiB");
}

TEST(FormatTest, EndpointsBracketIpv6) {
  EXPECT_EQ(FormatEndpoint("127.0.0.1", 7007), "127.0.0.1:7007");
  EXPECT_EQ(FormatEndpoint("::1", 7007), "[::1]:7007");
  EXPECT_EQ(FormatEndpoint("localhost", 0), "localhost:0");
}

TEST(FormatTest, LimitCellPrefersTheManagersLimit) {
  v1::Server server = SampleServer();
  EXPECT_EQ(LimitCell(server), "2/1/100");
  server.mutable_manager()->set_limit(8);
  EXPECT_EQ(LimitCell(server), "2/1/8");
  server.mutable_manager()->set_limit(0);
  server.set_max_connections(0);
  EXPECT_EQ(LimitCell(server), "2/1/-");
}

TEST(FormatTest, StateNames) {
  EXPECT_EQ(ServerStateName(v1::SERVER_STATE_NOT_ACCEPTING), "not-accepting");
  EXPECT_EQ(ServerStateName(v1::SERVER_STATE_UNSPECIFIED), "unknown");
  EXPECT_EQ(TaskStateName(v1::TASK_STATE_STOPPING), "stopping");
  EXPECT_EQ(ManagerKindName(v1::MANAGER_KIND_POOL), "pool");
  EXPECT_EQ(ManagerKindName(v1::MANAGER_KIND_FIBER), "fiber");
  EXPECT_EQ(EventTypeName(v1::EVENT_TYPE_CONNECTION_REFUSED), "connection-refused");
  EXPECT_EQ(RefusalReasonName(v1::REFUSAL_REASON_MANAGER_FULL), "manager-full");
  EXPECT_EQ(ServerStateName(static_cast<v1::ServerState>(99)), "unknown");
}

TEST(ServerRowTest, TableAndWide) {
  const v1::Server server = SampleServer();
  const absl::Time now = absl::FromUnixSeconds(1000 + 65);
  EXPECT_THAT(ServerRow(server, false, now),
              ::testing::ElementsAre("echo", "127.0.0.1:7007", "running", "2/1/100", "42", "5"));
  EXPECT_EQ(ServerHeaders(false).size(), ServerRow(server, false, now).size());
  const std::vector<std::string> wide = ServerRow(server, true, now);
  EXPECT_EQ(ServerHeaders(true).size(), wide.size());
  EXPECT_THAT(wide, ::testing::ElementsAre("echo", "127.0.0.1:7007", "running", "2/1/100", "42",
                                           "5", "3", "1", "echo", "threaded", "100", "1m05s"));
}

TEST(TaskRowTest, TableAndWide) {
  v1::Task task;
  task.set_id(9);
  task.set_server("echo");
  task.set_state(v1::TASK_STATE_RUNNING);
  task.set_peer("127.0.0.1:5555");
  task.mutable_age()->set_seconds(75);
  task.mutable_idle()->set_nanos(250000000);
  task.set_bytes_in(10);
  task.set_bytes_out(20);
  task.mutable_create_time()->set_seconds(0);
  EXPECT_THAT(TaskRow(task, false), ::testing::ElementsAre("echo", "9", "127.0.0.1:5555", "running",
                                                           "1m15s", "250ms", "10", "20"));
  const std::vector<std::string> wide = TaskRow(task, true);
  ASSERT_EQ(wide.size(), TaskHeaders(true).size());
  EXPECT_EQ(wide[8], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(wide[9], "-");
  task.set_state(v1::TASK_STATE_STOPPING);
  task.set_stuck(true);
  EXPECT_EQ(TaskRow(task, false)[3], "stuck") << "a stuck task says so in STATE";
}

TEST(ServerDetailsTest, OneLinePerField) {
  const std::string details = ServerDetails(SampleServer(), absl::FromUnixSeconds(1010));
  EXPECT_THAT(details, HasSubstr("name:              echo\n"));
  EXPECT_THAT(details, HasSubstr("address:           127.0.0.1:7007\n"));
  EXPECT_THAT(details, HasSubstr("manager:           threaded (limit none, max queued 0)\n"));
  EXPECT_THAT(details, HasSubstr("max connections:   100\n"));
  EXPECT_THAT(details, HasSubstr("started:           1970-01-01T00:16:40.000Z (10s ago)\n"));
  EXPECT_THAT(details, HasSubstr("idle timeout:      none\n"));
  EXPECT_THAT(details, HasSubstr("drain timeout:     30s\n"));
}

TEST(ServerDetailsTest, RefusalsAreBrokenDownByReason) {
  v1::Server server = SampleServer();  // refused_total 5
  v1::RefusalCount* budget = server.add_refused_by_reason();
  budget->set_reason(v1::REFUSAL_REASON_DESCRIPTOR_BUDGET);
  budget->set_count(3);
  v1::RefusalCount* full = server.add_refused_by_reason();
  full->set_reason(v1::REFUSAL_REASON_MANAGER_FULL);
  full->set_count(2);
  EXPECT_THAT(ServerDetails(server, absl::FromUnixSeconds(1010)),
              HasSubstr("refused:           5 (descriptor-budget 3, manager-full 2)\n"));
  EXPECT_THAT(ServerDetails(SampleServer(), absl::FromUnixSeconds(1010)),
              HasSubstr("refused:           5\n"));
}

TEST(ProcessRowsTest, TheAnsweringProcessAloneWithoutAHandOff) {
  v1::Process process;
  process.set_pid(4242);
  process.mutable_start_time()->set_seconds(1000);
  process.set_generation(1);
  process.set_state(v1::PROCESS_STATE_SERVING);
  EXPECT_THAT(ProcessHeaders(),
              ::testing::ElementsAre("ROLE", "PID", "STARTED", "GENERATION", "STATE"));
  const std::vector<std::vector<std::string>> rows =
      ProcessRows(process, absl::FromUnixSeconds(1185));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0], ::testing::ElementsAre(
                           "this", "4242", "1970-01-01T00:16:40.000Z (3m05s ago)", "1", "serving"));
}

TEST(ProcessRowsTest, ThePeerFollowsDuringAHandOff) {
  v1::Process process;
  process.set_pid(20);
  process.mutable_start_time()->set_seconds(2000);
  process.set_generation(3);
  process.set_state(v1::PROCESS_STATE_DRAINING);
  v1::ProcessPeer* peer = process.mutable_peer();
  peer->set_role(v1::PEER_ROLE_SUCCESSOR);
  peer->set_pid(21);
  peer->mutable_start_time()->set_seconds(2050);
  peer->set_generation(4);
  peer->set_state(v1::PROCESS_STATE_SERVING);
  std::vector<std::vector<std::string>> rows = ProcessRows(process, absl::FromUnixSeconds(2060));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_THAT(rows[0], ::testing::ElementsAre("this", "20", "1970-01-01T00:33:20.000Z (1m00s ago)",
                                              "3", "draining"));
  EXPECT_THAT(rows[1],
              ::testing::ElementsAre("successor", "21", "1970-01-01T00:34:10.000Z (10s ago)", "4",
                                     "serving"));
  peer->set_role(v1::PEER_ROLE_PREDECESSOR);
  peer->set_state(v1::PROCESS_STATE_UNSPECIFIED);
  rows = ProcessRows(process, absl::FromUnixSeconds(2060));
  EXPECT_EQ(rows[1][0], "predecessor");
  EXPECT_EQ(rows[1][4], "unknown");
}

TEST(EventLineTest, NamesTheEventAndItsDetails) {
  v1::Event event;
  event.set_sequence(4);
  event.mutable_time()->set_seconds(3661);
  event.mutable_time()->set_nanos(5000000);
  event.set_server("echo");
  event.set_type(v1::EVENT_TYPE_TASK_ADDED);
  event.set_task_id(12);
  event.set_peer("127.0.0.1:4000");
  EXPECT_EQ(EventLine(event, false, absl::UTCTimeZone()),
            "01:01:01.005  echo          task-added          task=12 peer=127.0.0.1:4000");
  EXPECT_EQ(EventLine(event, true, absl::UTCTimeZone()),
            "#4 1970-01-01T01:01:01.005000+00:00  echo          task-added          task=12 "
            "peer=127.0.0.1:4000");

  v1::Event refused;
  refused.set_server("web");
  refused.set_type(v1::EVENT_TYPE_CONNECTION_REFUSED);
  refused.set_peer("[::1]:9");
  refused.set_refusal_reason(v1::REFUSAL_REASON_MAX_CONNECTIONS);
  EXPECT_THAT(EventLine(refused, false, absl::UTCTimeZone()),
              HasSubstr("connection-refused  peer=[::1]:9 reason=max-connections"));

  v1::Event dropped;
  dropped.set_type(v1::EVENT_TYPE_EVENTS_DROPPED);
  dropped.set_dropped_events(17);
  EXPECT_THAT(EventLine(dropped, false, absl::UTCTimeZone()),
              HasSubstr("  -             events-dropped      dropped=17"));

  v1::Event state;
  state.set_server("web");
  state.set_type(v1::EVENT_TYPE_SERVER_STATE_CHANGED);
  state.set_server_state(v1::SERVER_STATE_STOPPED);
  EXPECT_THAT(EventLine(state, false, absl::UTCTimeZone()),
              HasSubstr("state-changed       state=stopped"));

  v1::Event stuck;
  stuck.set_server("web");
  stuck.set_type(v1::EVENT_TYPE_TASK_STUCK);
  stuck.set_task_id(7);
  stuck.set_peer("10.0.0.1:80");
  stuck.mutable_stuck_for()->set_seconds(5);
  EXPECT_THAT(EventLine(stuck, false, absl::UTCTimeZone()),
              HasSubstr("task-stuck          task=7 peer=10.0.0.1:80 stuck-for=5.0s"));

  v1::Event drain;
  drain.set_server("web");
  drain.set_type(v1::EVENT_TYPE_DRAIN_PROGRESS);
  v1::DrainProgress* progress = drain.mutable_drain_progress();
  progress->set_remaining_tasks(3);
  progress->set_cooperative_tasks(5);
  progress->set_forced_tasks(1);
  progress->mutable_elapsed()->set_seconds(2);
  progress->mutable_timeout()->set_seconds(30);
  progress->set_done(true);
  EXPECT_THAT(EventLine(drain, false, absl::UTCTimeZone()),
              HasSubstr("drain-progress      remaining=3 cooperative=5 forced=1 dropped=0 "
                        "elapsed=2.0s/30s done"));
}

TEST(JsonTest, MessagesUseLowerCamelCaseAndPrintZeroFields) {
  v1::Server server;
  server.set_name("echo");
  const std::string json = MessageJson(server);
  EXPECT_THAT(json, HasSubstr("\"name\":\"echo\""));
  EXPECT_THAT(json, HasSubstr("\"activeTasks\":0"));
  EXPECT_THAT(json, HasSubstr("\"acceptedTotal\":\"0\""));
  EXPECT_THAT(json, HasSubstr("\"state\":\"SERVER_STATE_UNSPECIFIED\""));
  EXPECT_THAT(json, Not(HasSubstr("active_tasks")));
  EXPECT_THAT(json, Not(HasSubstr("\n")));
}

TEST(JsonTest, DocumentHoldsOneEntryPerTarget) {
  JsonDocument document;
  document.Add("127.0.0.1:1", "servers",
               Json::array({Json{{"name", "a"}}, Json{{"name", "b"}}}));
  document.AddError("127.0.0.1:2", absl::NotFoundError("server \"x\" not found"));
  const std::string rendered = document.Render();
  EXPECT_EQ(rendered,
            "{\"targets\":[{\"target\":\"127.0.0.1:1\",\"servers\":[{\"name\":\"a\"},"
            "{\"name\":\"b\"}]},{\"target\":\"127.0.0.1:2\",\"error\":{\"code\":\"NOT_FOUND\","
            "\"message\":\"server \\\"x\\\" not found\"}}]}\n");
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(rendered, &parsed).ok());
  EXPECT_EQ(JsonDocument().Render(), "{\"targets\":[]}\n");
}

TEST(JsonTest, DocumentsAndMessagesCarryEveryStringUnchanged) {
  for (const std::string& sample : weft::testing::JsonRoundTripSamples()) {
    v1::Server server;
    server.set_name(sample);
    JsonDocument document;
    document.Add(sample, "server", MessageToJson(server));
    document.AddError("t", absl::InternalError(sample));
    const std::string rendered = document.Render();
    ASSERT_EQ(rendered.find('\n'), rendered.size() - 1) << rendered;
    absl::StatusOr<Json> parsed = JsonParse(rendered);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << " for " << rendered;
    const Json& targets = (*parsed)["targets"];
    EXPECT_EQ(targets[0]["target"].get<std::string>(), sample);
    EXPECT_EQ(targets[0]["server"]["name"].get<std::string>(), sample);
    EXPECT_EQ(targets[1]["error"]["message"].get<std::string>(), sample);
  }
}

TEST(AuditRowTest, ShowsEachColumnAndADashForWhatIsMissing) {
  v1::AuditRecord record;
  record.mutable_time()->set_seconds(1'800'000'000);
  record.mutable_time()->set_nanos(42'000'000);
  record.set_method("ListServers");
  record.set_peer("ipv4:127.0.0.1:5000");
  record.set_code("UNAUTHENTICATED");
  record.mutable_duration()->set_nanos(3'000'000);
  EXPECT_THAT(AuditHeaders(), ::testing::ElementsAre("TIME", "METHOD", "RESOURCE", "CALLER",
                                                     "ROLE", "PEER", "CODE", "DURATION"));
  EXPECT_THAT(AuditRow(record),
              ::testing::ElementsAre("2027-01-15T08:00:00.042Z", "ListServers", "-", "-", "-",
                                     "ipv4:127.0.0.1:5000", "UNAUTHENTICATED", "3ms"));
  record.set_resource("servers/echo/tasks/7");
  record.set_caller("alice");
  record.set_role("operator");
  EXPECT_EQ(AuditRow(record)[2], "servers/echo/tasks/7");
  EXPECT_EQ(AuditRow(record)[3], "alice");
  EXPECT_EQ(AuditRow(record)[4], "operator");
}

TEST(TerminalSafeTest, EscapesControlBytesOnly) {
  EXPECT_EQ(TerminalSafe("ok caf\xc3\xa9"), "ok caf\xc3\xa9");
  EXPECT_EQ(TerminalSafe("\x1b]0;x\x07\x7f"), "\\x1b]0;x\\x07\\x7f");
}

}  // namespace
}  // namespace weft::cli

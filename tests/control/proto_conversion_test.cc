// Tests of the library-to-proto conversions on a real weft::Server: the traffic totals, closes
// by initiator and draining that GetServer and the metrics endpoint report.
#include "control/proto_conversion.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/server_set.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/sync.h"
#include "weft/server.h"

namespace weft::control {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

constexpr absl::Duration kPrompt = absl::Seconds(3);

// Managed wraps a server on 127.0.0.1, port 0, running `handler`.
ManagedServer Managed(Handler handler) {
  ServerOptions options;
  options.handler = std::move(handler);
  ManagedServer managed;
  managed.name = "test";
  managed.handler = "test";
  managed.server = std::make_unique<Server>(std::move(options));
  return managed;
}

// EchoOrQuit echoes until end of stream, but returns at once if the first byte is 'q'.
void EchoOrQuit(Connection& connection, const HandlerArgs&) {
  char buffer[4096];
  bool first = true;
  while (true) {
    absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
    if (!n.ok() || *n == 0) return;
    if (first && buffer[0] == 'q') return;
    first = false;
    if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
  }
}

TEST(TaskToProtoTest, FillsTheStopRequestTimeAndStuckOnlyOnceAStopAsked) {
  TaskInfo task;
  task.id = 42;
  task.state = TaskState::kStopping;
  task.peer = "10.0.0.1:80";
  task.created = absl::FromUnixSeconds(1000);
  v1::Task fresh = TaskToProto(task, "echo");
  EXPECT_FALSE(fresh.has_stop_request_time());
  EXPECT_FALSE(fresh.stuck());

  task.stop_requested = absl::FromUnixSeconds(2000);
  task.stuck = true;
  const v1::Task stopped = TaskToProto(task, "echo");
  EXPECT_EQ(stopped.id(), 42u);
  EXPECT_EQ(stopped.server(), "echo");
  EXPECT_EQ(stopped.stop_request_time().seconds(), 2000);
  EXPECT_TRUE(stopped.stuck());
}

TEST(ServerToProtoTest, FillsTrafficTotalsAndNonZeroClosesInEnumOrder) {
  ManagedServer managed = Managed(EchoOrQuit);
  Server& server = *managed.server;
  ASSERT_TRUE(server.Run().ok());

  absl::StatusOr<LoopbackClient> echoed = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  absl::StatusOr<std::string> reply = echoed->Echo(std::string(1000, 'e'), kPrompt);
  ASSERT_TRUE(reply.ok()) << reply.status();
  echoed->Close();  // Peer.
  absl::StatusOr<LoopbackClient> quitter = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(quitter.ok()) << quitter.status();
  ASSERT_TRUE(quitter->Send("q").ok());  // The handler returns on its own.
  ASSERT_TRUE(quitter->ReadUntilClosed(kPrompt).ok());

  ASSERT_TRUE(
      WaitUntil([&] { return ServerToProto(managed).closed_by_initiator_size() == 2; }, kPrompt));
  const v1::Server proto = ServerToProto(managed);
  EXPECT_EQ(proto.received_bytes_total(), 1001u);
  EXPECT_EQ(proto.sent_bytes_total(), 1000u);
  EXPECT_EQ(proto.closed_by_initiator(0).initiator(), v1::CLOSE_INITIATOR_PEER);
  EXPECT_EQ(proto.closed_by_initiator(0).count(), 1u);
  EXPECT_EQ(proto.closed_by_initiator(1).initiator(), v1::CLOSE_INITIATOR_HANDLER);
  EXPECT_EQ(proto.closed_by_initiator(1).count(), 1u);
  EXPECT_FALSE(proto.draining());
}

TEST(ServerToProtoTest, ReportsReusePortAsConfigured) {
  EXPECT_FALSE(ServerToProto(Managed(EchoOrQuit)).reuse_port());
  ServerOptions options;
  options.handler = EchoOrQuit;
  options.reuse_port = true;
  ManagedServer managed;
  managed.name = "shared";
  managed.server = std::make_unique<Server>(std::move(options));
  EXPECT_TRUE(ServerToProto(managed).reuse_port());
}

TEST(ServerToProtoTest, ReportsDrainingWhileStopWaitsForATask) {
  Notification holding;
  Notification release;
  ManagedServer managed = Managed([&](Connection&, const HandlerArgs&) {
    holding.Notify();
    release.WaitForNotificationWithTimeout(kPrompt);  // Holds Stop until the test has looked.
  });
  Server& server = *managed.server;
  ASSERT_TRUE(server.Run().ok());
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_FALSE(ServerToProto(managed).draining());

  std::thread stopper([&] { server.Stop(2 * kPrompt); });
  const bool draining = WaitUntil([&] { return ServerToProto(managed).draining(); }, kPrompt);
  release.Notify();
  stopper.join();
  EXPECT_TRUE(draining);
  const v1::Server stopped = ServerToProto(managed);
  EXPECT_FALSE(stopped.draining());
  ASSERT_EQ(stopped.closed_by_initiator_size(), 1);
  EXPECT_EQ(stopped.closed_by_initiator(0).initiator(), v1::CLOSE_INITIATOR_STOP);
}

TEST(TaskToProtoTest, CarriesTheStopRequestAndStuckOnlyWhenSet) {
  TaskInfo task;
  task.id = 3;
  EXPECT_FALSE(TaskToProto(task, "echo").has_stop_request_time());
  EXPECT_FALSE(TaskToProto(task, "echo").stuck());
  task.stop_requested = absl::FromUnixSeconds(100);
  task.stuck = true;
  const v1::Task proto = TaskToProto(task, "echo");
  EXPECT_EQ(proto.stop_request_time().seconds(), 100);
  EXPECT_TRUE(proto.stuck());
}

TEST(EventToProtoTest, RendersStuckTasksAndDrainProgress) {
  ServerEvent stuck{.kind = ServerEvent::Kind::kTaskStuck};
  stuck.task_id = 7;
  stuck.peer = Endpoint{"10.0.0.1", 80};
  stuck.stuck_for = absl::Seconds(6);
  v1::Event event = EventToProto(NamedEvent{"echo", stuck});
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_TASK_STUCK);
  EXPECT_EQ(event.task_id(), 7u);
  EXPECT_EQ(event.peer(), "10.0.0.1:80");
  EXPECT_EQ(event.stuck_for().seconds(), 6);
  EXPECT_FALSE(event.has_drain_progress());

  ServerEvent drain{.kind = ServerEvent::Kind::kDrainProgress};
  drain.drain = StopProgress{.remaining = 2,
                             .cooperative = 5,
                             .forced = 1,
                             .dropped = 3,
                             .elapsed = absl::Seconds(4),
                             .grace = absl::Seconds(30),
                             .done = false};
  event = EventToProto(NamedEvent{"echo", drain});
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_DRAIN_PROGRESS);
  EXPECT_EQ(event.drain_progress().remaining_tasks(), 2u);
  EXPECT_EQ(event.drain_progress().cooperative_tasks(), 5u);
  EXPECT_EQ(event.drain_progress().forced_tasks(), 1u);
  EXPECT_EQ(event.drain_progress().dropped_tasks(), 3u);
  EXPECT_EQ(event.drain_progress().elapsed().seconds(), 4);
  EXPECT_EQ(event.drain_progress().timeout().seconds(), 30);
  EXPECT_FALSE(event.drain_progress().done());
  EXPECT_FALSE(event.has_stuck_for());
}

}  // namespace
}  // namespace weft::control

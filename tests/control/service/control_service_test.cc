// The Control service in-process: a real gRPC server on 127.0.0.1:0 in front of real listeners.
#include "control/control_service.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/control_plane.h"
#include "control/event_hub.h"
#include "control/fanout_observer.h"
#include "control/health_reporter.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/control/service/service_harness.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/log.h"
#include "weft/base/proto_time.h"
#include "weft/base/sync.h"
#include "weft/base/version.h"
#include "weft/control/v1/control.grpc.pb.h"
#include "weft/threaded_task_manager.h"

namespace weft::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::weft::testing::AddRunningServer;
using ::weft::testing::EchoUntilEof;
using ::weft::testing::ServeControl;
using ::weft::testing::ServedControl;
using ::weft::testing::kTestTimeout;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// IgnoreShutdown: waits on the raw descriptor, deaf to the shutdown flag and to the read side's
// shutdown that a stop request brings (POLLIN): only a forced shutdown of both sides (POLLHUP)
// or a reset wakes it.
void IgnoreShutdown(Connection& connection, const HandlerArgs&) {
  pollfd p{connection.fd(), 0, 0};
  ::poll(&p, 1, -1);
}

std::string WriteTokenFile(const std::string& dir, const std::string& name,
                           const std::string& token) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << token << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

class ControlServiceTest : public ::testing::Test {
 protected:
  // Listeners: "echo" (unlimited), "limited" (threaded, limit 1, queue 4), "deaf" (ignores
  // shutdown). Tokens, when `with_tokens`, are "viewer-secret" and "operator-secret".
  void Start(bool with_tokens) {
    AddListener("echo", EchoUntilEof, std::make_unique<ThreadedTaskManager>());
    AddListener("limited", EchoUntilEof,
                std::make_unique<ThreadedTaskManager>(
                    ThreadedTaskManagerOptions{.limit = 1, .max_queued = 4}));
    AddListener("deaf", IgnoreShutdown, std::make_unique<ThreadedTaskManager>());
    if (with_tokens) {
      char dir_template[] = "/tmp/weft-tokens-XXXXXX";
      ASSERT_NE(::mkdtemp(dir_template), nullptr);
      token_dir_ = dir_template;
      absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Load(
          {{Role::kViewer, WriteTokenFile(token_dir_, "viewer", "viewer-secret")},
           {Role::kOperator, WriteTokenFile(token_dir_, "operator", "operator-secret")}});
      ASSERT_TRUE(auth.ok()) << auth.status();
      auth_ = std::move(*auth);
    } else {
      auth_ = Authenticator::Open();
    }
    absl::StatusOr<ServedControl> served =
        ServeControl(&servers_, &events_, auth_.get(), &process_, &health_);
    ASSERT_TRUE(served.ok()) << served.status();
    control_ = std::move(*served);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", control_.plane->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Control::NewStub(channel_);
  }

  void AddListener(const std::string& name, Handler handler, TaskManagerPtr manager) {
    ServerOptions options;
    options.handler = std::move(handler);
    options.manager = std::move(manager);
    options.stop_grace = absl::Seconds(5);
    options.observer = std::make_shared<FanoutObserver>(std::vector<std::shared_ptr<ServerObserver>>{
        events_.ObserverFor(name), health_.ObserverFor(name)});
    ASSERT_TRUE(AddRunningServer(servers_, name, std::move(options)).ok());
  }

  void TearDown() override {
    control_.plane.reset();
    for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
    if (!token_dir_.empty()) {
      std::remove((token_dir_ + "/viewer").c_str());
      std::remove((token_dir_ + "/operator").c_str());
      ::rmdir(token_dir_.c_str());
    }
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  std::uint16_t PortOf(const std::string& name) { return servers_.Find(name)->server->port(); }

  v1::Server Get(const std::string& name) {
    v1::GetServerRequest request;
    request.set_name(name);
    v1::Server server;
    EXPECT_TRUE(stub_->GetServer(Context().get(), request, &server).ok());
    return server;
  }

  std::vector<v1::Task> Tasks(const std::string& server) {
    v1::ListTasksRequest request;
    request.set_server(server);
    v1::ListTasksResponse response;
    EXPECT_TRUE(stub_->ListTasks(Context().get(), request, &response).ok());
    return {response.tasks().begin(), response.tasks().end()};
  }

  // ConnectAndEcho opens a client on `server` and proves it is being served.
  LoopbackClient ConnectAndEcho(const std::string& server, const std::string& payload = "ping") {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(PortOf(server));
    CHECK(client.ok()) << client.status();
    absl::StatusOr<std::string> echo = client->Echo(payload);
    CHECK(echo.ok() && *echo == payload) << echo.status();
    return std::move(*client);
  }

  EventHub events_{/*capacity=*/256, /*max_subscribers=*/16};
  HealthReporter health_;
  ServerSet servers_;
  ProcessInfo process_;
  std::unique_ptr<Authenticator> auth_;
  ServedControl control_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> stub_;
  std::string token_dir_;
};

TEST_F(ControlServiceTest, ListServersDescribesEveryListenerInNameOrder) {
  Start(false);
  v1::ListServersResponse response;
  ASSERT_TRUE(stub_->ListServers(Context().get(), {}, &response).ok());
  ASSERT_EQ(response.servers_size(), 3);
  EXPECT_EQ(response.servers(0).name(), "deaf");
  EXPECT_EQ(response.servers(1).name(), "echo");
  EXPECT_EQ(response.servers(2).name(), "limited");
  const v1::Server& limited = response.servers(2);
  EXPECT_EQ(limited.state(), v1::SERVER_STATE_RUNNING);
  EXPECT_EQ(limited.address(), "127.0.0.1");
  EXPECT_EQ(limited.port(), PortOf("limited"));
  EXPECT_NE(limited.port(), 0u);
  EXPECT_EQ(limited.handler(), "test-limited");
  EXPECT_EQ(limited.manager().kind(), v1::MANAGER_KIND_THREADED);
  EXPECT_EQ(limited.manager().limit(), 1u);
  EXPECT_EQ(limited.manager().max_queued(), 4u);
  EXPECT_TRUE(limited.has_start_time());
  EXPECT_EQ(limited.drain_timeout().seconds(), 5);
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_F(ControlServiceTest, ListServersPagesWithOpaqueTokensAndRejectsForgedOnes) {
  Start(false);
  v1::ListServersRequest request;
  request.set_page_size(2);
  v1::ListServersResponse first;
  ASSERT_TRUE(stub_->ListServers(Context().get(), request, &first).ok());
  ASSERT_EQ(first.servers_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  v1::ListServersResponse second;
  ASSERT_TRUE(stub_->ListServers(Context().get(), request, &second).ok());
  ASSERT_EQ(second.servers_size(), 1);
  EXPECT_EQ(second.servers(0).name(), "limited");
  EXPECT_TRUE(second.next_page_token().empty());

  request.set_page_token("not-a-token!");
  v1::ListServersResponse ignored;
  EXPECT_EQ(stub_->ListServers(Context().get(), request, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_page_token();
  request.set_page_size(-1);
  EXPECT_EQ(stub_->ListServers(Context().get(), request, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlServiceTest, UnknownServersAreNotFoundAndMissingNamesInvalid) {
  Start(false);
  v1::GetServerRequest request;
  request.set_name("nope");
  v1::Server server;
  grpc::Status status = stub_->GetServer(Context().get(), request, &server);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("server \"nope\" not found"));
  request.clear_name();
  EXPECT_EQ(stub_->GetServer(Context().get(), request, &server).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListTasksRequest tasks;
  tasks.set_server("nope");
  v1::ListTasksResponse ignored;
  EXPECT_EQ(stub_->ListTasks(Context().get(), tasks, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, RunServerOnARunningServerIsAFailedPrecondition) {
  Start(false);
  v1::RunServerRequest request;
  request.set_name("echo");
  v1::Server server;
  grpc::Status status = stub_->RunServer(Context().get(), request, &server);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("already running"));
}

TEST_F(ControlServiceTest, StopAcceptingKeepsConnectionsAndRunServerResumes) {
  Start(false);
  LoopbackClient client = ConnectAndEcho("echo");
  const std::uint16_t port = PortOf("echo");
  v1::StopAcceptingRequest request;
  request.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(stub_->StopAccepting(Context().get(), request, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_NOT_ACCEPTING);
  EXPECT_EQ(client.Echo("still here").value_or(""), "still here");
  EXPECT_FALSE(LoopbackClient::Connect(port, "127.0.0.1", absl::Seconds(2)).ok());

  v1::RunServerRequest run;
  run.set_name("echo");
  ASSERT_TRUE(stub_->RunServer(Context().get(), run, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_RUNNING);
  ConnectAndEcho("echo");
  EXPECT_EQ(client.Echo("and still").value_or(""), "and still");
}

TEST_F(ControlServiceTest, StopServerReturnsWhenStoppedAndReportsCooperativeTasks) {
  Start(false);
  LoopbackClient client = ConnectAndEcho("echo");
  v1::StopServerRequest request;
  request.set_name("echo");
  v1::StopServerResponse response;
  ASSERT_TRUE(stub_->StopServer(Context().get(), request, &response).ok());
  EXPECT_EQ(response.server().state(), v1::SERVER_STATE_STOPPED);
  EXPECT_EQ(response.cooperative_tasks(), 1u);
  EXPECT_EQ(response.forced_tasks(), 0u);
  EXPECT_EQ(response.server().active_tasks(), 0u);
  EXPECT_TRUE(client.ReadUntilClosed().ok());

  v1::RunServerRequest run;
  run.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(stub_->RunServer(Context().get(), run, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_RUNNING);
  ConnectAndEcho("echo");
}

TEST_F(ControlServiceTest, StopServerForcesTasksStillOpenAfterTheDrainTimeout) {
  Start(false);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(PortOf("deaf"));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(WaitUntil([&] { return Tasks("deaf").size() == 1; }));
  v1::StopServerRequest request;
  request.set_name("deaf");
  request.mutable_drain_timeout()->set_nanos(100'000'000);
  v1::StopServerResponse response;
  ASSERT_TRUE(stub_->StopServer(Context().get(), request, &response).ok());
  EXPECT_EQ(response.forced_tasks(), 1u);
  EXPECT_EQ(response.cooperative_tasks(), 0u);
  EXPECT_GE(weft::DurationFromProto(response.elapsed()), absl::Milliseconds(100));
}

TEST_F(ControlServiceTest, StopServerRejectsNegativeAndAbsurdDrainTimeouts) {
  Start(false);
  v1::StopServerRequest request;
  request.set_name("echo");
  request.mutable_drain_timeout()->set_seconds(-1);
  v1::StopServerResponse response;
  EXPECT_EQ(stub_->StopServer(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.mutable_drain_timeout()->set_seconds(100'000'000);
  EXPECT_EQ(stub_->StopServer(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.mutable_drain_timeout()->set_seconds(1);
  request.mutable_drain_timeout()->set_nanos(-5);
  EXPECT_EQ(stub_->StopServer(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Get("echo").state(), v1::SERVER_STATE_RUNNING) << "a rejected stop changes nothing";
}

TEST_F(ControlServiceTest, LoweringMaxConnectionsRefusesNewClientsAndKeepsOldOnes) {
  Start(false);
  LoopbackClient first = ConnectAndEcho("echo");
  v1::UpdateServerRequest request;
  request.set_name("echo");
  request.set_max_connections(1);
  v1::Server server;
  ASSERT_TRUE(stub_->UpdateServer(Context().get(), request, &server).ok());
  EXPECT_EQ(server.max_connections(), 1u);
  absl::StatusOr<LoopbackClient> refused = LoopbackClient::Connect(PortOf("echo"));
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->ReadUntilClosed().ok()) << "the second client is closed at once";
  EXPECT_EQ(first.Echo("ok").value_or(""), "ok");
  EXPECT_EQ(Get("echo").refused_total(), 1u);

  request.set_max_connections(0);
  ASSERT_TRUE(stub_->UpdateServer(Context().get(), request, &server).ok());
  EXPECT_EQ(server.max_connections(), 0u);
  ConnectAndEcho("echo");
}

TEST_F(ControlServiceTest, ListTasksShowsALiveConnectionsPeerAndByteCounts) {
  Start(false);
  LoopbackClient client = ConnectAndEcho("echo", "12345");
  sockaddr_in local{};
  socklen_t local_len = sizeof local;
  ASSERT_EQ(::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&local), &local_len), 0);
  std::vector<v1::Task> tasks;
  ASSERT_TRUE(WaitUntil([&] {
    tasks = Tasks("echo");
    return tasks.size() == 1 && tasks[0].bytes_out() == 5;
  }));
  EXPECT_EQ(tasks[0].peer(), absl::StrCat("127.0.0.1:", ntohs(local.sin_port)));
  EXPECT_EQ(tasks[0].server(), "echo");
  EXPECT_EQ(tasks[0].state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(tasks[0].bytes_in(), 5u);
  EXPECT_TRUE(tasks[0].has_start_time());
  EXPECT_TRUE(tasks[0].has_last_activity_time());
  EXPECT_NE(tasks[0].id(), 0u);
}

TEST_F(ControlServiceTest, ListTasksFiltersByAgeAndPagesInIdOrder) {
  Start(false);
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(ConnectAndEcho("echo"));
  v1::ListTasksRequest request;
  request.set_server("echo");
  request.set_page_size(2);
  v1::ListTasksResponse first;
  ASSERT_TRUE(stub_->ListTasks(Context().get(), request, &first).ok());
  ASSERT_EQ(first.tasks_size(), 2);
  EXPECT_EQ(first.total_size(), 3u);
  EXPECT_LT(first.tasks(0).id(), first.tasks(1).id());
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  v1::ListTasksResponse second;
  ASSERT_TRUE(stub_->ListTasks(Context().get(), request, &second).ok());
  ASSERT_EQ(second.tasks_size(), 1);
  EXPECT_GT(second.tasks(0).id(), first.tasks(1).id());
  EXPECT_TRUE(second.next_page_token().empty());

  v1::ListTasksRequest old;
  old.set_server("echo");
  old.mutable_min_age()->set_seconds(3600);
  v1::ListTasksResponse none;
  ASSERT_TRUE(stub_->ListTasks(Context().get(), old, &none).ok());
  EXPECT_EQ(none.tasks_size(), 0);
  EXPECT_EQ(none.total_size(), 0u);
  old.mutable_min_age()->set_seconds(-3);
  EXPECT_EQ(stub_->ListTasks(Context().get(), old, &none).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlServiceTest, StopTaskReturnsOnceTheTaskHasStopped) {
  Start(false);
  LoopbackClient client = ConnectAndEcho("echo");
  const std::uint64_t id = Tasks("echo").at(0).id();
  v1::StopTaskRequest request;
  request.set_server("echo");
  request.set_task_id(id);
  v1::StopTaskResponse response;
  ASSERT_TRUE(stub_->StopTask(Context().get(), request, &response).ok());
  EXPECT_TRUE(Tasks("echo").empty()) << "StopTask returned before the task was gone";
  EXPECT_TRUE(client.ReadUntilClosed().ok());

  grpc::Status again = stub_->StopTask(Context().get(), request, &response);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(again.error_message(), HasSubstr(absl::StrCat("task ", id, " not found")));
  request.set_task_id(0);
  EXPECT_EQ(stub_->StopTask(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlServiceTest, StopTasksDryRunCountsAndListsTheFirstMatchesButStopsNothing) {
  Start(false);
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(ConnectAndEcho("echo"));
  v1::StopTasksRequest request;
  request.set_server("echo");
  request.mutable_filter()->set_peer("127.0.0.0/8");
  request.set_dry_run(true);
  request.set_page_size(2);
  v1::StopTasksResponse response;
  ASSERT_TRUE(stub_->StopTasks(Context().get(), request, &response).ok());
  EXPECT_EQ(response.matched_tasks(), 3u);
  ASSERT_EQ(response.tasks_size(), 2);
  EXPECT_LT(response.tasks(0).id(), response.tasks(1).id());
  EXPECT_EQ(response.cooperative_tasks() + response.forced_tasks() + response.dropped_tasks(), 0u);
  EXPECT_EQ(Tasks("echo").size(), 3u) << "a dry run stopped something";
  for (LoopbackClient& client : clients) EXPECT_TRUE(client.Echo("still").ok());
}

TEST_F(ControlServiceTest, StopTasksStopsOnlyTheTasksTheFilterSelects) {
  Start(false);
  LoopbackClient idle = ConnectAndEcho("echo");
  ASSERT_TRUE(WaitUntil([&] {
    const std::vector<v1::Task> tasks = Tasks("echo");
    return tasks.size() == 1 && weft::DurationFromProto(tasks[0].idle()) >= absl::Seconds(1);
  }));
  LoopbackClient busy = ConnectAndEcho("echo");
  v1::StopTasksRequest request;
  request.set_server("echo");
  request.mutable_filter()->set_peer("10.0.0.0/8");
  request.mutable_filter()->mutable_min_idle()->set_seconds(1);
  v1::StopTasksResponse response;
  ASSERT_TRUE(stub_->StopTasks(Context().get(), request, &response).ok());
  EXPECT_EQ(response.matched_tasks(), 0u) << "no client comes from 10/8";

  request.mutable_filter()->set_peer("127.0.0.1");
  ASSERT_TRUE(stub_->StopTasks(Context().get(), request, &response).ok());
  EXPECT_EQ(response.matched_tasks(), 1u);
  EXPECT_EQ(response.cooperative_tasks(), 1u);
  EXPECT_EQ(response.forced_tasks(), 0u);
  EXPECT_TRUE(response.has_elapsed());
  EXPECT_TRUE(idle.ReadUntilClosed().ok());
  EXPECT_TRUE(busy.Echo("still here").ok()) << "a task the filter did not select was stopped";
}

TEST_F(ControlServiceTest, StopTasksRefusesAnEmptyFilterAndMoreMatchesThanMaxCount) {
  Start(false);
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(ConnectAndEcho("echo"));
  v1::StopTasksRequest request;
  request.set_server("echo");
  v1::StopTasksResponse response;
  grpc::Status status = stub_->StopTasks(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("filter"));
  request.mutable_filter()->add_states(v1::TASK_STATE_RUNNING);
  request.set_max_count(2);
  status = stub_->StopTasks(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("3 tasks match"));
  EXPECT_EQ(Tasks("echo").size(), 3u) << "a refused StopTasks stopped something";
  request.set_max_count(0);
  request.mutable_timeout()->set_seconds(-1);
  EXPECT_EQ(stub_->StopTasks(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_timeout();
  request.set_server("nope");
  EXPECT_EQ(stub_->StopTasks(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, StopTasksForcesADeafTaskAndReportsItStuck) {
  Start(false);
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(PortOf("deaf"));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(WaitUntil([&] { return Tasks("deaf").size() == 1; }));
  v1::StopTasksRequest request;
  request.set_server("deaf");
  request.mutable_filter()->set_peer("127.0.0.1");
  request.mutable_timeout()->set_nanos(50'000'000);
  v1::StopTasksResponse response;
  ASSERT_TRUE(stub_->StopTasks(Context().get(), request, &response).ok());
  EXPECT_EQ(response.matched_tasks(), 1u);
  EXPECT_EQ(response.forced_tasks(), 1u);
  EXPECT_EQ(response.cooperative_tasks(), 0u);
  EXPECT_EQ(Get("deaf").stuck_tasks_total(), 1u);
  EXPECT_EQ(Get("echo").stuck_tasks_total(), 0u);
}

TEST_F(ControlServiceTest, RemoveTaskDropsAQueuedConnectionWithoutServingIt) {
  Start(false);
  LoopbackClient running = ConnectAndEcho("limited");
  absl::StatusOr<LoopbackClient> queued = LoopbackClient::Connect(PortOf("limited"));
  ASSERT_TRUE(queued.ok());
  ASSERT_TRUE(queued->Send("never echoed").ok());
  std::vector<v1::Task> tasks;
  ASSERT_TRUE(WaitUntil([&] {
    tasks = Tasks("limited");
    return tasks.size() == 2;
  }));
  ASSERT_EQ(tasks[1].state(), v1::TASK_STATE_QUEUED);
  EXPECT_FALSE(tasks[1].has_start_time());
  v1::RemoveTaskRequest request;
  request.set_server("limited");
  request.set_task_id(tasks[1].id());
  v1::RemoveTaskResponse response;
  ASSERT_TRUE(stub_->RemoveTask(Context().get(), request, &response).ok());
  absl::StatusOr<std::string> rest = queued->ReadUntilClosed();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, "") << "a removed queued connection is closed without being served";
  EXPECT_EQ(Tasks("limited").size(), 1u);
  EXPECT_EQ(stub_->RemoveTask(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(running.Echo("alive").value_or(""), "alive");
}

// ReadEvents reads from a WatchEvents stream until `count` events arrived (or the deadline).
std::vector<v1::Event> ReadEvents(grpc::ClientReader<v1::Event>* reader, std::size_t count) {
  std::vector<v1::Event> events;
  v1::Event event;
  while (events.size() < count && reader->Read(&event)) events.push_back(event);
  return events;
}

TEST_F(ControlServiceTest, WatchEventsDeliversAConnectAndDisconnectInOrder) {
  Start(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchEventsRequest request;
  request.set_server("echo");
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->WatchEvents(&context, request);
  reader->WaitForInitialMetadata();
  ASSERT_TRUE(WaitUntil([&] { return events_.subscriber_count() == 1; }));
  {
    LoopbackClient client = ConnectAndEcho("echo");
  }
  const std::vector<v1::Event> events = ReadEvents(reader.get(), 3);
  context.TryCancel();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_TASK_ADDED);
  EXPECT_EQ(events[1].type(), v1::EVENT_TYPE_TASK_STARTED);
  EXPECT_EQ(events[2].type(), v1::EVENT_TYPE_TASK_STOPPED);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].server(), "echo");
    EXPECT_EQ(events[i].task_id(), events[0].task_id());
    EXPECT_EQ(events[i].sequence(), static_cast<std::uint64_t>(i + 1));
    EXPECT_THAT(events[i].peer(), HasSubstr("127.0.0.1:"));
  }
  EXPECT_FALSE(events[2].failed());
}

TEST_F(ControlServiceTest, WatchEventsReportsRefusalsAndStateChanges) {
  Start(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->WatchEvents(&context, {});
  reader->WaitForInitialMetadata();
  ASSERT_TRUE(WaitUntil([&] { return events_.subscriber_count() == 1; }));
  servers_.Find("echo")->server->set_max_connections(0);
  absl::StatusOr<LoopbackClient> refused = LoopbackClient::Connect(PortOf("echo"));
  ASSERT_TRUE(refused.ok());
  ASSERT_TRUE(refused->ReadUntilClosed().ok());
  servers_.Find("echo")->server->StopAccepting();
  const std::vector<v1::Event> events = ReadEvents(reader.get(), 2);
  context.TryCancel();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type(), v1::EVENT_TYPE_CONNECTION_REFUSED);
  EXPECT_EQ(events[0].refusal_reason(), v1::REFUSAL_REASON_MAX_CONNECTIONS);
  EXPECT_EQ(events[1].type(), v1::EVENT_TYPE_SERVER_STATE_CHANGED);
  EXPECT_EQ(events[1].server_state(), v1::SERVER_STATE_NOT_ACCEPTING);
}

TEST_F(ControlServiceTest, WatchEventsOfAnUnknownServerIsNotFound) {
  Start(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchEventsRequest request;
  request.set_server("nope");
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->WatchEvents(&context, request);
  v1::Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, TokensGateEveryMethodByRole) {
  Start(true);
  v1::ListServersResponse servers;
  grpc::Status status = stub_->ListServers(Context().get(), {}, &servers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->ListServers(Context("wrong").get(), {}, &servers).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub_->ListServers(Context("viewer-secret").get(), {}, &servers).ok());

  v1::StopServerRequest stop;
  stop.set_name("echo");
  v1::StopServerResponse stopped;
  status = stub_->StopServer(Context("viewer-secret").get(), stop, &stopped);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), Not(HasSubstr("viewer-secret")));
  EXPECT_EQ(servers_.Find("echo")->server->state(), ServerState::kRunning)
      << "a viewer can never mutate";
  v1::UpdateServerRequest update;
  update.set_name("echo");
  update.set_max_connections(1);
  v1::Server server;
  EXPECT_EQ(stub_->UpdateServer(Context("viewer-secret").get(), update, &server).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::StopTasksRequest stop_tasks;
  stop_tasks.set_server("echo");
  stop_tasks.mutable_filter()->set_peer("127.0.0.1");
  stop_tasks.set_dry_run(true);
  v1::StopTasksResponse stop_tasks_reply;
  EXPECT_EQ(
      stub_->StopTasks(Context("viewer-secret").get(), stop_tasks, &stop_tasks_reply).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(
      stub_->StopTasks(Context("operator-secret").get(), stop_tasks, &stop_tasks_reply).ok());
  EXPECT_TRUE(stub_->StopServer(Context("operator-secret").get(), stop, &stopped).ok());
}

TEST_F(ControlServiceTest, GetProcessReportsThisProcessAndItsPeerToAViewer) {
  Start(true);
  v1::Process process;
  EXPECT_EQ(stub_->GetProcess(Context().get(), {}, &process).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(stub_->GetProcess(Context("viewer-secret").get(), {}, &process).ok());
  EXPECT_EQ(process.pid(), ::getpid());
  EXPECT_EQ(TimeFromProto(process.start_time()), process_.start_time());
  EXPECT_EQ(process.generation(), 1u);
  EXPECT_EQ(process.state(), v1::PROCESS_STATE_SERVING);
  EXPECT_EQ(process.version(), weft::kVersion);
  EXPECT_FALSE(process.has_peer()) << "no hand-off, no peer";

  // What the hand-off code records for a successor during the overlap.
  const absl::Time peer_start = absl::FromUnixMillis(1'765'000'000'123);
  process_.set_generation(3);
  process_.set_peer(ProcessPeer{.role = ProcessPeer::kPredecessor,
                                .pid = 31337,
                                .start_time = peer_start,
                                .generation = 2,
                                .draining = true});
  ASSERT_TRUE(stub_->GetProcess(Context("viewer-secret").get(), {}, &process).ok());
  EXPECT_EQ(process.generation(), 3u);
  EXPECT_EQ(process.state(), v1::PROCESS_STATE_SERVING);
  ASSERT_TRUE(process.has_peer());
  EXPECT_EQ(process.peer().role(), v1::PEER_ROLE_PREDECESSOR);
  EXPECT_EQ(process.peer().pid(), 31337);
  EXPECT_EQ(TimeFromProto(process.peer().start_time()), peer_start);
  EXPECT_EQ(process.peer().generation(), 2u);
  EXPECT_EQ(process.peer().state(), v1::PROCESS_STATE_DRAINING);

  // The predecessor's view: draining, its successor alive.
  process_.set_draining(true);
  process_.set_peer(ProcessPeer{.role = ProcessPeer::kSuccessor, .pid = 31338, .generation = 4});
  ASSERT_TRUE(stub_->GetProcess(Context("operator-secret").get(), {}, &process).ok());
  EXPECT_EQ(process.state(), v1::PROCESS_STATE_DRAINING);
  EXPECT_EQ(process.peer().role(), v1::PEER_ROLE_SUCCESSOR);
  EXPECT_EQ(process.peer().state(), v1::PROCESS_STATE_SERVING);

  process_.clear_peer();
  ASSERT_TRUE(stub_->GetProcess(Context("viewer-secret").get(), {}, &process).ok());
  EXPECT_FALSE(process.has_peer()) << "the peer is gone once the hand-off is over";
}

TEST_F(ControlServiceTest, HealthStaysOpenAndFollowsEachListenersState) {
  Start(true);
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto check = [&](const std::string& service) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health->Check(Context().get(), request, &response);
    return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  };
  EXPECT_EQ(check(""), HealthCheckResponse::SERVING) << "health needs no token";
  EXPECT_EQ(check("weft.control.v1.Control"), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("echo"), HealthCheckResponse::SERVING);
  servers_.Find("echo")->server->StopAccepting();
  EXPECT_EQ(check("echo"), HealthCheckResponse::NOT_SERVING);
  servers_.Find("limited")->server->Stop();
  EXPECT_EQ(check("limited"), HealthCheckResponse::NOT_SERVING);
  health_.SetDraining(true);
  EXPECT_EQ(check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("deaf"), HealthCheckResponse::NOT_SERVING);

  HealthCheckRequest unknown;
  unknown.set_service("no-such-listener");
  HealthCheckResponse response;
  EXPECT_EQ(health->Check(Context().get(), unknown, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, ReflectionListsTheControlService) {
  Start(false);
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  const std::string request_bytes("\x3a\x00", 2);
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(bytes, HasSubstr("weft.control.v1.Control"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  context.TryCancel();
  grpc::Status finished;
  call->Finish(&finished, reinterpret_cast<void*>(4));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(4)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace weft::control

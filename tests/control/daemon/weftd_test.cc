// weftd end to end: a real daemon process, driven over its real control plane and sockets.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/log.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft {
namespace {

namespace v1 = ::weft::control::v1;
using ::testing::HasSubstr;
using ::weft::testing::ChildProcess;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

constexpr char kConfig[] = R"pb(
control { address: "127.0.0.1:0" }
listeners {
  name: "echo"
  port: 0
  handler { name: "echo" }
  drain_timeout: "20s"
}
listeners {
  name: "web"
  port: 0
  handler { name: "http-hello" }
  pool { threads: 2 }
}
listeners {
  name: "fibers"
  port: 0
  handler { name: "echo" }
  fiber { threads: 1 }
}
)pb";

std::string WriteTempFile(const std::string& contents) {
  char path[] = "/tmp/weftd-test-XXXXXX";
  const int fd = ::mkstemp(path);
  CHECK_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << contents;
  return path;
}

// Weftd: a running daemon and what its ready line said.
struct Weftd {
  std::unique_ptr<ChildProcess> process;
  int control_port = 0;
  std::map<std::string, std::uint16_t> listeners;
  std::string config_path;

  ~Weftd() {
    process.reset();
    if (!config_path.empty()) ::unlink(config_path.c_str());
  }
};

absl::Status StartWeftd(const std::string& config, Weftd* weftd,
                        std::vector<std::string> extra_args = {}) {
  weftd->config_path = WriteTempFile(config);
  std::vector<std::string> argv = {WEFTD_PATH, "--config", weftd->config_path};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv);
  if (!process.ok()) return process.status();
  weftd->process = std::make_unique<ChildProcess>(std::move(*process));
  absl::StatusOr<std::string> line = weftd->process->ReadLine(kStartTimeout);
  if (!line.ok()) return line.status();
  // "weftd ready control_port=N listeners=a=1,b=2"
  for (absl::string_view field : absl::StrSplit(*line, ' ')) {
    if (absl::ConsumePrefix(&field, "control_port=")) {
      if (!absl::SimpleAtoi(field, &weftd->control_port)) break;
    } else if (absl::ConsumePrefix(&field, "listeners=")) {
      for (absl::string_view pair : absl::StrSplit(field, ',', absl::SkipEmpty())) {
        std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
        std::uint32_t port = 0;
        if (absl::SimpleAtoi(kv.second, &port)) weftd->listeners[kv.first] = port;
      }
    }
  }
  if (weftd->control_port == 0) return absl::InternalError("bad ready line: " + *line);
  return absl::OkStatus();
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  return context;
}

class WeftdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(StartWeftd(kConfig, &weftd_).ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", weftd_.control_port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Control::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    if (!health_->Check(Context().get(), request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  // Tasks returns the tasks ListTasks reports for `server` (one page: the tests hold few).
  v1::ListTasksResponse Tasks(const std::string& server) {
    v1::ListTasksRequest request;
    request.set_server(server);
    v1::ListTasksResponse response;
    const grpc::Status status = stub_->ListTasks(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status StopTask(const std::string& server, std::uint64_t id) {
    v1::StopTaskRequest request;
    request.set_server(server);
    request.set_task_id(id);
    v1::StopTaskResponse response;
    return stub_->StopTask(Context().get(), request, &response);
  }

  int ExitStatusAfterSignal(int signal) {
    weftd_.process->Signal(signal);
    absl::StatusOr<int> status = weftd_.process->Wait(absl::Seconds(20));
    EXPECT_TRUE(status.ok()) << status.status();
    return status.value_or(-1);
  }

  Weftd weftd_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(WeftdTest, ServesItsConfiguredListenersAndEveryControlRpc) {
  const std::uint16_t echo_port = weftd_.listeners.at("echo");
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(echo_port);
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->Echo("hello").value_or(""), "hello");

  v1::ListServersResponse servers;
  ASSERT_TRUE(stub_->ListServers(Context().get(), {}, &servers).ok());
  // Listed by name.
  ASSERT_EQ(servers.servers_size(), 3);
  EXPECT_EQ(servers.servers(0).name(), "echo");
  EXPECT_EQ(servers.servers(0).port(), echo_port);
  EXPECT_EQ(servers.servers(1).name(), "fibers");
  EXPECT_EQ(servers.servers(2).name(), "web");
  EXPECT_EQ(servers.servers(2).manager().kind(), v1::MANAGER_KIND_POOL);
  EXPECT_EQ(servers.servers(2).handler(), "http-hello");

  const v1::ListTasksResponse tasks = Tasks("echo");
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).bytes_in(), 5u);
  ASSERT_TRUE(StopTask("echo", tasks.tasks(0).id()).ok());
  EXPECT_TRUE(client->ReadUntilClosed().ok());

  v1::UpdateServerRequest update;
  update.set_name("echo");
  update.set_max_connections(10);
  v1::Server server;
  ASSERT_TRUE(stub_->UpdateServer(Context().get(), update, &server).ok());
  EXPECT_EQ(server.max_connections(), 10u);

  v1::StopAcceptingRequest stop_accepting;
  stop_accepting.set_name("echo");
  ASSERT_TRUE(stub_->StopAccepting(Context().get(), stop_accepting, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_NOT_ACCEPTING);
  EXPECT_EQ(Health("echo"), HealthCheckResponse::NOT_SERVING);

  v1::StopServerRequest stop;
  stop.set_name("echo");
  v1::StopServerResponse stop_response;
  ASSERT_TRUE(stub_->StopServer(Context().get(), stop, &stop_response).ok());
  EXPECT_EQ(stop_response.server().state(), v1::SERVER_STATE_STOPPED);

  v1::RunServerRequest run;
  run.set_name("echo");
  ASSERT_TRUE(stub_->RunServer(Context().get(), run, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_RUNNING);
  EXPECT_EQ(Health("echo"), HealthCheckResponse::SERVING);
  absl::StatusOr<LoopbackClient> again = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Echo("back").value_or(""), "back");

  v1::RemoveTaskRequest remove;
  remove.set_server("echo");
  remove.set_task_id(987654321);
  v1::RemoveTaskResponse removed;
  EXPECT_EQ(stub_->RemoveTask(Context().get(), remove, &removed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  again->Close();  // Otherwise the drain below rightly waits for it.
  EXPECT_EQ(ExitStatusAfterSignal(SIGTERM), 0);
}

TEST_F(WeftdTest, AFiberListenerServesAndItsTasksAreManagedLikeAnyOther) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_.listeners.at("fibers"));
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->Echo("on a fiber").value_or(""), "on a fiber");

  v1::GetServerRequest get;
  get.set_name("fibers");
  v1::Server server;
  ASSERT_TRUE(stub_->GetServer(Context().get(), get, &server).ok());
  EXPECT_EQ(server.manager().kind(), v1::MANAGER_KIND_FIBER);

  const v1::ListTasksResponse tasks = Tasks("fibers");
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).bytes_in(), 10u);

  // The fiber is parked in a read: StopTask must wake it and return once it has ended.
  ASSERT_TRUE(StopTask("fibers", tasks.tasks(0).id()).ok());
  EXPECT_TRUE(client->ReadUntilClosed().ok());
  EXPECT_EQ(Tasks("fibers").tasks_size(), 0);
}

TEST_F(WeftdTest, WatchEventsStreamsAConnectionsLifeFromTheDaemon) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  v1::WatchEventsRequest request;
  request.set_server("echo");
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->WatchEvents(&context, request);
  reader->WaitForInitialMetadata();
  {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_.listeners.at("echo"));
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client->Echo("x").ok());
  }
  std::vector<v1::EventType> types;
  v1::Event event;
  while (types.size() < 3 && reader->Read(&event)) types.push_back(event.type());
  context.TryCancel();
  EXPECT_THAT(types, ::testing::ElementsAre(v1::EVENT_TYPE_TASK_ADDED, v1::EVENT_TYPE_TASK_STARTED,
                                            v1::EVENT_TYPE_TASK_STOPPED));
}

TEST_F(WeftdTest, SigtermDrainsLettingAnOpenConnectionComplete) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_.listeners.at("echo"));
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->Echo("before").value_or(""), "before");
  weftd_.process->Signal(SIGTERM);
  // Draining: the health check turns NOT_SERVING and the listener stops accepting...
  EXPECT_TRUE(WaitUntil([&] { return Health("") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_TRUE(WaitUntil([&] {
    return !LoopbackClient::Connect(weftd_.listeners.at("echo"), "127.0.0.1", absl::Seconds(1))
                .ok();
  }));
  // ...while the open connection is still served to its end.
  EXPECT_EQ(client->Echo("during drain").value_or(""), "during drain");
  EXPECT_EQ(::waitpid(weftd_.process->pid(), nullptr, WNOHANG), 0) << "weftd left too early";
  client->Close();
  absl::StatusOr<int> status = weftd_.process->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << "weftd did not exit once its last connection closed";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(WeftdTest, ASecondSignalStopsAtOnce) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_.listeners.at("echo"));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Echo("x").ok());
  weftd_.process->Signal(SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return Health("") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(ExitStatusAfterSignal(SIGINT), 0);
  EXPECT_TRUE(client->ReadUntilClosed().ok()) << "the open connection is closed by the stop";
}

// ReusePortConfig: an echo listener with reuse_port on `port` and a control plane of its own.
std::string ReusePortConfig(std::uint16_t port) {
  return absl::StrCat("control { address: \"127.0.0.1:0\" }\n",
                      "listeners { name: \"shared\" port: ", port,
                      " handler { name: \"echo\" } reuse_port: true }\n");
}

// TcpMigrateReqIsZero: whether this host's net.ipv4.tcp_migrate_req reads 0 (weftd's warning
// condition); false when it cannot be read.
bool TcpMigrateReqIsZero() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_migrate_req");
  int value = -1;
  return static_cast<bool>(in >> value) && value == 0;
}

// The replacement case: a second weftd binds the first one's port while it serves; after the
// first drains and exits, the second serves every new connection.
TEST(WeftdReusePortTest, ASecondDaemonSharesThePortAndServesItAfterTheFirstExits) {
  Weftd first;
  const absl::Status first_started = StartWeftd(ReusePortConfig(0), &first);
  ASSERT_TRUE(first_started.ok()) << first_started;
  const std::uint16_t port = first.listeners.at("shared");
  ASSERT_NE(port, 0);
  // The warning is logged before the ready line, so stderr holds it (or not) by now.
  const bool warned = absl::StrContains(first.process->Stderr(), "net.ipv4.tcp_migrate_req is 0");
  EXPECT_EQ(warned, TcpMigrateReqIsZero()) << first.process->Stderr();
  Weftd second;
  const absl::Status second_started = StartWeftd(ReusePortConfig(port), &second);
  ASSERT_TRUE(second_started.ok()) << second_started;
  EXPECT_EQ(second.listeners.at("shared"), port);

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", first.control_port),
                                     grpc::InsecureChannelCredentials());
  v1::GetServerRequest get;
  get.set_name("shared");
  v1::Server server;
  ASSERT_TRUE(v1::Control::NewStub(channel)->GetServer(Context().get(), get, &server).ok());
  EXPECT_TRUE(server.reuse_port());

  absl::StatusOr<LoopbackClient> before = LoopbackClient::Connect(port);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->Echo("both").value_or(""), "both");
  before->Close();

  first.process->Signal(SIGTERM);
  absl::StatusOr<int> status = first.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << first.process->Stderr();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
    ASSERT_TRUE(client.ok()) << "connection " << i << ": " << client.status();
    EXPECT_EQ(client->Echo("second").value_or(""), "second") << "connection " << i;
  }
}

// ExpectCheckConfigPasses runs `weftd --check-config` on `config` and expects exit 0.
void ExpectCheckConfigPasses(const std::string& config) {
  const std::string path = WriteTempFile(config);
  absl::StatusOr<ChildProcess> check = ChildProcess::Start({WEFTD_PATH, "--check-config", path});
  ASSERT_TRUE(check.ok());
  absl::StatusOr<int> status = check->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << check->Stderr();
  ::unlink(path.c_str());
}

TEST(WeftdCommandLineTest, CheckConfigAcceptsReusePort) {
  ExpectCheckConfigPasses(ReusePortConfig(7007));
}

TEST(WeftdCommandLineTest, CheckConfigReportsTheLineAndFieldOfAnError) {
  const std::string path = WriteTempFile("listeners {\n  name: \"x\"\n  port: 99999\n}\n");
  absl::StatusOr<ChildProcess> check = ChildProcess::Start({WEFTD_PATH, "--check-config", path});
  ASSERT_TRUE(check.ok());
  absl::StatusOr<int> status = check->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(check->Stderr(), HasSubstr(path + ":3:3: listeners[0].port"));
  ::unlink(path.c_str());
}

TEST(WeftdCommandLineTest, ThePrintedDefaultConfigPassesItsOwnCheck) {
  absl::StatusOr<ChildProcess> print = ChildProcess::Start({WEFTD_PATH, "--print-default-config"});
  ASSERT_TRUE(print.ok());
  std::string text;
  while (true) {
    absl::StatusOr<std::string> line = print->ReadLine(absl::Seconds(20));
    if (!line.ok()) break;
    text += *line + "\n";
  }
  EXPECT_THAT(text, HasSubstr("port: 7007"));
  ExpectCheckConfigPasses(text);
}

TEST(WeftdCommandLineTest, UsageErrorsExitTwoWithTheReasonAndTheUsage) {
  struct Case {
    std::vector<std::string> args;
    std::string reason;
  };
  for (const Case& c : {
           Case{{"--bogus"}, "weftd: unknown argument \"--bogus\""},
           Case{{"extra"}, "weftd: unknown argument \"extra\""},
           Case{{"--log-format", "xml"}, "weftd: --log-format: xml not in {text,json}"},
           Case{{"--config"}, "weftd: --config: 1 required TEXT missing"},
       }) {
    std::vector<std::string> argv = {WEFTD_PATH};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    absl::StatusOr<ChildProcess> weftd = ChildProcess::Start(argv);
    ASSERT_TRUE(weftd.ok());
    absl::StatusOr<int> status = weftd->Wait(absl::Seconds(20));
    ASSERT_TRUE(status.ok());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << c.args[0];
    EXPECT_THAT(weftd->Stderr(), HasSubstr(c.reason));
    EXPECT_THAT(weftd->Stderr(), HasSubstr("usage: weftd [--config FILE]"));
  }
}

TEST(WeftdCommandLineTest, HelpPrintsTheUsageOnStdoutAndExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    absl::StatusOr<ChildProcess> weftd = ChildProcess::Start({WEFTD_PATH, "--insecure", flag});
    ASSERT_TRUE(weftd.ok());
    absl::StatusOr<std::string> first = weftd->ReadLine(absl::Seconds(20));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(*first,
              "usage: weftd [--config FILE] [--insecure] [--log-format text|json] "
              "[--takeover=PATH]");
    absl::StatusOr<int> status = weftd->Wait(absl::Seconds(20));
    ASSERT_TRUE(status.ok());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << flag;
  }
}

TEST(WeftdCommandLineTest, RefusesAnUnauthenticatedRemoteControlPlaneUnlessInsecure) {
  const std::string config = "control { address: \"0.0.0.0:0\" }\n";
  Weftd refused;
  EXPECT_FALSE(StartWeftd(config, &refused).ok());
  absl::StatusOr<int> status = refused.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(refused.process->Stderr(), HasSubstr("is not a loopback address"));

  Weftd insecure;
  ASSERT_TRUE(StartWeftd(config, &insecure, {"--insecure"}).ok());
  EXPECT_THAT(insecure.process->Stderr(), HasSubstr("WITHOUT authentication"));
}

TEST(WeftdCommandLineTest, AListenerPortInUseFailsStartUpWithAClearMessage) {
  Weftd first;
  ASSERT_TRUE(StartWeftd(kConfig, &first).ok());
  const std::string config = absl::StrCat(
      "control { address: \"127.0.0.1:0\" }\n"
      "listeners { name: \"clash\" port: ", first.listeners.at("echo"),
      " handler { name: \"echo\" } }\n");
  Weftd second;
  EXPECT_FALSE(StartWeftd(config, &second).ok());
  absl::StatusOr<int> status = second.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(second.process->Stderr(), HasSubstr("already in use"));
}

TEST(WeftdCommandLineTest, ADescriptorLimitTooLowForTheReserveFailsStartUpWithTheFigures) {
  Weftd weftd;
  weftd.config_path = WriteTempFile(kConfig);
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start({WEFTD_PATH, "--config", weftd.config_path},
                          ChildProcess::Options{.descriptor_limit = 48});
  ASSERT_TRUE(process.ok()) << process.status();
  weftd.process = std::make_unique<ChildProcess>(std::move(*process));
  absl::StatusOr<int> status = weftd.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << "wait status " << *status;
  EXPECT_THAT(weftd.process->Stderr(), HasSubstr("RLIMIT_NOFILE 48 is too low"));
  EXPECT_THAT(weftd.process->Stderr(), HasSubstr("raise the limit"));
}

TEST(WeftdCommandLineTest, AReserveThatCannotHoldTheControlConnectionsFailsStartUp) {
  const std::string config =
      "control { address: \"127.0.0.1:0\" max_connections: 20 }\n"
      "descriptors { reserve: 30 }\n";
  Weftd refused;
  EXPECT_FALSE(StartWeftd(config, &refused).ok());
  absl::StatusOr<int> status = refused.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(refused.process->Stderr(),
              HasSubstr("descriptors.reserve 30 cannot hold the control plane's 20 connections"));
}

TEST(WeftdCommandLineTest, JsonLogsAreOneObjectPerLine) {
  Weftd weftd;
  ASSERT_TRUE(StartWeftd(kConfig, &weftd, {"--log-format", "json"}).ok());
  weftd.process->Signal(SIGTERM);
  ASSERT_TRUE(weftd.process->Wait(absl::Seconds(20)).ok());
  const std::string logs = weftd.process->Stderr();
  ASSERT_FALSE(logs.empty());
  for (absl::string_view line : absl::StrSplit(logs, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"") && absl::EndsWith(line, "\"}")) << line;
  }
  EXPECT_THAT(logs, HasSubstr("\"message\":\"weftd ready"));
}

// DrainDelayTest: a daemon whose drain waits `delay` between NOT_SERVING and closing its
// listener, with a health client.
class DrainDelayTest : public ::testing::Test {
 protected:
  void Start(const std::string& delay) {
    const std::string config = absl::StrCat(
        "control { address: \"127.0.0.1:0\" drain_delay: \"", delay, "\" }\n",
        "listeners { name: \"echo\" port: 0 handler { name: \"echo\" } drain_timeout: \"5s\" }\n");
    ASSERT_TRUE(StartWeftd(config, &weftd_).ok());
    health_ = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", weftd_.control_port), grpc::InsecureChannelCredentials()));
  }
  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    if (!health_->Check(Context().get(), request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  Weftd weftd_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(DrainDelayTest, HealthTurnsNotServingWhileTheListenerStillAcceptsUntilTheDelayEnds) {
  constexpr absl::Duration kDelay = absl::Seconds(2);
  Start("2s");
  const std::uint16_t port = weftd_.listeners.at("echo");
  const absl::Time signalled = absl::Now();
  weftd_.process->Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return Health("echo") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(Health(""), HealthCheckResponse::NOT_SERVING);
  // A client a load balancer still routes here during the delay is accepted and served.
  absl::StatusOr<LoopbackClient> late = LoopbackClient::Connect(port);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->Echo("late").value_or(""), "late");
  ASSERT_LT(absl::Now() - signalled, kDelay) << "too slow to observe the delay window";
  late->Close();
  absl::StatusOr<int> status = weftd_.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_GE(absl::Now() - signalled, kDelay) << "weftd stopped before its drain delay ended";
  EXPECT_THAT(weftd_.process->Stderr(), HasSubstr("drain delay over"));
}

TEST_F(DrainDelayTest, ASecondSignalCutsTheDelayShort) {
  Start("60s");
  weftd_.process->Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return Health("") == HealthCheckResponse::NOT_SERVING; }));
  const absl::Time second = absl::Now();
  weftd_.process->Signal(SIGINT);
  absl::StatusOr<int> status = weftd_.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << "weftd still waited out its 60s drain delay";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_LT(absl::Now() - second, absl::Seconds(20));
}

}  // namespace
}  // namespace weft

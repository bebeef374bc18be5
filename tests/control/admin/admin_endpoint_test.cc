// The admin endpoint of a real weftd: probes that agree with the control plane, the JSON API
// as gRPC clients see it, errors for bad requests, auth shared with the control plane, TLS, and
// reachability under a connection flood.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/control/admin/exposition_samples.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/weftd_process.h"
#include "weft/base/log.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::testing {
namespace {

namespace v1 = ::weft::control::v1;

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kViewerToken[] = "viewer-token-0123456789";
constexpr char kOperatorToken[] = "operator-token-0123456789";

std::string Config(const std::string& control_extra = "", const std::string& admin_extra = "") {
  return absl::StrCat(R"pb(
                        control { address: "127.0.0.1:0")pb",
                      control_extra, R"pb(}
                                          admin { address: "127.0.0.1:0" )pb",
                      admin_extra, R"pb(}
                                        listeners {
  name: "echo"
  address: "127.0.0.1"
  port: 0
  handler { name: "echo" }
  threaded { limit: 0 }
}
)pb");
}

std::unique_ptr<WeftdProcess> StartWeftd(const std::string& config) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(WEFTD_PATH, config);
  EXPECT_TRUE(weftd.ok()) << weftd.status();
  if (!weftd.ok()) return nullptr;
  EXPECT_NE((*weftd)->admin_port(), 0);
  return std::move(*weftd);
}

std::unique_ptr<httplib::Client> Http(const WeftdProcess& weftd) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", weftd.admin_port());
  client->set_connection_timeout(10);
  client->set_read_timeout(10);
  return client;
}

std::unique_ptr<v1::Control::Stub> Grpc(const WeftdProcess& weftd) {
  return v1::Control::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", weftd.control_port()),
                                                  grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

// StatusOf returns the response's status, or -1 when there was no response.
int StatusOf(const httplib::Result& result) { return result ? result->status : -1; }

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return message;
}

TEST(AdminEndpointTest, ReadinessFollowsTheListenersAndHealthzStaysUp) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  auto http = Http(*weftd);
  httplib::Result ready = http->Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 200);

  auto stub = Grpc(*weftd);
  v1::StopAcceptingRequest stop;
  stop.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(stub->StopAccepting(Context().get(), stop, &server).ok());
  EXPECT_EQ(StatusOf(http->Get("/readyz")), 503);
  EXPECT_EQ(StatusOf(http->Get("/healthz")), 200);

  v1::RunServerRequest run;
  run.set_name("echo");
  ASSERT_TRUE(stub->RunServer(Context().get(), run, &server).ok());
  EXPECT_EQ(StatusOf(http->Get("/readyz")), 200);
}

TEST(AdminEndpointTest, ADrainTurnsReadinessAndGrpcHealthDownTogether) {
  // A long drain delay holds weftd in the drain's first phase: health down, still accepting.
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config("drain_delay: \"60s\""));
  ASSERT_NE(weftd, nullptr);
  auto http = Http(*weftd);
  ASSERT_EQ(StatusOf(http->Get("/readyz")), 200);
  ASSERT_EQ(::kill(weftd->pid(), SIGTERM), 0);
  ASSERT_TRUE(WaitUntil([&] { return StatusOf(http->Get("/readyz")) == 503; }));

  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", weftd->control_port()), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(Context().get(), {}, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(StatusOf(http->Get("/healthz")), 200);
  httplib::Result metrics = http->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(
      control::admin::testing::SampleValue(metrics->body, R"(weft_server_draining{server="echo"})"),
      1);
  httplib::Result servers = http->Get("/api/v1/servers");
  ASSERT_TRUE(servers);
  EXPECT_TRUE(FromJson<v1::ListServersResponse>(servers->body).servers(0).draining());
}

TEST(AdminEndpointTest, TheJsonApiAnswersWhatGrpcAnswers) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->port("echo"));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->Echo("ping").ok());
    clients.push_back(std::move(*client));
  }
  // The server counts an echo's bytes as sent once its write returned, which may be after the
  // client read them: wait for all 12, so that nothing moves between the two calls below.
  ASSERT_TRUE(WaitUntil([&] {
    v1::ListServersResponse listed;
    return Grpc(*weftd)->ListServers(Context().get(), {}, &listed).ok() &&
           listed.servers_size() == 1 && listed.servers(0).sent_bytes_total() == 12;
  }));
  auto http = Http(*weftd);
  httplib::Result servers = http->Get("/api/v1/servers");
  ASSERT_TRUE(servers);
  EXPECT_EQ(servers->status, 200);
  EXPECT_EQ(servers->get_header_value("Content-Type"), "application/json");
  const auto from_http = FromJson<v1::ListServersResponse>(servers->body);
  v1::ListServersResponse from_grpc;
  ASSERT_TRUE(Grpc(*weftd)->ListServers(Context().get(), {}, &from_grpc).ok());
  // Nothing moves between the two calls: the connections are open, idle and counted.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_http, from_grpc))
      << from_http.DebugString() << "\nvs\n"
      << from_grpc.DebugString();
  ASSERT_EQ(from_http.servers_size(), 1);
  EXPECT_EQ(from_http.servers(0).open_connections(), 3u);
  EXPECT_EQ(from_http.servers(0).received_bytes_total(), 12u);

  httplib::Result page = http->Get("/api/v1/servers/echo/tasks?pageSize=2");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  const auto first = FromJson<v1::ListTasksResponse>(page->body);
  EXPECT_EQ(first.tasks_size(), 2);
  EXPECT_EQ(first.total_size(), 3u);
  ASSERT_FALSE(first.next_page_token().empty());
  httplib::Result next = http->Get(
      absl::StrCat("/api/v1/servers/echo/tasks?pageSize=2&pageToken=", first.next_page_token()));
  ASSERT_TRUE(next);
  const auto second = FromJson<v1::ListTasksResponse>(next->body);
  ASSERT_EQ(second.tasks_size(), 1);
  EXPECT_GT(second.tasks(0).id(), first.tasks(1).id());
  EXPECT_TRUE(second.next_page_token().empty());
}

TEST(AdminEndpointTest, MetricsAgreeWithGetServer) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->port("echo"));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->Echo("0123456789").ok());
    clients.push_back(std::move(*client));
  }
  clients.back().Close();  // The peer ends one: counted as closed by the peer once it is gone.
  auto stub = Grpc(*weftd);
  v1::GetServerRequest get;
  get.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(WaitUntil([&] {
    server.Clear();
    return stub->GetServer(Context().get(), get, &server).ok() && server.open_connections() == 3;
  }));
  auto http = Http(*weftd);
  httplib::Result metrics = http->Get("/metrics");
  ASSERT_TRUE(metrics);
  ASSERT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics->body;
  auto value = [&](const std::string& series) {
    return control::admin::testing::SampleValue(text, series).value_or(-1);
  };
  EXPECT_EQ(value(R"(weft_connections_active{server="echo"})"), server.open_connections());
  EXPECT_EQ(value(R"(weft_connections_accepted_total{server="echo"})"), server.accepted_total());
  EXPECT_EQ(value(R"(weft_received_bytes_total{server="echo"})"), 40);
  EXPECT_EQ(value(R"(weft_sent_bytes_total{server="echo"})"), 40);
  EXPECT_EQ(value(R"(weft_connections_closed_total{server="echo",initiator="peer"})"), 1);
  EXPECT_EQ(value(R"(weft_connection_duration_seconds_count{server="echo"})"), 1);
  EXPECT_EQ(value(R"(weft_listener_accepting{server="echo"})"), 1);
  EXPECT_EQ(value(R"(weft_server_draining{server="echo"})"), 0);
  EXPECT_EQ(value(R"(weft_tasks_running{server="echo"})"), server.active_tasks());
  // The echo connection's thread waits in the idle-thread cache, or has just finished with it.
  EXPECT_GE(value(R"(weft_task_threads_idle{server="echo"})"), 0) << "the family is present";
  // The GetServer calls above were counted (this one's own status is sent after its answer).
  EXPECT_GE(value(R"(grpc_server_handled_total{grpc_type="unary",grpc_service=)"
                  R"("weft.control.v1.Control",grpc_method="GetServer",grpc_code="OK"})"),
            1);
  EXPECT_GT(value("process_open_fds"), 0);
  EXPECT_GT(value("process_resident_memory_bytes"), 0);
  EXPECT_THAT(text, HasSubstr("weft_build_info{version=\""));
  EXPECT_EQ(value("weft_process_generation"), 1) << "started fresh, not by a hand-off";
  EXPECT_EQ(value("weft_process_draining"), 0);
}

TEST(AdminEndpointTest, StatusPageShowsThePidGenerationAndStateOfWeftd) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  httplib::Result page = Http(*weftd)->Get("/status");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_THAT(page->body,
              HasSubstr(absl::StrCat("<span data-field=\"pid\">", weftd->pid(), "</span>")));
  EXPECT_THAT(page->body, HasSubstr("<span data-field=\"generation\">1</span>"));
  EXPECT_THAT(page->body, HasSubstr("<span data-field=\"state\">serving</span>"));
  EXPECT_THAT(page->body, HasSubstr("<p id=\"error\" role=\"alert\" hidden>"));

  // What the page's script refreshes the line from.
  httplib::Result api = Http(*weftd)->Get("/api/v1/process");
  ASSERT_TRUE(api);
  ASSERT_EQ(api->status, 200) << api->body;
  const auto process = FromJson<v1::Process>(api->body);
  EXPECT_EQ(process.pid(), weftd->pid());
  EXPECT_EQ(process.generation(), 1u);
  EXPECT_EQ(process.state(), v1::PROCESS_STATE_SERVING);
  EXPECT_FALSE(process.has_peer());
}

TEST(AdminEndpointTest, BadRequestsGetClearErrorsAndTheEndpointGoesOn) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  auto http = Http(*weftd);

  httplib::Result missing = http->Get("/api/v1/servers/nope/tasks");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr(R"("status":"NOT_FOUND")"));
  EXPECT_THAT(missing->body, HasSubstr(R"(server \"nope\" not found)"));

  httplib::Result bad_size = http->Get("/api/v1/servers?pageSize=many");
  ASSERT_TRUE(bad_size);
  EXPECT_EQ(bad_size->status, 400);
  EXPECT_THAT(bad_size->body, HasSubstr("pageSize must be a decimal integer"));

  httplib::Result post = http->Post("/api/v1/servers", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  EXPECT_EQ(StatusOf(http->Delete("/no/such/path")), 404);

  // A refused request's body is never taken for a request of its own: the connection answers
  // the refusal, serves nothing more and is closed.
  absl::StatusOr<LoopbackClient> post_body = LoopbackClient::Connect(weftd->admin_port());
  ASSERT_TRUE(post_body.ok());
  ASSERT_TRUE(post_body
                  ->Send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                         "GET /api/v1/servers HTTP/1.1\r\nHost: x\r\n\r\n")
                  .ok());
  absl::StatusOr<std::string> refused = post_body->ReadUntilClosed();
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_THAT(*refused, HasSubstr("405"));
  EXPECT_THAT(*refused, Not(HasSubstr("servers")));
  EXPECT_EQ(StatusOf(http->Get("/no/such/path")), 404);

  // A body over the limit is refused from its Content-Length, before it is read.
  absl::StatusOr<LoopbackClient> big = LoopbackClient::Connect(weftd->admin_port());
  ASSERT_TRUE(big.ok());
  ASSERT_TRUE(big->Send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n").ok());
  absl::StatusOr<std::string> too_large = big->ReadUntilClosed();
  ASSERT_TRUE(too_large.ok()) << too_large.status();
  EXPECT_THAT(*too_large, HasSubstr("413"));

  // Bytes that are not HTTP: answered 400 and closed, never a crash.
  absl::StatusOr<LoopbackClient> raw = LoopbackClient::Connect(weftd->admin_port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw->Send(std::string("\x16\x03\x01 not http at all\r\n\r\n", 22)).ok());
  absl::StatusOr<std::string> answer = raw->ReadUntilClosed();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_THAT(*answer, HasSubstr("400"));

  // A request line longer than the library's limit.
  httplib::Result long_uri = http->Get(absl::StrCat("/", std::string(20000, 'a')));
  ASSERT_TRUE(long_uri);
  EXPECT_GE(long_uri->status, 400);

  // Still serving: nothing above crashed it.
  EXPECT_EQ(StatusOf(http->Get("/healthz")), 200);
}

TEST(AdminEndpointTest, ClientsThatResetMidRequestLeaveItServing) {
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(Config());
  ASSERT_NE(weftd, nullptr);
  // Each asks for the largest answers and resets at once, so the endpoint's answers meet closed
  // connections.
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->admin_port());
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client
                    ->Send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    .ok());
    const linger reset{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(::setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  }
  // Alive and serving (right after the burst the gateway may still count the reset
  // connections against its cap, so a refused attempt is retried).
  auto http = Http(*weftd);
  EXPECT_TRUE(WaitUntil([&] { return StatusOf(http->Get("/metrics")) == 200; }));
}

TEST(AdminEndpointTest, TokensGuardEverythingButTheProbes) {
  const std::string viewer = WriteTempFile("viewer-token", kViewerToken);
  const std::string op = WriteTempFile("operator-token", kOperatorToken);
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(
      Config(absl::StrCat("tokens { role: ROLE_VIEWER token_file: \"", viewer,
                          "\" } tokens { role: ROLE_OPERATOR token_file: \"", op, "\" }")));
  ASSERT_NE(weftd, nullptr);
  auto http = Http(*weftd);
  EXPECT_EQ(StatusOf(http->Get("/healthz")), 200);
  EXPECT_EQ(StatusOf(http->Get("/readyz")), 200);

  httplib::Result anonymous = http->Get("/api/v1/servers");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_THAT(anonymous->get_header_value("WWW-Authenticate"), HasSubstr("Bearer"));
  EXPECT_THAT(anonymous->body, Not(HasSubstr("servers")));

  httplib::Result wrong = http->Get("/api/v1/servers", {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_THAT(wrong->body, Not(HasSubstr("nope")));

  for (const char* token : {kViewerToken, kOperatorToken}) {
    httplib::Result ok = http->Get("/api/v1/servers/echo/tasks",
                                   {{"Authorization", absl::StrCat("Bearer ", token)}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
  std::remove(viewer.c_str());
  std::remove(op.c_str());
}

TEST(AdminEndpointTest, ServesHttpsWithTheControlPlanesCertificateAndRequiresClientCertificates) {
  // The refused clients below write into connections the server closed (OpenSSL: SIGPIPE).
  ::signal(SIGPIPE, SIG_IGN);
  TestPki pki;
  ASSERT_TRUE(pki.Make().ok());
  std::unique_ptr<WeftdProcess> weftd = StartWeftd(
      Config(absl::StrCat("tls { cert_file: \"", pki.Cert("server"), "\" key_file: \"",
                          pki.Key("server"), "\" client_ca_file: \"", pki.Cert("ca"), "\" }")));
  ASSERT_NE(weftd, nullptr);

  httplib::SSLClient trusted("127.0.0.1", weftd->admin_port(), pki.Cert("client"),
                             pki.Key("client"));
  trusted.set_ca_cert_path(pki.Cert("ca").c_str());
  trusted.enable_server_certificate_verification(true);
  trusted.set_connection_timeout(10);
  trusted.set_read_timeout(10);
  httplib::Result ok = trusted.Get("/api/v1/servers");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200);

  httplib::SSLClient anonymous("127.0.0.1", weftd->admin_port());
  anonymous.set_ca_cert_path(pki.Cert("ca").c_str());
  anonymous.enable_server_certificate_verification(true);
  anonymous.set_connection_timeout(10);
  anonymous.set_read_timeout(10);
  EXPECT_FALSE(anonymous.Get("/api/v1/servers")) << "served a client without a certificate";

  httplib::Client plaintext("127.0.0.1", weftd->admin_port());
  plaintext.set_read_timeout(10);
  httplib::Result plain = plaintext.Get("/healthz");
  EXPECT_TRUE(!plain || plain->status >= 400);
}

TEST(AdminEndpointTest, StaysReachableUnderAFloodOfIdleConnections) {
  constexpr int kCap = 8;
  std::unique_ptr<WeftdProcess> weftd =
      StartWeftd(Config("", absl::StrCat("max_connections: ", kCap)));
  ASSERT_NE(weftd, nullptr);
  // Ten times the cap of connections that never send a byte, then some that stall mid-request.
  std::vector<LoopbackClient> flood;
  for (int i = 0; i < 10 * kCap; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd->admin_port());
    ASSERT_TRUE(client.ok()) << client.status();
    if (i % 2 == 1) ASSERT_TRUE(client->Send("GET /metrics HTTP/1.1\r\nHost: x\r\n").ok());
    flood.push_back(std::move(*client));
  }
  // At the cap, a newcomer replaces a flooding connection once that one is min_age old (the
  // gateway's policy): a client that retries gets through within about that long.
  auto http = Http(*weftd);
  int status = 0;
  int attempts = 0;
  ASSERT_TRUE(WaitUntil([&] {
    ++attempts;
    httplib::Result answer = http->Get("/api/v1/servers");
    status = answer ? answer->status : 0;
    return answer.error() == httplib::Error::Success;
  })) << "no answer in "
      << attempts << " attempts";
  EXPECT_EQ(status, 200);
  LOG(INFO) << "answered after " << attempts << " attempts";
}

TEST(AdminEndpointTest, ANonLoopbackAddressWithoutAuthIsRefusedAtStart) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(
      WEFTD_PATH, "admin { address: \"0.0.0.0:0\" }\n", {}, {}, absl::Seconds(10));
  ASSERT_FALSE(weftd.ok());
  EXPECT_THAT(weftd.status().message(), HasSubstr("admin.address"));
  EXPECT_THAT(weftd.status().message(), HasSubstr("not a loopback address"));
}

}  // namespace
}  // namespace weft::testing

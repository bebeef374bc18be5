// Scenario 8 — security of the control plane, against a real weftd: token files readable by
// group or others are refused (weftd does not start: a token is a password, and like ssh with a
// private key, a secret others can read is treated as already leaked); tokens — configured or
// presented — never appear in weftd's logs, text or JSON; under mutual TLS a client
// certificate from an untrusted CA (or none) is rejected; and a viewer can call no mutating
// method, each one checked by name against the service descriptor so that a method added later
// is covered or fails this test.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "control/tls_credentials.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/weftd_process.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft {
namespace {

namespace v1 = ::weft::control::v1;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WeftdProcess;

constexpr char kOperatorToken[] = "OPERATOR-SECRET-7f3a9c1e5b";
constexpr char kViewerToken[] = "VIEWER-SECRET-2d8e4b6a0c";
constexpr char kWrongToken[] = "PRESENTED-WRONG-SECRET-91ab";

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

class SecurityTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& file : files_) ::unlink(file.c_str());
  }

  std::string TokenFile(const std::string& token, int mode) {
    files_.push_back(testing::WriteTempFile("weft-sec-token", token, mode));
    return files_.back();
  }

  std::string Config(int operator_mode, const std::string& extra_control = "") {
    return absl::StrCat(
        "control { address: \"127.0.0.1:0\" ", extra_control,
        " tokens { role: ROLE_OPERATOR token_file: \"", TokenFile(kOperatorToken, operator_mode),
        "\" } tokens { role: ROLE_VIEWER token_file: \"", TokenFile(kViewerToken, 0600),
        "\" } }\n",
        "listeners { name: \"echo\" port: 0 handler { name: \"echo\" } drain_timeout: \"1s\" }\n");
  }

  std::vector<std::string> files_;
};

TEST_F(SecurityTest, TokenFilesReadableByOthersAreRefused) {
  int refused = 0;
  for (const int mode : {0644, 0640, 0604, 0620}) {
    SCOPED_TRACE(absl::StrFormat("mode %04o", mode));
    absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
        WeftdProcess::Start(WEFTD_PATH, Config(mode));
    ASSERT_FALSE(weftd.ok()) << "weftd started with a token file of mode " << mode;
    const std::string message(weftd.status().message());
    EXPECT_NE(message.find("chmod 600"), std::string::npos) << message;
    EXPECT_EQ(message.find(kOperatorToken), std::string::npos) << "the refusal quotes the token";
    ++refused;
  }
  testing::ReportFigure({.scenario = "security: token file permissions",
                         .load = "weftd started with an operator token file of mode 0644, "
                                 "0640, 0604, 0620",
                         .fault = "token file readable or writable by group or others",
                         .figure = absl::StrCat(refused, "/4 refused at startup ("
                                                         "\"chmod 600\" named, token not quoted)"),
                         .result = testing::ResultOfCurrentTest()});
}

// Exercise makes calls with the right, the wrong and the viewer token, including failing ones.
void Exercise(v1::Control::Stub* stub) {
  v1::ListServersResponse servers;
  EXPECT_TRUE(stub->ListServers(Context(kOperatorToken).get(), {}, &servers).ok());
  EXPECT_FALSE(stub->ListServers(Context(kWrongToken).get(), {}, &servers).ok());
  v1::StopServerRequest stop;
  stop.set_name("echo");
  v1::StopServerResponse stopped;
  EXPECT_EQ(stub->StopServer(Context(kViewerToken).get(), stop, &stopped).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_TRUE(stub->StopServer(Context(kOperatorToken).get(), stop, &stopped).ok());
  v1::RunServerRequest run;
  run.set_name("echo");
  v1::Server server;
  EXPECT_TRUE(stub->RunServer(Context(kOperatorToken).get(), run, &server).ok());
  // A token sent without its scheme, where a careless log line would quote "the scheme".
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", kWrongToken);
  EXPECT_FALSE(stub->ListServers(context.get(), {}, &servers).ok());
}

TEST_F(SecurityTest, TokensNeverAppearInWeftdLogs) {
  int runs = 0;
  std::size_t log_bytes = 0;
  for (const std::string format : {"text", "json"}) {
    SCOPED_TRACE(format);
    absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
        WeftdProcess::Start(WEFTD_PATH, Config(0600), {"--log-format", format});
    ASSERT_TRUE(weftd.ok()) << weftd.status();
    auto stub = v1::Control::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", (*weftd)->control_port()), grpc::InsecureChannelCredentials()));
    Exercise(stub.get());
    (*weftd)->process().Signal(SIGTERM);
    ASSERT_TRUE((*weftd)->process().Wait(absl::Seconds(10)).ok());
    const std::string log = (*weftd)->process().Stderr();
    log_bytes += log.size();
    EXPECT_NE(log.find("StopServer"), std::string::npos) << "nothing logged; nothing checked";
    for (const char* secret : {kOperatorToken, kViewerToken}) {
      EXPECT_EQ(log.find(secret), std::string::npos) << "a token is in the log:\n" << log;
    }
    // The wrong token was presented as a bearer token and bare, and refused.
    EXPECT_EQ(log.find(kWrongToken), std::string::npos) << "a presented token is in the log";
    ++runs;
  }
  testing::ReportFigure(
      {.scenario = "security: tokens in logs",
       .load = "weftd (text and JSON logs) with operator and viewer tokens; good, wrong, "
               "scheme-less and under-privileged calls",
       .fault = "secrets in request metadata and configuration",
       .figure = absl::StrCat(runs, "/2 runs: 0 occurrences of any token in ", log_bytes,
                              " bytes of log"),
       .result = testing::ResultOfCurrentTest()});
}

TEST_F(SecurityTest, UntrustedClientCertificateIsRejectedUnderMutualTls) {
  testing::TestPki pki;
  ASSERT_TRUE(pki.Make().ok());
  const std::string tls = absl::StrCat("tls { cert_file: \"", pki.Cert("server"),
                                       "\" key_file: \"", pki.Key("server"),
                                       "\" client_ca_file: \"", pki.Cert("ca"), "\" }");
  // A private key readable by the group is served, with a warning that names the file only.
  ASSERT_EQ(::chmod(pki.Key("server").c_str(), 0640), 0);
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
      WeftdProcess::Start(WEFTD_PATH, Config(0600, tls));
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  const std::string startup_log = (*weftd)->process().Stderr();
  EXPECT_NE(startup_log.find(absl::StrCat("the private key ", pki.Key("server"))),
            std::string::npos)
      << "no warning about the shared private key:\n" << startup_log;
  EXPECT_EQ(startup_log.find("PRIVATE KEY"), std::string::npos) << "key material in the log";
  const std::string target = absl::StrCat("127.0.0.1:", (*weftd)->control_port());
  auto call = [&](const control::ClientTlsFiles& files) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        control::MakeChannelCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    if (!credentials.ok()) return grpc::Status(grpc::INTERNAL, "");
    auto stub = v1::Control::NewStub(grpc::CreateChannel(target, *credentials));
    v1::ListServersResponse servers;
    return stub->ListServers(Context(kOperatorToken).get(), {}, &servers);
  };
  const grpc::Status trusted = call({.ca_file = pki.Cert("ca"),
                                     .cert_file = pki.Cert("client"),
                                     .key_file = pki.Key("client")});
  EXPECT_TRUE(trusted.ok()) << trusted.error_message();
  const grpc::Status rogue = call({.ca_file = pki.Cert("ca"),
                                   .cert_file = pki.Cert("rogue-client"),
                                   .key_file = pki.Key("rogue-client")});
  EXPECT_EQ(rogue.error_code(), grpc::UNAVAILABLE) << rogue.error_message();
  const grpc::Status none = call({.ca_file = pki.Cert("ca")});
  EXPECT_EQ(none.error_code(), grpc::UNAVAILABLE) << none.error_message();
  auto plain =
      v1::Control::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  v1::ListServersResponse servers;
  const grpc::Status plaintext = plain->ListServers(Context(kOperatorToken).get(), {}, &servers);
  EXPECT_EQ(plaintext.error_code(), grpc::UNAVAILABLE);
  testing::ReportFigure(
      {.scenario = "security: mTLS",
       .load = "weftd with TLS and client_ca_file (server key mode 0640: warned about); 4 "
               "clients",
       .fault = "client certificate from an untrusted CA; no certificate; plaintext",
       .figure = absl::StrFormat("trusted client: %s; rogue cert: %s; no cert: %s; plaintext: %s",
                                 trusted.ok() ? "OK" : "FAILED",
                                 rogue.ok() ? "ACCEPTED" : "rejected",
                                 none.ok() ? "ACCEPTED" : "rejected",
                                 plaintext.ok() ? "ACCEPTED" : "rejected"),
       .result = testing::ResultOfCurrentTest()});
}

TEST_F(SecurityTest, ViewerCanNeverMutate) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
      WeftdProcess::Start(WEFTD_PATH, Config(0600));
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  auto stub = v1::Control::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*weftd)->control_port()), grpc::InsecureChannelCredentials()));
  // A live task, so that StopTask / RemoveTask would have something to act on.
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect((*weftd)->port("echo"));
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(client->Echo("x").value_or(""), "x");
  v1::ListTasksRequest list;
  list.set_server("echo");
  v1::ListTasksResponse tasks;
  ASSERT_TRUE(stub->ListTasks(Context(kViewerToken).get(), list, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 1);
  const std::uint64_t task = tasks.tasks(0).id();

  const std::set<std::string> reads = {"ListServers", "GetServer", "ListTasks", "WatchEvents",
                                       "GetProcess"};
  std::map<std::string, std::function<grpc::Status()>> mutations = {
      {"RunServer", [&] {
         v1::RunServerRequest r;
         r.set_name("echo");
         v1::Server out;
         return stub->RunServer(Context(kViewerToken).get(), r, &out);
       }},
      {"StopAccepting", [&] {
         v1::StopAcceptingRequest r;
         r.set_name("echo");
         v1::Server out;
         return stub->StopAccepting(Context(kViewerToken).get(), r, &out);
       }},
      {"StopServer", [&] {
         v1::StopServerRequest r;
         r.set_name("echo");
         v1::StopServerResponse out;
         return stub->StopServer(Context(kViewerToken).get(), r, &out);
       }},
      {"UpdateServer", [&] {
         v1::UpdateServerRequest r;
         r.set_name("echo");
         r.set_max_connections(1);
         v1::Server out;
         return stub->UpdateServer(Context(kViewerToken).get(), r, &out);
       }},
      {"StopTask", [&] {
         v1::StopTaskRequest r;
         r.set_server("echo");
         r.set_task_id(task);
         v1::StopTaskResponse out;
         return stub->StopTask(Context(kViewerToken).get(), r, &out);
       }},
      {"RemoveTask", [&] {
         v1::RemoveTaskRequest r;
         r.set_server("echo");
         r.set_task_id(task);
         v1::RemoveTaskResponse out;
         return stub->RemoveTask(Context(kViewerToken).get(), r, &out);
       }},
      {"StopTasks", [&] {
         v1::StopTasksRequest r;
         r.set_server("echo");
         r.mutable_filter()->set_peer("127.0.0.0/8");
         v1::StopTasksResponse out;
         return stub->StopTasks(Context(kViewerToken).get(), r, &out);
       }},
      // Not a mutation, but operator-only: the audit trail names callers and their peers.
      {"ListAuditRecords", [&] {
         v1::ListAuditRecordsResponse out;
         return stub->ListAuditRecords(Context(kViewerToken).get(), v1::ListAuditRecordsRequest(),
                                       &out);
       }},
  };
  // Every method of the service is either a read or checked here.
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "weft.control.v1.Control");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string name(service->method(i)->name());
    EXPECT_TRUE(reads.count(name) == 1 || mutations.count(name) == 1)
        << "method " << name << " is not classified: add it to this test";
  }
  int denied = 0;
  std::vector<std::string> names;
  for (const auto& [name, call] : mutations) {
    const grpc::Status status = call();
    EXPECT_EQ(status.error_code(), grpc::PERMISSION_DENIED) << name << ": "
                                                            << status.error_message();
    if (status.error_code() == grpc::PERMISSION_DENIED) ++denied;
    names.push_back(name);
  }
  // Nothing changed: still running, no limit, the task still served.
  v1::GetServerRequest get;
  get.set_name("echo");
  v1::Server server;
  ASSERT_TRUE(stub->GetServer(Context(kViewerToken).get(), get, &server).ok());
  EXPECT_EQ(server.state(), v1::SERVER_STATE_RUNNING);
  EXPECT_EQ(server.max_connections(), 0u);
  EXPECT_EQ(client->Echo("still").value_or(""), "still");
  testing::ReportFigure(
      {.scenario = "security: viewer role",
       .load = "every mutating method of weft.control.v1.Control (checked against the "
               "service descriptor)",
       .fault = "called with a viewer token",
       .figure = absl::StrCat(denied, "/", mutations.size(), " PERMISSION_DENIED (",
                              absl::StrJoin(names, ", "), "); server and task untouched"),
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

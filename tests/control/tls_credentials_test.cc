// TLS and mutual TLS over a real in-process gRPC server, with certificates made by the openssl
// command at test time; and bearer tokens checked by Authorize inside a real call.
#include "control/tls_credentials.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "control/auth.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace v1 = ::weft::control::v1;

// Run executes a shell command and fails the test if it fails.
void Run(const std::string& command) {
  int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << command;
}

void WriteFile(const std::filesystem::path& path, absl::string_view contents, mode_t mode) {
  std::ofstream(path) << contents;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// Pki: a CA, a server certificate for 127.0.0.1 and localhost and a client certificate signed
// by it, and a second, untrusted CA with a client certificate of its own. Made once per suite.
class Pki {
 public:
  explicit Pki(std::filesystem::path dir) : dir_(std::move(dir)) {}

  void Make() {
    MakeCa("ca");
    MakeCa("rogue-ca");
    WriteFile(dir_ / "server.ext",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", 0600);
    WriteFile(dir_ / "client.ext", "extendedKeyUsage=clientAuth\n", 0600);
    MakeLeaf("server", "ca", "server.ext");
    MakeLeaf("client", "ca", "client.ext");
    MakeLeaf("rogue-client", "rogue-ca", "client.ext");
  }

  std::string File(const std::string& name) const { return (dir_ / name).string(); }
  std::string Cert(absl::string_view name) const { return File(absl::StrCat(name, ".crt")); }
  std::string Key(absl::string_view name) const { return File(absl::StrCat(name, ".key")); }

 private:
  static constexpr char kOpenssl[] = "openssl";
  static constexpr char kKeyOptions[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

  void MakeCa(absl::string_view name) {
    Run(absl::StrCat(kOpenssl, " req -x509 -batch ", kKeyOptions, " -days 2 -subj '/CN=", name,
                     "' -addext basicConstraints=critical,CA:TRUE",
                     " -addext keyUsage=critical,keyCertSign,cRLSign -keyout ", Key(name), " -out ",
                     Cert(name), " 2>/dev/null"));
  }

  void MakeLeaf(absl::string_view name, absl::string_view ca, absl::string_view extensions) {
    std::string csr = File(absl::StrCat(name, ".csr"));
    Run(absl::StrCat(kOpenssl, " req -batch ", kKeyOptions, " -subj '/CN=", name, "' -keyout ",
                     Key(name), " -out ", csr, " 2>/dev/null"));
    Run(absl::StrCat(kOpenssl, " x509 -req -days 2 -set_serial 0x", ++serial_, " -in ", csr,
                     " -CA ", Cert(ca), " -CAkey ", Key(ca), " -extfile ",
                     File(std::string(extensions)), " -out ", Cert(name), " 2>/dev/null"));
  }

  std::filesystem::path dir_;
  int serial_ = 1000;
};

// FakeControl answers ListServers (viewer) and StopServer (operator) after Authorize.
class FakeControl final : public v1::Control::Service {
 public:
  explicit FakeControl(const Authenticator* auth) : auth_(auth) {}

  grpc::Status ListServers(grpc::ServerContext* context, const v1::ListServersRequest*,
                           v1::ListServersResponse*) override {
    return ToGrpc(auth_->Authorize(*context, Role::kViewer, "ListServers"));
  }
  grpc::Status StopServer(grpc::ServerContext* context, const v1::StopServerRequest*,
                          v1::StopServerResponse*) override {
    return ToGrpc(auth_->Authorize(*context, Role::kOperator, "StopServer"));
  }

 private:
  static grpc::Status ToGrpc(const absl::Status& status) {
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        std::string(status.message()));
  }

  const Authenticator* auth_;
};

class TlsCredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "tls_test.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = new std::filesystem::path(pattern);
    pki_ = new Pki(*dir_);
    pki_->Make();
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete pki_;
    delete dir_;
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // Serve starts a FakeControl using auth_ on 127.0.0.1, port 0, with `files`.
  void Serve(const std::optional<TlsFiles>& files) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(files);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    service_ = std::make_unique<FakeControl>(auth_.get());
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }

  // ListServers calls the server with `files`, sending `token` as a bearer token unless empty.
  // The client dials 127.0.0.1 and expects the certificate to name `server_name`; it never
  // resolves a name (c-ares leaks a little per lookup of "localhost", failing ASan).
  grpc::Status ListServers(const std::optional<ClientTlsFiles>& files,
                           const std::string& server_name = "127.0.0.1",
                           absl::string_view token = "") {
    v1::ListServersResponse response;
    return Call(files, server_name, token,
                [&](v1::Control::Stub& stub, grpc::ClientContext* context) {
                  return stub.ListServers(context, v1::ListServersRequest(), &response);
                });
  }

  grpc::Status StopServer(const std::optional<ClientTlsFiles>& files, absl::string_view token) {
    v1::StopServerResponse response;
    return Call(files, "127.0.0.1", token,
                [&](v1::Control::Stub& stub, grpc::ClientContext* context) {
                  return stub.StopServer(context, v1::StopServerRequest(), &response);
                });
  }

  template <typename Rpc>
  grpc::Status Call(const std::optional<ClientTlsFiles>& files, const std::string& server_name,
                    absl::string_view token, Rpc rpc) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(files);
    if (!credentials.ok()) {
      ADD_FAILURE() << credentials.status();
      return grpc::Status(grpc::StatusCode::INTERNAL, "no channel credentials");
    }
    grpc::ChannelArguments arguments;
    if (files.has_value()) arguments.SetSslTargetNameOverride(server_name);
    std::unique_ptr<v1::Control::Stub> stub = v1::Control::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), *credentials, arguments));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return rpc(*stub, &context);
  }

  TlsFiles ServerFiles() const {
    return {.cert_file = pki_->Cert("server"), .key_file = pki_->Key("server")};
  }
  TlsFiles MutualServerFiles() const {
    TlsFiles files = ServerFiles();
    files.client_ca_file = pki_->Cert("ca");
    return files;
  }
  ClientTlsFiles ClientFiles(absl::string_view client = "") const {
    ClientTlsFiles files{.ca_file = pki_->Cert("ca")};
    if (!client.empty()) {
      files.cert_file = pki_->Cert(client);
      files.key_file = pki_->Key(client);
    }
    return files;
  }

  static std::filesystem::path* dir_;
  static Pki* pki_;

  std::unique_ptr<Authenticator> auth_ = Authenticator::Open();
  std::unique_ptr<FakeControl> service_;
  std::unique_ptr<grpc::Server> server_;  // destroyed before the service it calls
  int port_ = 0;
};

std::filesystem::path* TlsCredentialsTest::dir_ = nullptr;
Pki* TlsCredentialsTest::pki_ = nullptr;

TEST_F(TlsCredentialsTest, PlaintextServesPlaintextClients) {
  Serve(std::nullopt);
  EXPECT_TRUE(ListServers(std::nullopt).ok());
}

TEST_F(TlsCredentialsTest, TlsClientTrustingTheCaSucceedsByAddressAndByName) {
  Serve(ServerFiles());
  grpc::Status by_address = ListServers(ClientFiles());
  EXPECT_TRUE(by_address.ok()) << by_address.error_message();
  grpc::Status by_name = ListServers(ClientFiles(), "localhost");
  EXPECT_TRUE(by_name.ok()) << by_name.error_message();
}

TEST_F(TlsCredentialsTest, TlsClientRefusesACertificateNamingAnotherHost) {
  Serve(ServerFiles());
  EXPECT_EQ(ListServers(ClientFiles(), "weft.example").error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, PlaintextClientFailsAgainstTls) {
  Serve(ServerFiles());
  EXPECT_EQ(ListServers(std::nullopt).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, ClientTrustingAnotherCaFails) {
  Serve(ServerFiles());
  ClientTlsFiles files = ClientFiles();
  files.ca_file = pki_->Cert("rogue-ca");
  EXPECT_EQ(ListServers(files).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, MutualTlsAcceptsAClientCertificateSignedByTheClientCa) {
  Serve(MutualServerFiles());
  grpc::Status status = ListServers(ClientFiles("client"));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsCredentialsTest, MutualTlsRefusesAClientWithoutCertificate) {
  Serve(MutualServerFiles());
  EXPECT_EQ(ListServers(ClientFiles()).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, MutualTlsRefusesAClientCertificateFromAnotherCa) {
  Serve(MutualServerFiles());
  EXPECT_EQ(ListServers(ClientFiles("rogue-client")).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, BearerTokensAreAuthorizedOverMutualTls) {
  WriteFile(*dir_ / "viewer.token", "viewer-secret\n", 0600);
  WriteFile(*dir_ / "operator.token", "operator-secret\n", 0600);
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load({{Role::kViewer, pki_->File("viewer.token")},
                           {Role::kOperator, pki_->File("operator.token")}});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auth_ = *std::move(auth);
  Serve(MutualServerFiles());
  ClientTlsFiles client = ClientFiles("client");

  EXPECT_TRUE(ListServers(client, "127.0.0.1", "viewer-secret").ok());
  grpc::Status denied = StopServer(client, "viewer-secret");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(), "role viewer may not call StopServer (requires operator)");
  EXPECT_TRUE(StopServer(client, "operator-secret").ok());
  grpc::Status anonymous = ListServers(client);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status wrong = ListServers(client, "127.0.0.1", "guessed-secret");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr("guessed-secret")));
}

TEST_F(TlsCredentialsTest, AMismatchedKeyFailsWhenTheServerStarts) {
  TlsFiles files = ServerFiles();
  files.key_file = pki_->Key("client");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(files);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  service_ = std::make_unique<FakeControl>(auth_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  EXPECT_EQ(server_, nullptr);
}

TEST_F(TlsCredentialsTest, MissingFilesAreNotFoundAndNamed) {
  std::string absent = pki_->File("absent.pem");
  for (TlsFiles files :
       {TlsFiles{absent, pki_->Key("server"), ""}, TlsFiles{pki_->Cert("server"), absent, ""},
        TlsFiles{pki_->Cert("server"), pki_->Key("server"), absent}}) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(files);
    EXPECT_EQ(credentials.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(credentials.status().message(), HasSubstr(absent));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel =
      MakeChannelCredentials(ClientTlsFiles{.ca_file = absent});
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TlsCredentialsTest, UnreadableFilesArePermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  WriteFile(*dir_ / "unreadable.pem", "-----BEGIN CERTIFICATE-----\n", 0200);
  TlsFiles files = ServerFiles();
  files.cert_file = pki_->File("unreadable.pem");
  EXPECT_EQ(MakeServerCredentials(files).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TlsCredentialsTest, FilesWithoutPemBlockAreInvalid) {
  WriteFile(*dir_ / "not.pem", "just some text\n", 0600);
  TlsFiles files = ServerFiles();
  files.key_file = pki_->File("not.pem");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(files);
  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(credentials.status().message(), HasSubstr(files.key_file));
  EXPECT_EQ(MakeChannelCredentials(ClientTlsFiles{.ca_file = files.key_file}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsCredentialsTest, IncompleteFileSetsAreInvalid) {
  EXPECT_EQ(MakeServerCredentials(TlsFiles{.cert_file = pki_->Cert("server")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials(TlsFiles{.key_file = pki_->Key("server")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ClientTlsFiles half = ClientFiles("client");
  half.key_file.clear();
  EXPECT_EQ(MakeChannelCredentials(half).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace weft::control

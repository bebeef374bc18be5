// Scenario 8 — the control plane on the bad day (issue 13), against a real weftd on every
// control transport (TCP, unix socket, TLS, mutual TLS) at RLIMIT_NOFILE 128 and 1024:
//
//  - DataPlaneFlood: more data clients than the process has descriptors. The listeners shed
//    past their descriptor budget (refusal reason DESCRIPTOR_BUDGET, in GetServer and in the
//    event stream), no client hangs, and every control call — GetServer, ListTasks,
//    ListServers, then UpdateServer, StopTask, StopAccepting, StopServer — answers within 3 s on
//    a new connection.
//  - ControlFlood: 400 idle raw connections, 400 stalled handshakes (a partial TLS record, or a
//    partial HTTP/2 preface on plaintext transports) and 50 clients that flood HTTP/2 PINGs
//    (after a real TLS handshake on TLS transports) and never read, all against the control
//    endpoint. A legitimate
//    control client gets an answer within 3 s, the data plane serves an existing and a new
//    client, and within 5 s of the flood ending the descriptors and threads are back where
//    they were and control answers again.
//
// Every control call uses a new channel that shares no subchannel, so no test waits on gRPC's
// reconnect back-off. Bounds are 3x longer in sanitizer builds (weftd runs 5-15x slower).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "control/gateway/control_gateway.h"
#include "control/tls_credentials.h"
#include "gtest/gtest.h"
#include "tests/control/admin/exposition_samples.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/weftd_process.h"
#include "weft/control/v1/control.grpc.pb.h"
#include "weft/unique_fd.h"

namespace weft {
namespace {

namespace v1 = ::weft::control::v1;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using ::weft::testing::WeftdProcess;

constexpr absl::Duration kAnswerBound = absl::Seconds(testing::kSanitized ? 9 : 3);
constexpr absl::Duration kRecoveryBound = absl::Seconds(testing::kSanitized ? 15 : 5);

enum class Transport { kTcp, kUnix, kTls, kMutualTls };

const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kTcp:
      return "tcp";
    case Transport::kUnix:
      return "unix";
    case Transport::kTls:
      return "tls";
    case Transport::kMutualTls:
      return "mtls";
  }
  return "?";
}

struct Setup {
  Transport transport;
  int limit;  // weftd's RLIMIT_NOFILE.
};

std::string SetupName(const ::testing::TestParamInfo<Setup>& info) {
  return absl::StrCat(TransportName(info.param.transport), "_nofile", info.param.limit);
}

bool IsTls(Transport transport) {
  return transport == Transport::kTls || transport == Transport::kMutualTls;
}

// RawConnect connects a plain socket to the control endpoint (TCP port or unix path); the
// connect is bounded by a send timeout.
UniqueFd RawConnect(Transport transport, int port, const std::string& unix_path) {
  const bool is_unix = transport == Transport::kUnix;
  UniqueFd fd(::socket(is_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int rc;
  if (is_unix) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, unix_path.c_str(), sizeof addr.sun_path - 1);
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  }
  if (rc != 0) fd.Reset();
  return fd;
}

// SendWhatFits sends from `bytes` without blocking until the socket is full; returns the count.
std::size_t SendWhatFits(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

// TlsFlooder: a TLS client (OpenSSL) that completes the handshake on a connected socket, then
// writes without blocking until the connection pushes back, and never reads.
class TlsFlooder {
 public:
  // Start: false if the handshake fails. `cert`/`key` empty = no client certificate.
  bool Start(UniqueFd fd, const std::string& cert, const std::string& key,
             const std::string& bytes) {
    fd_ = std::move(fd);
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (ctx_ == nullptr) return false;
    SSL_CTX_set_alpn_protos(ctx_.get(), reinterpret_cast<const unsigned char*>("\x02h2"), 3);
    if (!cert.empty() &&
        (SSL_CTX_use_certificate_chain_file(ctx_.get(), cert.c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx_.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)) {
      return false;
    }
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_.get());
    // The socket has send and receive timeouts: a stalled handshake fails instead of hanging.
    if (SSL_connect(ssl_.get()) != 1) return false;
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const int n = SSL_write(ssl_.get(), bytes.data() + sent,
                              static_cast<int>(std::min<std::size_t>(bytes.size() - sent, 16384)));
      if (n <= 0) break;  // SSL_ERROR_WANT_WRITE: the connection pushes back.
      sent += static_cast<std::size_t>(n);
    }
    ERR_clear_error();
    return true;
  }

 private:
  struct FreeCtx {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };
  struct FreeSsl {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  UniqueFd fd_;
  std::unique_ptr<SSL_CTX, FreeCtx> ctx_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
};

// PingFlood: the HTTP/2 client preface, an empty SETTINGS frame and `pings` PING frames.
std::string PingFlood(int pings) {
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  out.append("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  for (int i = 0; i < pings; ++i) {
    out.append("\x00\x00\x08\x06\x00\x00\x00\x00\x00", 9);
    out.append(8, static_cast<char>(i));
  }
  return out;
}

class ControlLockoutTest : public ::testing::TestWithParam<Setup> {
 protected:
  void SetUp() override {
    testing::RaiseDescriptorLimit();
    // OpenSSL writes with write(2): a flooder whose connection the gateway closed would get
    // SIGPIPE instead of an error.
    ::signal(SIGPIPE, SIG_IGN);
    const Transport transport = GetParam().transport;
    std::string control;
    switch (transport) {
      case Transport::kTcp:
        control = R"(address: "127.0.0.1:0")";
        break;
      case Transport::kUnix:
        unix_path_ = absl::StrCat("/tmp/weft-lockout-", ::getpid(), ".sock");
        control = absl::StrCat(R"(address: "unix:)", unix_path_, R"(")");
        break;
      case Transport::kTls:
      case Transport::kMutualTls:
        ASSERT_TRUE(pki_.Make().ok());
        control = absl::StrCat(R"(address: "127.0.0.1:0" tls { cert_file: ")", pki_.Cert("server"),
                               R"(" key_file: ")", pki_.Key("server"), "\"",
                               transport == Transport::kMutualTls
                                   ? absl::StrCat(R"( client_ca_file: ")", pki_.Cert("ca"), "\"")
                                   : std::string(),
                               " }");
        break;
    }
    // The admin endpoint follows the control plane's TLS; its connections are reserved too.
    const std::string config = absl::StrCat(
        "control { ", control, " }\n", R"(admin { address: "127.0.0.1:0" max_connections: 4 })",
        "\n", R"(listeners { name: "echo" port: 0 handler { name: "echo" } drain_timeout: "1s" })");
    absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
        WeftdProcess::Start(WEFTD_PATH, config, {},
                            testing::ChildProcess::Options{.descriptor_limit = GetParam().limit});
    ASSERT_TRUE(weftd.ok()) << weftd.status();
    weftd_ = std::move(*weftd);
    echo_port_ = weftd_->port("echo");
    std::optional<control::ClientTlsFiles> tls;
    if (IsTls(transport)) {
      tls = control::ClientTlsFiles{.ca_file = pki_.Cert("ca")};
      if (transport == Transport::kMutualTls) {
        tls->cert_file = pki_.Cert("client");
        tls->key_file = pki_.Key("client");
      }
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        control::MakeChannelCredentials(tls);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    credentials_ = std::move(*credentials);
    ASSERT_NE(echo_port_, 0);
  }

  void TearDown() override {
    weftd_.reset();
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  }

  // Stub returns a stub on a new channel with a subchannel of its own.
  std::unique_ptr<v1::Control::Stub> Stub() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    const std::string target = GetParam().transport == Transport::kUnix
                                   ? absl::StrCat("unix:", unix_path_)
                                   : absl::StrCat("127.0.0.1:", weftd_->control_port());
    return v1::Control::NewStub(grpc::CreateCustomChannel(target, credentials_, args));
  }

  static void Bound(grpc::ClientContext* context, absl::Duration bound = kAnswerBound) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + bound));
  }

  UniqueFd Raw() { return RawConnect(GetParam().transport, weftd_->control_port(), unix_path_); }

  // FirstAnswer retries ListServers on new channels until one answers, for up to kAnswerBound;
  // returns how long that took, or nullopt.
  std::optional<absl::Duration> FirstAnswer() {
    const absl::Time start = absl::Now();
    const bool answered = WaitUntil(
        [&] {
          grpc::ClientContext context;
          Bound(&context, std::max(start + kAnswerBound - absl::Now(), absl::Milliseconds(1)));
          v1::ListServersResponse response;
          return Stub()->ListServers(&context, {}, &response).ok();
        },
        kAnswerBound);
    if (!answered) return std::nullopt;
    return absl::Now() - start;
  }

  bool Alive() { return ::waitpid(weftd_->pid(), nullptr, WNOHANG) == 0; }

  testing::TestPki pki_;
  std::string unix_path_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::unique_ptr<WeftdProcess> weftd_;
  std::uint16_t echo_port_ = 0;
};

TEST_P(ControlLockoutTest, DataPlaneFloodLeavesEveryControlCallAnswering) {
  const int limit = GetParam().limit;
  const int clients = std::max(400, limit + 300);
  ASSERT_LT(clients + 200, testing::DescriptorLimit()) << "the test needs descriptors";
  const int idle_fds = testing::CountFdsOf(weftd_->pid());

  // A watcher, subscribed before the flood, must see the budget refusals.
  grpc::ClientContext watch_context;
  Bound(&watch_context, absl::Seconds(120));
  std::unique_ptr<v1::Control::Stub> watch_stub = Stub();
  v1::WatchEventsRequest watch_request;
  watch_request.set_server("echo");
  std::unique_ptr<grpc::ClientReader<v1::Event>> watch =
      watch_stub->WatchEvents(&watch_context, watch_request);
  // The headers come once weftd has subscribed the stream: the flood starts after.
  watch->WaitForInitialMetadata();
  std::atomic<bool> saw_budget_refusal{false};
  std::thread watcher([&] {
    v1::Event event;
    while (watch->Read(&event)) {
      if (event.type() == v1::EVENT_TYPE_CONNECTION_REFUSED &&
          event.refusal_reason() == v1::REFUSAL_REASON_DESCRIPTOR_BUDGET) {
        saw_budget_refusal.store(true);
      }
    }
  });
  struct StopWatch {
    grpc::ClientContext* context;
    std::thread* watcher;
    ~StopWatch() {
      context->TryCancel();
      watcher->join();
    }
  } stop_watch{&watch_context, &watcher};

  std::vector<LoopbackClient> data;
  int connect_failed = 0;
  for (int i = 0; i < clients; ++i) {
    absl::StatusOr<LoopbackClient> client =
        LoopbackClient::Connect(echo_port_, "127.0.0.1", absl::Seconds(5));
    if (client.ok()) {
      data.push_back(std::move(*client));
    } else {
      ++connect_failed;
    }
  }
  for (LoopbackClient& client : data) (void)client.Send("ping");
  int served = 0, shed = 0, hung = 0;
  std::vector<LoopbackClient> kept;
  const absl::Time read_deadline = absl::Now() + absl::Seconds(10);
  for (LoopbackClient& client : data) {
    absl::StatusOr<std::string> reply =
        client.ReadExactly(4, std::max(read_deadline - absl::Now(), absl::Milliseconds(1)));
    if (reply.ok() && *reply == "ping") {
      ++served;
      kept.push_back(std::move(client));
    } else if (!reply.ok() && absl::IsDeadlineExceeded(reply.status())) {
      ++hung;
    } else {
      ++shed;
    }
  }
  // While the served connections stay open the refusals are the newest events, which the hub
  // keeps for a watcher that fell behind; closing them first would publish as many stops, and a
  // slow watcher could lose the refusals among the oldest.
  EXPECT_TRUE(WaitUntil([&] { return saw_budget_refusal.load(); }, kAnswerBound))
      << "no DESCRIPTOR_BUDGET refusal event reached the watcher";
  data.clear();
  EXPECT_EQ(hung, 0) << "data clients neither served nor refused";
  EXPECT_GT(served, 0);
  EXPECT_GT(shed, 0) << "the flood did not reach the budget; nothing tested";
  ASSERT_TRUE(Alive()) << weftd_->process().Stderr();
  const int saturated_fds = testing::CountFdsOf(weftd_->pid());
  EXPECT_LT(saturated_fds, limit) << "weftd reached its descriptor limit";
  // Saturated, the process settles to idle: no accept loop or poller spins on a full descriptor
  // table. The flood's events still being written to the watcher are finite work (about a
  // second of gRPC writes under TSan), a spin is not: the quietest of up to 5 one-second
  // windows counts.
  double cpu = 1.0;
  for (int window = 0; window < 5 && cpu >= 0.10; ++window) {
    absl::StatusOr<double> share = testing::CpuShare(weftd_->pid(), absl::Seconds(1));
    ASSERT_TRUE(share.ok()) << share.status();
    cpu = std::min(cpu, *share);
  }
  EXPECT_LT(cpu, 0.10) << "saturated weftd used " << cpu * 100 << "% of a core in each of 5 s";

  // Every read-only call answers on a new connection within the bound.
  absl::Duration slowest;
  auto timed = [&](const char* what, auto call) {
    const absl::Time start = absl::Now();
    const grpc::Status status = call();
    slowest = std::max(slowest, absl::Now() - start);
    EXPECT_TRUE(status.ok()) << what << " under the flood: " << status.error_message()
                             << "\nweftd stderr:\n"
                             << weftd_->process().Stderr();
    return status.ok();
  };
  v1::Server server;
  timed("GetServer", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::GetServerRequest request;
    request.set_name("echo");
    return Stub()->GetServer(&context, request, &server);
  });
  std::uint64_t budget_refusals = 0;
  for (const v1::RefusalCount& count : server.refused_by_reason()) {
    if (count.reason() == v1::REFUSAL_REASON_DESCRIPTOR_BUDGET) budget_refusals = count.count();
  }
  EXPECT_GT(budget_refusals, 0u) << server.ShortDebugString();
  v1::ListTasksResponse tasks;
  timed("ListTasks", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::ListTasksRequest request;
    request.set_server("echo");
    return Stub()->ListTasks(&context, request, &tasks);
  });
  EXPECT_EQ(tasks.total_size(), static_cast<std::uint32_t>(served));
  timed("ListServers", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::ListServersResponse response;
    return Stub()->ListServers(&context, {}, &response);
  });

  // The dashboards' endpoint answers as well, and shows the shedding.
  {
    const Transport transport = GetParam().transport;
    const bool mutual = transport == Transport::kMutualTls;
    httplib::Client admin(absl::StrCat(IsTls(transport) ? "https" : "http",
                                       "://127.0.0.1:", weftd_->admin_port()),
                          mutual ? pki_.Cert("client") : "", mutual ? pki_.Key("client") : "");
    if (IsTls(transport)) admin.set_ca_cert_path(pki_.Cert("ca"));
    admin.set_connection_timeout(absl::ToChronoSeconds(kAnswerBound));
    admin.set_read_timeout(absl::ToChronoSeconds(kAnswerBound));
    const absl::Time start = absl::Now();
    httplib::Result metrics = admin.Get("/metrics");
    slowest = std::max(slowest, absl::Now() - start);
    ASSERT_TRUE(metrics) << "/metrics under the flood: " << httplib::to_string(metrics.error());
    EXPECT_EQ(metrics->status, 200);
    EXPECT_GT(control::admin::testing::SampleValue(
                  metrics->body,
                  R"(weft_connections_rejected_total{server="echo",reason="descriptor_budget"})")
                  .value_or(0),
              0);
  }

  // And every mutating call works.
  timed("UpdateServer", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::UpdateServerRequest request;
    request.set_name("echo");
    request.set_max_connections(10);
    v1::Server response;
    return Stub()->UpdateServer(&context, request, &response);
  });
  if (tasks.tasks_size() > 0) {
    timed("StopTask", [&] {
      grpc::ClientContext context;
      Bound(&context);
      v1::StopTaskRequest request;
      request.set_server("echo");
      request.set_task_id(tasks.tasks(0).id());
      request.mutable_timeout()->set_nanos(100'000'000);
      v1::StopTaskResponse response;
      return Stub()->StopTask(&context, request, &response);
    });
  }
  timed("StopAccepting", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::StopAcceptingRequest request;
    request.set_name("echo");
    v1::Server response;
    return Stub()->StopAccepting(&context, request, &response);
  });
  v1::StopServerResponse stopped;
  timed("StopServer", [&] {
    grpc::ClientContext context;
    Bound(&context, kAnswerBound + absl::Seconds(1));  // Includes its 0.1 s drain.
    v1::StopServerRequest request;
    request.set_name("echo");
    request.mutable_drain_timeout()->set_nanos(100'000'000);
    return Stub()->StopServer(&context, request, &stopped);
  });
  EXPECT_EQ(stopped.server().state(), v1::SERVER_STATE_STOPPED);
  kept.clear();

  // The operator brings it back, and it serves.
  v1::Server rerun;
  timed("RunServer", [&] {
    grpc::ClientContext context;
    Bound(&context);
    v1::RunServerRequest request;
    request.set_name("echo");
    return Stub()->RunServer(&context, request, &rerun);
  });
  // The listener's port is 0 in the configuration: it runs on a new ephemeral port.
  absl::StatusOr<LoopbackClient> back =
      LoopbackClient::Connect(static_cast<std::uint16_t>(rerun.port()));
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<std::string> echoed = back->Echo("back", kAnswerBound);
  EXPECT_TRUE(echoed.ok() && *echoed == "back") << echoed.status();
  back->Close();

  // Nothing leaked: the listener runs again as at the start, and the only connection left is
  // the watcher's (client socket, the gateway's backend socket and gRPC's end of it).
  const int expected_fds =
      idle_fds + static_cast<int>(control::ControlGateway::kDescriptorsPerConnection);
  EXPECT_TRUE(
      WaitUntil([&] { return testing::CountFdsOf(weftd_->pid()) <= expected_fds; }, kRecoveryBound))
      << testing::CountFdsOf(weftd_->pid()) << " descriptors open, " << expected_fds
      << " expected (" << idle_fds << " at start, plus the watcher's connection)";
  const int after_fds = testing::CountFdsOf(weftd_->pid());

  weftd_->process().Signal(SIGTERM);
  absl::StatusOr<int> status = weftd_->process().Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << "no exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;

  testing::ReportFigure(
      {.scenario =
           absl::StrCat("data-plane flood, control over ", TransportName(GetParam().transport)),
       .load = absl::StrCat(clients, " echo clients at once"),
       .fault = absl::StrCat("weftd RLIMIT_NOFILE=", limit),
       .figure = absl::StrFormat(
           "%d served, %d shed (%d by the descriptor budget), 0 hung; fds %d before, %d/%d "
           "flooded, %d after; CPU %.1f%% of a core; slowest of 8 control calls on a new "
           "connection %d ms",
           served, shed + connect_failed, static_cast<int>(budget_refusals), idle_fds,
           saturated_fds, limit, after_fds, cpu * 100,
           static_cast<int>(absl::ToInt64Milliseconds(slowest))),
       .result = testing::ResultOfCurrentTest()});
}

TEST_P(ControlLockoutTest, ControlEndpointFloodLeavesControlAndDataServing) {
  const Transport transport = GetParam().transport;
  absl::StatusOr<LoopbackClient> existing = LoopbackClient::Connect(echo_port_);
  ASSERT_TRUE(existing.ok());
  ASSERT_TRUE(existing->Echo("before").ok());
  // The baseline: one data client and one control call made (gRPC starts threads and
  // descriptors of its own on first use).
  const int before_first_call = testing::CountFdsOf(weftd_->pid());
  ASSERT_TRUE(FirstAnswer().has_value()) << weftd_->process().Stderr();
  // Its connection closes asynchronously; the baseline is taken once it has.
  WaitUntil([&] { return testing::CountFdsOf(weftd_->pid()) <= before_first_call; },
            kRecoveryBound);
  const int idle_fds = testing::CountFdsOf(weftd_->pid());
  const int idle_threads = testing::CountThreadsOf(weftd_->pid());

  // The flood.
  std::vector<UniqueFd> flood;
  int idle = 0, stalled = 0, slow = 0;
  // First, while slots are free: clients that flood PINGs (each answered with a PING ACK) and never
  // read what comes back. Over TLS they complete a real handshake first (with the client
  // certificate under mutual TLS: a broken client, not an outsider).
  const std::string pings = PingFlood(2000);
  std::vector<TlsFlooder> tls_flooders;
  for (int i = 0; i < 50; ++i) {
    UniqueFd fd = Raw();
    if (!fd.valid()) continue;
    const int small = 4096;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (!IsTls(transport)) {
      SendWhatFits(fd.get(), pings);
      flood.push_back(std::move(fd));
      ++slow;
      continue;
    }
    const bool mutual = transport == Transport::kMutualTls;
    TlsFlooder flooder;
    if (flooder.Start(std::move(fd), mutual ? pki_.Cert("client") : "",
                      mutual ? pki_.Key("client") : "", pings)) {
      ++slow;
    }
    tls_flooders.push_back(std::move(flooder));
  }
  for (int i = 0; i < 400; ++i) {
    if (UniqueFd fd = Raw(); fd.valid()) {
      flood.push_back(std::move(fd));
      ++idle;
    }
  }
  // A handshake that never completes: a TLS record header announcing a 512-byte ClientHello and
  // only part of it, or part of the HTTP/2 preface.
  const std::string partial = IsTls(transport)
                                  ? std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)
                                  : std::string("PRI * HTTP/2.0\r\n");
  for (int i = 0; i < 400; ++i) {
    if (UniqueFd fd = Raw(); fd.valid()) {
      if (SendWhatFits(fd.get(), partial) == partial.size()) ++stalled;
      flood.push_back(std::move(fd));
    }
  }
  EXPECT_GT(slow, 0) << "no PING flooder got through; the slow-reader case is not tested";
  ASSERT_TRUE(Alive()) << weftd_->process().Stderr();

  // A legitimate operator gets through.
  const std::optional<absl::Duration> first = FirstAnswer();
  EXPECT_TRUE(first.has_value()) << "no control answer within " << kAnswerBound
                                 << " under the flood\nweftd stderr:\n"
                                 << weftd_->process().Stderr();
  {
    // (A ClientContext holds its channel, and so its connection, until it is destroyed.)
    grpc::ClientContext context;
    Bound(&context);
    // At the cap the gateway refuses a new connection while every held one is younger than its
    // minimum age (the previous call's connection may not have closed yet): like any gRPC
    // client that must get through, this one waits for a connection within its deadline.
    context.set_wait_for_ready(true);
    v1::GetServerRequest get;
    get.set_name("echo");
    v1::Server server;
    const grpc::Status got = Stub()->GetServer(&context, get, &server);
    EXPECT_TRUE(got.ok()) << got.error_message();
  }

  // The data plane serves the existing client and new ones.
  absl::StatusOr<std::string> again = existing->Echo("during", kAnswerBound);
  EXPECT_TRUE(again.ok() && *again == "during") << again.status();
  constexpr int kDataRequests = 100;
  int data_served = 0;
  for (int i = 0; i < kDataRequests; ++i) {
    absl::StatusOr<LoopbackClient> fresh =
        LoopbackClient::Connect(echo_port_, "127.0.0.1", kAnswerBound);
    if (!fresh.ok()) continue;
    absl::StatusOr<std::string> echoed = fresh->Echo("new", kAnswerBound);
    if (echoed.ok() && *echoed == "new") ++data_served;
  }
  EXPECT_EQ(data_served, kDataRequests);
  const int flooded_fds = testing::CountFdsOf(weftd_->pid());
  EXPECT_LT(flooded_fds, GetParam().limit);

  // The flood ends: everything returns to where it was.
  flood.clear();
  tls_flooders.clear();
  const absl::Time ended = absl::Now();
  const bool fds_back =
      WaitUntil([&] { return testing::CountFdsOf(weftd_->pid()) <= idle_fds; }, kRecoveryBound);
  const int recovered_fds = testing::CountFdsOf(weftd_->pid());
  EXPECT_TRUE(fds_back) << recovered_fds << " descriptors open, " << idle_fds
                        << " before the flood";
  // gRPC's own pools (event_engine, default-executor, global timers, sync-server pollers) grow
  // by a few threads under a burst of calls and shrink on their own schedule, so a few stay;
  // a thread per flood connection (850 of them) would not.
  constexpr int kGrpcPoolSlack = 4;
  const bool threads_back = WaitUntil(
      [&] { return testing::CountThreadsOf(weftd_->pid()) <= idle_threads + kGrpcPoolSlack; },
      kRecoveryBound);
  const int recovered_threads = testing::CountThreadsOf(weftd_->pid());
  EXPECT_TRUE(threads_back) << recovered_threads << " threads, " << idle_threads
                            << " before the flood";
  const std::optional<absl::Duration> after = FirstAnswer();
  EXPECT_TRUE(after.has_value()) << "control did not answer after the flood";
  const absl::Duration recovery = absl::Now() - ended;
  EXPECT_LE(recovery, kRecoveryBound);

  testing::ReportFigure(
      {.scenario = absl::StrCat("control-endpoint flood over ", TransportName(transport)),
       .load = absl::StrCat(idle, " idle + ", stalled, " stalled handshakes + ", slow,
                            " non-reading PING flooders"),
       .fault = absl::StrCat("weftd RLIMIT_NOFILE=", GetParam().limit),
       .figure = absl::StrFormat(
           "first control answer %d ms; data plane served %d/%d new connections and the open "
           "one; %d fds during (%d before), back to %d fds, %d threads (%d before) and control "
           "answering %d ms after the flood",
           first.has_value() ? static_cast<int>(absl::ToInt64Milliseconds(*first)) : -1,
           data_served, kDataRequests, flooded_fds, idle_fds, recovered_fds, recovered_threads,
           idle_threads, static_cast<int>(absl::ToInt64Milliseconds(recovery))),
       .result = testing::ResultOfCurrentTest()});
}

INSTANTIATE_TEST_SUITE_P(
    Transports, ControlLockoutTest,
    ::testing::Values(Setup{Transport::kTcp, 128}, Setup{Transport::kUnix, 128},
                      Setup{Transport::kTls, 128}, Setup{Transport::kMutualTls, 128},
                      Setup{Transport::kTcp, 1024}, Setup{Transport::kUnix, 1024},
                      Setup{Transport::kTls, 1024}, Setup{Transport::kMutualTls, 1024}),
    SetupName);

}  // namespace
}  // namespace weft

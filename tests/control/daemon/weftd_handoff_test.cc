// weftd's listener hand-off (`handoff { path }`, `weftd --takeover=PATH`) with real weftd
// processes: the successor serves the same sockets, the predecessor drains and exits 0, and
// every failure — a bad successor, a second takeover, another user, either side dying mid-way —
// leaves a process accepting on every listener. Where a test needs a side to stop at a given
// step, the test itself speaks that side of the protocol (control/daemon/handoff/).
#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "control/daemon/handoff/handoff_channel.h"
#include "control/unix_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/weftd_process.h"
#include "weft/control/v1/control.grpc.pb.h"
#include "weft/control/v1/handoff.pb.h"
#include "weft/listen_socket.h"

namespace weft::control {
namespace {

using ::testing::HasSubstr;
using ::weft::testing::ChildProcess;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WeftdProcess;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// HandoffConfig: an echo listener, the control plane and the admin endpoint on port 0, and a
// hand-off socket at `path`. {LISTENER_PORT} and {EXTRA} may be replaced.
constexpr char kConfig[] = R"pb(
  control { address: "127.0.0.1:0" }
  admin { address: "127.0.0.1:0" }
  handoff { path: "{PATH}" }
  listeners {
    name: "echo"
    port: 0
    handler { name: "echo" }
    drain_timeout: "20s"
  }
)pb";

class WeftdHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/weftd-handoff-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/handoff.sock";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  std::string Config() const { return absl::StrReplaceAll(kConfig, {{"{PATH}", path_}}); }

  absl::StatusOr<std::unique_ptr<WeftdProcess>> StartWeftd() {
    return WeftdProcess::Start(WEFTD_PATH, Config());
  }
  absl::StatusOr<std::unique_ptr<WeftdProcess>> StartSuccessor(const std::string& config) {
    return WeftdProcess::Start(WEFTD_PATH, config, {"--takeover=" + path_});
  }

  // RunFailingSuccessor runs `weftd --config CONFIG --takeover=PATH` expecting it to fail, and
  // returns its exit code and stderr.
  std::pair<int, std::string> RunFailingSuccessor(const std::string& config) {
    const std::string file = weft::testing::WriteTempFile("weftd-successor", config);
    absl::StatusOr<ChildProcess> child =
        ChildProcess::Start({WEFTD_PATH, "--config", file, "--takeover=" + path_});
    if (!child.ok()) return {-1, std::string(child.status().message())};
    absl::StatusOr<int> status = child->Wait(kTimeout);
    ::unlink(file.c_str());
    if (!status.ok() || !WIFEXITED(*status)) return {-1, child->Stderr()};
    return {WEXITSTATUS(*status), child->Stderr()};
  }

  std::string dir_;
  std::string path_;
};

// LocalPortOf returns the port a TCP socket is bound to.
std::uint16_t LocalPortOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

// ExitCode waits for `weftd` to exit and returns its exit code (-1: killed by a signal or did
// not exit in time).
int ExitCode(WeftdProcess& weftd) {
  absl::StatusOr<int> status = weftd.process().Wait(kTimeout);
  if (!status.ok() || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

// Echoes: a connection to `port` is accepted and echoes.
absl::Status Echoes(std::uint16_t port) {
  absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(port);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> echoed = client->Echo("ping\n");
  if (!echoed.ok()) return echoed.status();
  if (*echoed != "ping\n") return absl::DataLossError(absl::StrCat("echoed \"", *echoed, "\""));
  return absl::OkStatus();
}

// GetProcess asks the control plane on `port` which process answers.
absl::StatusOr<v1::Process> GetProcess(int port) {
  auto stub = v1::Control::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  v1::Process process;
  const grpc::Status status = stub->GetProcess(&context, v1::GetProcessRequest(), &process);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return process;
}

// ControlAnswers: the control plane on `port` answers ListServers.
absl::Status ControlAnswers(int port) {
  auto stub = v1::Control::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  v1::ListServersResponse response;
  const grpc::Status status = stub->ListServers(&context, v1::ListServersRequest(), &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return absl::OkStatus();
}

TEST_F(WeftdHandoffTest, TheSuccessorServesTheSameSocketsAndThePredecessorDrainsAndExitsZero) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  const std::uint16_t port = (*old)->port("echo");
  absl::StatusOr<LoopbackClient> long_lived = LoopbackClient::Connect(port);
  ASSERT_TRUE(long_lived.ok()) << long_lived.status();
  ASSERT_EQ(long_lived->Echo("before\n").value_or(""), "before\n");

  absl::StatusOr<std::unique_ptr<WeftdProcess>> successor = StartSuccessor(Config());
  ASSERT_TRUE(successor.ok()) << successor.status();
  EXPECT_EQ((*successor)->port("echo"), port);
  EXPECT_EQ((*successor)->control_port(), (*old)->control_port());
  EXPECT_EQ((*successor)->admin_port(), (*old)->admin_port());

  // The open connection stays with the predecessor, which is still serving it...
  EXPECT_EQ(long_lived->Echo("during\n").value_or(""), "during\n");
  // ...while new connections and control calls reach the successor.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Echoes(port).ok()) << "connect " << i;
  EXPECT_THAT((*old)->process().Stderr(), HasSubstr("hand-off: released 1 listeners"));
  // The control port is the successor's now; it shows its draining predecessor.
  absl::StatusOr<v1::Process> process = GetProcess((*successor)->control_port());
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_EQ(process->pid(), (*successor)->pid());
  EXPECT_EQ(process->generation(), 2u);
  EXPECT_EQ(process->state(), v1::PROCESS_STATE_SERVING);
  ASSERT_TRUE(process->has_peer());
  EXPECT_EQ(process->peer().role(), v1::PEER_ROLE_PREDECESSOR);
  EXPECT_EQ(process->peer().pid(), (*old)->pid());
  EXPECT_EQ(process->peer().generation(), 1u);
  EXPECT_EQ(process->peer().state(), v1::PROCESS_STATE_DRAINING);
  // So does weftctl, one row each.
  absl::StatusOr<ChildProcess> weftctl =
      ChildProcess::Start({WEFTCTL_PATH, "--target",
                           absl::StrCat("127.0.0.1:", (*successor)->control_port()), "process"});
  ASSERT_TRUE(weftctl.ok()) << weftctl.status();
  std::string table;
  for (absl::StatusOr<std::string> line = weftctl->ReadLine(kTimeout); line.ok();
       line = weftctl->ReadLine(kTimeout)) {
    absl::StrAppend(&table, *line, "\n");
  }
  EXPECT_THAT(table, HasSubstr(absl::StrCat((*successor)->pid())));
  EXPECT_THAT(table, HasSubstr(absl::StrCat((*old)->pid())));
  EXPECT_THAT(table, HasSubstr("predecessor"));
  EXPECT_THAT(table, HasSubstr("draining"));

  // The predecessor exits 0 once its last connection ends.
  long_lived->Close();
  EXPECT_EQ(ExitCode(**old), 0) << (*old)->process().Stderr();
  EXPECT_THAT((*old)->process().Stderr(), HasSubstr("drained: every connection has ended"));
  EXPECT_TRUE(Echoes(port).ok());
  // Once the predecessor has exited the successor forgets it.
  EXPECT_TRUE(weft::testing::WaitUntil([&] {
    absl::StatusOr<v1::Process> now = GetProcess((*successor)->control_port());
    return now.ok() && !now->has_peer();
  }));
  // The successor owns the path now: it can be replaced in turn.
  absl::StatusOr<std::unique_ptr<WeftdProcess>> third = StartSuccessor(Config());
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ((*third)->port("echo"), port);
  EXPECT_EQ(ExitCode(**successor), 0) << (*successor)->process().Stderr();
  EXPECT_TRUE(Echoes(port).ok());
}

TEST_F(WeftdHandoffTest, ASuccessorWithABadConfigExitsNonZeroAndThePredecessorKeepsServing) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  const std::uint16_t port = (*old)->port("echo");
  const auto [code, stderr_text] =
      RunFailingSuccessor(absl::StrReplaceAll(Config(), {{"port: 0", "port: 99999"}}));
  EXPECT_EQ(code, 1);
  EXPECT_THAT(stderr_text, HasSubstr("99999 is not a TCP port"));
  EXPECT_TRUE(Echoes(port).ok());
  EXPECT_TRUE(ControlAnswers((*old)->control_port()).ok());
  // Untouched: a good successor can still take over.
  absl::StatusOr<std::unique_ptr<WeftdProcess>> successor = StartSuccessor(Config());
  ASSERT_TRUE(successor.ok()) << successor.status();
  EXPECT_EQ((*successor)->port("echo"), port);
}

TEST_F(WeftdHandoffTest, ASuccessorThatCannotStartExitsNonZeroAndThePredecessorKeepsEverything) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  const std::uint16_t port = (*old)->port("echo");
  // A second listener on a port something else holds: the successor's Start fails after it has
  // received the sockets.
  absl::StatusOr<UniqueFd> taken = ListenTcp("127.0.0.1", 0, 1);
  ASSERT_TRUE(taken.ok()) << taken.status();
  const std::string busy_port = absl::StrCat(LocalPortOf(taken->get()));
  const std::string config = absl::StrCat(Config(), "listeners { name: \"busy\" port: ", busy_port,
                                          " handler { name: \"echo\" } }");
  const auto [code, stderr_text] = RunFailingSuccessor(config);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(stderr_text, HasSubstr("listener \"busy\""));
  EXPECT_TRUE(Echoes(port).ok());
  EXPECT_TRUE(ControlAnswers((*old)->control_port()).ok());
  EXPECT_THAT((*old)->process().Stderr(), HasSubstr("nothing was released"));
  // Nobody on the path: the takeover fails at once, naming it.
  const std::string nowhere = path_ + ".none";
  const std::string file = weft::testing::WriteTempFile("weftd-successor", Config());
  absl::StatusOr<ChildProcess> lost =
      ChildProcess::Start({WEFTD_PATH, "--config", file, "--takeover=" + nowhere});
  ASSERT_TRUE(lost.ok());
  absl::StatusOr<int> status = lost->Wait(kTimeout);
  ::unlink(file.c_str());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_THAT(lost->Stderr(), HasSubstr("no weftd answers on the hand-off socket " + nowhere));
}

TEST_F(WeftdHandoffTest, ASecondTakeoverWhileOneIsInProgressIsRefused) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  const std::uint16_t port = (*old)->port("echo");
  // A takeover that has its offer and has not answered yet.
  absl::StatusOr<HandoffChannel> first = HandoffChannel::Connect(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<HandoffRecord> offer = first->Receive(absl::Now() + kTimeout);
  ASSERT_TRUE(offer.ok()) << offer.status();
  ASSERT_TRUE(offer->message.has_offer());
  EXPECT_EQ(offer->message.offer().sockets_size(), 3);  // echo, control, admin.
  EXPECT_EQ(offer->fds.size(), 3u);
  EXPECT_EQ(offer->message.offer().generation(), 1u);
  EXPECT_EQ(offer->message.offer().pid(), (*old)->pid());

  const auto [code, stderr_text] = RunFailingSuccessor(Config());
  EXPECT_EQ(code, 1);
  EXPECT_THAT(stderr_text, HasSubstr("is in progress"));

  // The first one gives up without an answer: nothing was released.
  first = absl::CancelledError("hung up");
  offer->fds.clear();
  EXPECT_TRUE(Echoes(port).ok());
  absl::StatusOr<std::unique_ptr<WeftdProcess>> successor = StartSuccessor(Config());
  ASSERT_TRUE(successor.ok()) << successor.status();
  EXPECT_EQ((*successor)->port("echo"), port);
}

// ConnectAsNobody forks a child that drops to uid/gid 65534 and connects to the hand-off socket
// with raw system calls only (it runs in a copy of a threaded process). The child exits 0 when
// it was refused: a record mentioning "refused" and no descriptors; 2 when it got descriptors;
// 3 when it could not connect (EACCES).
int ConnectAsNobody(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(path);
  if (!addr.ok()) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(4);
    }
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) ::_exit(3);
    char data[4096];
    char control[CMSG_SPACE(sizeof(int) * 8)];
    iovec iov{.iov_base = data, .iov_len = sizeof data};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &header, 0);
    if (header.msg_controllen != 0) ::_exit(2);
    ::_exit(n > 0 && ::memmem(data, n, "refused", 7) != nullptr ? 0 : 5);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_F(WeftdHandoffTest, ATakeoverByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  // The socket's mode keeps other users out...
  EXPECT_EQ(ConnectAsNobody(path_), 3);
  // ...and should the mode be widened, weftd refuses them by their credentials, before it
  // offers anything.
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  EXPECT_EQ(ConnectAsNobody(path_), 0);
  EXPECT_THAT((*old)->process().Stderr(), HasSubstr("running as uid 65534"));
  EXPECT_TRUE(Echoes((*old)->port("echo")).ok());
}

TEST_F(WeftdHandoffTest, ASuccessorDyingAfterTheReleaseLosesNoListener) {
  absl::StatusOr<std::unique_ptr<WeftdProcess>> old = StartWeftd();
  ASSERT_TRUE(old.ok()) << old.status();
  const std::uint16_t port = (*old)->port("echo");
  {
    absl::StatusOr<HandoffChannel> successor = HandoffChannel::Connect(path_);
    ASSERT_TRUE(successor.ok()) << successor.status();
    absl::StatusOr<HandoffRecord> offer = successor->Receive(absl::Now() + kTimeout);
    ASSERT_TRUE(offer.ok()) << offer.status();
    v1::HandoffMessage ready;
    ready.mutable_ready()->add_listeners("echo");
    ready.mutable_ready()->set_control(true);
    ready.mutable_ready()->set_admin(true);
    ASSERT_TRUE(successor->Send(ready).ok());
    absl::StatusOr<HandoffRecord> released = successor->Receive(absl::Now() + kTimeout);
    ASSERT_TRUE(released.ok()) << released.status();
    ASSERT_TRUE(released->message.has_released());
    // Dies here, with its copies of the sockets, before it says done.
  }
  // The predecessor takes everything back: what connects meanwhile waits in the backlog.
  EXPECT_TRUE(Echoes(port).ok());
  EXPECT_TRUE(ControlAnswers((*old)->control_port()).ok());
  EXPECT_THAT((*old)->process().Stderr(), HasSubstr("took the listening sockets back"));
  // And it can be taken over again.
  absl::StatusOr<std::unique_ptr<WeftdProcess>> successor = StartSuccessor(Config());
  ASSERT_TRUE(successor.ok()) << successor.status();
  EXPECT_EQ((*successor)->port("echo"), port);
  EXPECT_TRUE(Echoes(port).ok());
}

TEST_F(WeftdHandoffTest, APredecessorDyingMidHandOffLosesNoListener) {
  // The test plays a predecessor that offers a listening socket, then dies once the successor
  // says ready, before it releases anything.
  absl::StatusOr<UniqueFd> listening = ListenTcp("127.0.0.1", 0, 64);
  ASSERT_TRUE(listening.ok()) << listening.status();
  const std::uint16_t port = LocalPortOf(listening->get());
  absl::StatusOr<UniqueFd> handoff = ListenUnix(path_, SOCK_SEQPACKET, 4);
  ASSERT_TRUE(handoff.ok()) << handoff.status();
  const std::string file = weft::testing::WriteTempFile("weftd-successor", Config());
  absl::StatusOr<ChildProcess> successor =
      ChildProcess::Start({WEFTD_PATH, "--config", file, "--takeover=" + path_});
  ASSERT_TRUE(successor.ok()) << successor.status();
  {
    pollfd ready{.fd = handoff->get(), .events = POLLIN, .revents = 0};
    ASSERT_EQ(::poll(&ready, 1, static_cast<int>(absl::ToInt64Milliseconds(kTimeout))), 1);
    HandoffChannel channel(UniqueFd(::accept4(handoff->get(), nullptr, nullptr, SOCK_CLOEXEC)));
    v1::HandoffMessage offer;
    offer.mutable_offer()->set_pid(::getpid());
    offer.mutable_offer()->set_generation(7);
    v1::HandoffSocket* socket = offer.mutable_offer()->add_sockets();
    socket->set_kind(v1::HANDOFF_SOCKET_KIND_LISTENER);
    socket->set_name("echo");
    socket->set_address(absl::StrCat("127.0.0.1:", port));
    ASSERT_TRUE(channel.Send(offer, {listening->get()}).ok());
    absl::StatusOr<HandoffRecord> ready_record = channel.Receive(absl::Now() + kTimeout);
    ASSERT_TRUE(ready_record.ok()) << ready_record.status() << successor->Stderr();
    ASSERT_TRUE(ready_record->message.has_ready());
    EXPECT_THAT(ready_record->message.ready().listeners(), ::testing::ElementsAre("echo"));
    EXPECT_EQ(ready_record->message.ready().generation(), 8u);
    // Dies: the hand-off connection, its listener and its copy of the TCP socket go.
  }
  handoff->Reset();
  listening->Reset();
  absl::StatusOr<std::string> line = successor->ReadLine(kTimeout);
  ::unlink(file.c_str());
  ASSERT_TRUE(line.ok()) << line.status() << successor->Stderr();
  EXPECT_THAT(*line, HasSubstr(absl::StrCat("listeners=echo=", port)));
  EXPECT_TRUE(Echoes(port).ok());
  EXPECT_THAT(successor->Stderr(), HasSubstr("died during the hand-off; serving alone"));
}

}  // namespace
}  // namespace weft::control

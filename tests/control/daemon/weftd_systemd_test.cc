// weftd under systemd's protocols, without systemd: socket activation through Debian's
// systemd-socket-activate (which passes sockets exactly as a .socket unit does), and the
// sd_notify messages of Type=notify read from a datagram socket the test makes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/weftd_process.h"
#include "weft/base/log.h"
#include "weft/listen_socket.h"
#include "weft/unique_fd.h"

namespace weft {
namespace {

using ::testing::HasSubstr;
using ::weft::testing::ChildProcess;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using ::weft::testing::WeftdProcess;
using ::weft::testing::WriteTempFile;

constexpr char kSocketActivate[] = "/usr/bin/systemd-socket-activate";
constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr absl::Duration kExitTimeout = absl::Seconds(20);

// kConfig: "echo" takes a passed socket when there is one; "web" always binds its own.
// LISTENER_PORT is replaced by the echo listener's configured port.
constexpr char kConfig[] = R"pb(
  control { address: "127.0.0.1:0" }
  listeners {
    name: "echo"
    address: "127.0.0.1"
    port: LISTENER_PORT
    handler { name: "echo" }
    drain_timeout: "5s"
  }
  listeners {
    name: "web"
    port: 0
    handler { name: "http-hello" }
  }
)pb";

std::string Config(std::uint16_t echo_port) {
  return absl::StrReplaceAll(kConfig, {{"LISTENER_PORT", absl::StrCat(echo_port)}});
}

// ExitCode returns the exit code of a wait status, or -1 if the process did not exit normally.
int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Activated: systemd-socket-activate listening on `ports`, waiting for the first connection to
// start weftd (exec: weftd keeps its pid).
struct Activated {
  std::unique_ptr<ChildProcess> process;
  std::vector<std::uint16_t> ports;
  std::string config_path;

  ~Activated() {
    process.reset();
    if (!config_path.empty()) ::unlink(config_path.c_str());
  }
};

// FreePorts returns `n` distinct loopback ports that were free a moment ago
// (systemd-socket-activate cannot bind port 0).
absl::StatusOr<std::vector<std::uint16_t>> FreePorts(std::size_t n) {
  std::vector<UniqueFd> held;  // Held until all are picked, so that no port comes twice.
  std::vector<std::uint16_t> ports;
  while (ports.size() < n) {
    absl::StatusOr<UniqueFd> socket = ListenTcp("127.0.0.1", 0, /*backlog=*/1);
    if (!socket.ok()) return socket.status();
    absl::StatusOr<Endpoint> local = CheckListeningSocket(socket->get());
    if (!local.ok()) return local.status();
    ports.push_back(local->port);
    held.push_back(std::move(*socket));
  }
  return ports;
}

// SocketActivate runs `systemd-socket-activate -l 127.0.0.1:PORT... --fdname=NAME:... weftd
// --config FILE`, one port per name in `fd_names`, with the config `config_for(first PORT)`,
// and waits until it listens. Ports taken between FreePorts and the bind are tried again with
// others.
absl::Status SocketActivate(const std::vector<std::string>& fd_names,
                            std::string (*config_for)(std::uint16_t port), Activated* activated) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<std::vector<std::uint16_t>> ports = FreePorts(fd_names.size());
    if (!ports.ok()) return ports.status();
    activated->ports = *ports;
    if (!activated->config_path.empty()) ::unlink(activated->config_path.c_str());
    activated->config_path = WriteTempFile("weftd-systemd-test", config_for(ports->front()));
    std::vector<std::string> argv = {kSocketActivate};
    // systemd-socket-activate gives its child a fresh environment: pass on what the test's
    // sanitizer builds rely on (suppressions, the time zone that keeps glibc's mktime quiet).
    for (const char* name : {"TSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TZ"}) {
      if (std::getenv(name) != nullptr) argv.push_back(absl::StrCat("--setenv=", name));
    }
    for (const std::uint16_t port : *ports) {
      argv.insert(argv.end(), {"-l", absl::StrCat("127.0.0.1:", port)});
    }
    argv.insert(argv.end(), {absl::StrCat("--fdname=", absl::StrJoin(fd_names, ":")), WEFTD_PATH,
                             "--config", activated->config_path});
    absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv);
    if (!process.ok()) return process.status();
    activated->process = std::make_unique<ChildProcess>(std::move(*process));
    // "Listening on 127.0.0.1:PORT as 3." per port, or "Failed to open '127.0.0.1:PORT': ..."
    const auto listening = [&](const std::string& stderr_text) {
      return std::all_of(ports->begin(), ports->end(), [&](std::uint16_t port) {
        return absl::StrContains(stderr_text, absl::StrCat("Listening on 127.0.0.1:", port));
      });
    };
    std::string stderr_text;
    WaitUntil(
        [&] {
          stderr_text = activated->process->Stderr();
          return listening(stderr_text) || absl::StrContains(stderr_text, "Failed");
        },
        kStartTimeout);
    if (listening(stderr_text)) return absl::OkStatus();
    if (!absl::StrContains(stderr_text, "Address already in use")) {
      return absl::InternalError(
          absl::StrCat("systemd-socket-activate did not listen; stderr:\n", stderr_text));
    }
  }
  return absl::InternalError("every port tried was taken meanwhile");
}

// Configs for SocketActivate: the echo listener on any port, or one below the socket's.
std::string AnyPortConfig(std::uint16_t) { return Config(0); }
std::string PortBelowConfig(std::uint16_t port) { return Config(port - 1); }

// ExpectExitsOneWithoutServing: the first connection starts weftd, which exits 1 without a ready
// line.
void ExpectExitsOneWithoutServing(Activated& weftd) {
  absl::StatusOr<LoopbackClient> trigger = LoopbackClient::Connect(weftd.ports.front());
  ASSERT_TRUE(trigger.ok()) << trigger.status();
  absl::StatusOr<int> status = weftd.process->Wait(kExitTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(ExitCode(*status), 1);
  EXPECT_FALSE(weftd.process->ReadLine(absl::Seconds(1)).ok()) << "a ready line";
}

class WeftdSocketActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kSocketActivate, X_OK) != 0) {
      GTEST_SKIP() << kSocketActivate << " is missing (Debian package systemd)";
    }
  }
};

TEST_F(WeftdSocketActivationTest, TheNamedListenerServesThePassedSocketFromItsFirstConnection) {
  Activated weftd;
  ASSERT_TRUE(SocketActivate({"echo"}, AnyPortConfig, &weftd).ok());
  const std::uint16_t port = weftd.ports.front();
  {
    // This connection starts weftd, and waits in the socket's backlog until weftd accepts it.
    absl::StatusOr<LoopbackClient> first = LoopbackClient::Connect(port);
    ASSERT_TRUE(first.ok()) << first.status();
    absl::StatusOr<std::string> ready = weftd.process->ReadLine(kStartTimeout);
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_THAT(*ready, HasSubstr(absl::StrCat("listeners=echo=", port, ",web=")));
    absl::StatusOr<std::string> echoed = first->Echo("made before weftd ran");
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_EQ(*echoed, "made before weftd ran");
    EXPECT_THAT(weftd.process->Stderr(),
                HasSubstr(absl::StrCat("listener \"echo\" socket-activated on 127.0.0.1:", port)));
  }  // Closed: the drain ends at once.
  weftd.process->Signal(SIGTERM);
  absl::StatusOr<int> status = weftd.process->Wait(kExitTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(ExitCode(*status), 0) << weftd.process->Stderr();
}

TEST_F(WeftdSocketActivationTest, ASocketNamedAfterNoListenerFailsStartUpNamingIt) {
  Activated weftd;
  ASSERT_TRUE(SocketActivate({"nosuch"}, AnyPortConfig, &weftd).ok());
  ExpectExitsOneWithoutServing(weftd);
  const std::string stderr_text = weftd.process->Stderr();
  EXPECT_THAT(stderr_text, HasSubstr("socket \"nosuch\""));
  EXPECT_THAT(stderr_text, HasSubstr("named after no listener (listeners: echo, web)"));
}

TEST_F(WeftdSocketActivationTest, ASocketOnAnotherPortThanItsListenersFailsStartUp) {
  Activated weftd;
  ASSERT_TRUE(SocketActivate({"echo"}, PortBelowConfig, &weftd).ok());
  ExpectExitsOneWithoutServing(weftd);
  const std::uint16_t port = weftd.ports.front();
  EXPECT_THAT(
      weftd.process->Stderr(),
      HasSubstr(absl::StrCat("listens on 127.0.0.1:", port,
                             " but listener \"echo\" is configured for 127.0.0.1:", port - 1)));
}

TEST_F(WeftdSocketActivationTest, TwoSocketsForOneListenerFailStartUp) {
  Activated weftd;
  ASSERT_TRUE(SocketActivate({"echo", "echo"}, AnyPortConfig, &weftd).ok());
  ExpectExitsOneWithoutServing(weftd);
  EXPECT_THAT(weftd.process->Stderr(), HasSubstr("two sockets are named \"echo\""));
}

// NotifySocket: the datagram socket systemd reads sd_notify messages from ($NOTIFY_SOCKET).
class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/weftd-notify-XXXXXX";
    CHECK(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/notify";
    fd_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    CHECK(fd_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    CHECK_LT(path_.size(), sizeof addr.sun_path);
    path_.copy(addr.sun_path, path_.size());
    CHECK_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  const std::string& path() const { return path_; }

  // Receive returns the next message; DEADLINE_EXCEEDED if none comes within `timeout`.
  absl::StatusOr<std::string> Receive(absl::Duration timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
      return absl::DeadlineExceededError("no sd_notify message");
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) return absl::ErrnoToStatus(errno, "recv");
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string dir_;
  std::string path_;
  UniqueFd fd_;
};

TEST(WeftdNotifyTest, TellsSystemdItIsReadyOnceServingAndThatItStopsWhenTheDrainStarts) {
  NotifySocket notify;
  ChildProcess::Options options;
  options.environment = {"NOTIFY_SOCKET=" + notify.path()};
  absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd =
      WeftdProcess::Start(WEFTD_PATH, Config(0), {}, options, kStartTimeout);
  ASSERT_TRUE(weftd.ok()) << weftd.status();
  absl::StatusOr<std::string> ready = notify.Receive(kStartTimeout);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, HasSubstr("READY=1\n"));
  EXPECT_THAT(*ready,
              HasSubstr(absl::StrCat("STATUS=serving; listeners echo=", (*weftd)->port("echo"))));
  (*weftd)->process().Signal(SIGTERM);
  absl::StatusOr<std::string> stopping = notify.Receive(kExitTimeout);
  ASSERT_TRUE(stopping.ok()) << stopping.status();
  EXPECT_THAT(*stopping, HasSubstr("STOPPING=1"));
  absl::StatusOr<int> status = (*weftd)->process().Wait(kExitTimeout);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(ExitCode(*status), 0);
}

}  // namespace
}  // namespace weft

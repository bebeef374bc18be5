// Scenario 10 — listener hand-off (issue 18): weftd is replaced 20 times in a row by
// `weftd --config NEW --takeover=PATH` while short clients (connect, echo one line, close) and
// long-lived ping-pong clients run. No hand-off may refuse a connect, reset a connection or
// truncate an echo; a long-lived connection stays on the process that accepted it until it ends
// (checked in /proc: the server end of the connection is a descriptor of that process), and every
// replaced process exits 0 once its connections have ended.
//
// Probes of the admin endpoint (GET /healthz, one connection each) run too: its socket is handed
// over with the listeners'.
//
// Successors alternate between the two ways of naming the inherited sockets: port 0 everywhere
// (takes the inherited socket's port) and the explicit ports an operator's config would carry.
//
// Sizes: WEFT_HANDOFF_COUNT (default 20), WEFT_HANDOFF_SHORT_CLIENTS (default 4),
// WEFT_HANDOFF_LONG_CLIENTS (default 4), WEFT_HANDOFF_ADMIN_CLIENTS (default 1).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/testing/figure.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/process_stats.h"
#include "tests/testing/weftd_process.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"

namespace weft {
namespace {

using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using ::weft::testing::WeftdProcess;

// Long enough for every long-lived connection to end on its own: a drain that has to close
// connections would break them.
constexpr char kDrainTimeout[] = "20s";
constexpr absl::Duration kIoTimeout = absl::Seconds(5);
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
// A replaced process exits once its long-lived connections have ended (at most
// kHandoffsPerLongConnection hand-offs later) and it has logged its drain.
constexpr absl::Duration kExitTimeout = absl::Seconds(30);
// Client pacing: a short client opens a connection this often at most (an admin prober too); a
// long-lived one exchanges a line this often.
constexpr absl::Duration kShortPace = absl::Milliseconds(1);
constexpr absl::Duration kLongPace = absl::Milliseconds(5);
// A long-lived connection lasts this many hand-offs of the run, so each replaced process still
// serves connections after it has stopped accepting; kMaxLongLife bounds it if hand-offs stall.
constexpr int kHandoffsPerLongConnection = 3;
constexpr absl::Duration kMaxLongLife = absl::Seconds(20);
// Short connections served after each ready line before the next hand-off: the load is really
// running through every process.
constexpr std::int64_t kWarmConnects = 300;
// Bound on every client loop, even if never stopped.
constexpr int kMaxIterations = 200000;

// Failure: how one client operation went wrong.
enum Failure { kRefused, kReset, kTruncated, kMismatched, kTimedOut, kOtherError, kFailureCount };
constexpr std::array<const char*, kFailureCount> kFailureNames = {
    "refused", "reset", "truncated", "mismatched", "timed out", "other error"};

// ConnectFailure classifies a failed LoopbackClient::Connect.
Failure ConnectFailure(const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) return kTimedOut;
  if (absl::StrContains(status.message(), "refused")) return kRefused;
  return kOtherError;
}

// IoFailure classifies a failed LoopbackClient send or read.
Failure IoFailure(const absl::Status& status) {
  if (absl::IsOutOfRange(status)) return kTruncated;  // EOF before the whole answer
  if (absl::IsDeadlineExceeded(status)) return kTimedOut;
  if (absl::StrContains(status.message(), "reset") ||
      absl::StrContains(status.message(), "Broken pipe")) {
    return kReset;
  }
  return kOtherError;
}

// EchoFailure classifies a failed or wrong LoopbackClient::Echo; nullopt if it went right.
std::optional<Failure> EchoFailure(const absl::StatusOr<std::string>& echoed,
                                   absl::string_view sent) {
  if (!echoed.ok()) return IoFailure(echoed.status());
  return *echoed == sent ? std::nullopt : std::optional(kMismatched);
}

// HttpFailure classifies an HTTP/1.1 answer read until the server closed (or reset) the
// connection: nullopt for a whole 200 answer (body as long as its Content-Length).
std::optional<Failure> HttpFailure(const absl::StatusOr<std::string>& answer) {
  if (!answer.ok()) return IoFailure(answer.status());
  if (!absl::StartsWith(*answer, "HTTP/1.1 200 ")) {
    return answer->empty() ? kTruncated : kMismatched;
  }
  const std::pair<absl::string_view, absl::string_view> head_body =
      absl::StrSplit(*answer, absl::MaxSplits("\r\n\r\n", 1));
  for (absl::string_view header : absl::StrSplit(head_body.first, "\r\n")) {
    std::size_t length = 0;
    if (absl::ConsumePrefix(&header, "Content-Length: ") && absl::SimpleAtoi(header, &length)) {
      return length == head_body.second.size() ? std::nullopt : std::optional(kTruncated);
    }
  }
  return kTruncated;
}

// LocalPort returns the local port of connected socket `fd`, 0 on error.
std::uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

// ServerEndInode returns the inode of the established socket 127.0.0.1:server_port ->
// 127.0.0.1:client_port, from /proc/net/tcp; nullopt if there is none.
std::optional<std::string> ServerEndInode(std::uint16_t server_port, std::uint16_t client_port) {
  const std::string local = absl::StrFormat("0100007F:%04X", server_port);
  const std::string remote = absl::StrFormat("0100007F:%04X", client_port);
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  while (std::getline(tcp, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (fields.size() > 9 && fields[1] == local && fields[2] == remote && fields[3] == "01") {
      return std::string(fields[9]);
    }
  }
  return std::nullopt;
}

// HoldsSocket returns whether process `pid` has a descriptor on socket `inode`.
bool HoldsSocket(pid_t pid, const std::string& inode) {
  const std::string dir_path = absl::StrCat("/proc/", pid, "/fd");
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return false;
  const std::string wanted = absl::StrCat("socket:[", inode, "]");
  bool found = false;
  while (const dirent* entry = ::readdir(dir)) {
    char target[64];
    const std::string path = absl::StrCat(dir_path, "/", entry->d_name);
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
    if (n > 0 && absl::string_view(target, static_cast<std::size_t>(n)) == wanted) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

class HandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/weft-handoff-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    handoff_path_ = dir_ + "/handoff.sock";
  }

  void TearDown() override {
    StopLoad();
    processes_.clear();  // Kills whatever is still running.
    ::unlink(handoff_path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // Config: weftd's configuration; ports 0 ask for ephemeral ports (or, with --takeover, the
  // inherited sockets' ports).
  std::string Config(int control_port, int admin_port, int echo_port) const {
    return absl::StrCat("control { address: \"127.0.0.1:", control_port, "\" }\n",
                        "admin { address: \"127.0.0.1:", admin_port, "\" }\n",
                        "listeners { name: \"echo\" address: \"127.0.0.1\" port: ", echo_port,
                        " handler { name: \"echo\" } drain_timeout: \"", kDrainTimeout, "\" }\n",
                        "handoff { path: \"", handoff_path_, "\" }\n");
  }

  // Count records a failed client operation, and logs the first few for diagnosis.
  void Count(Failure failure, const std::string& what) {
    ++failures_[failure];
    if (logged_problems_.fetch_add(1) < 20) {
      LOG(ERROR) << kFailureNames[failure] << " after hand-off " << handoffs_done_.load() << ": "
                 << what;
    }
  }

  // Owner returns the weftd process that holds the server end of the connection from
  // `client_port`, 0 if none does.
  pid_t Owner(std::uint16_t client_port) ABSL_LOCKS_EXCLUDED(mu_) {
    const std::optional<std::string> inode = ServerEndInode(port_, client_port);
    if (!inode.has_value()) return 0;
    std::vector<pid_t> pids;
    {
      MutexLock lock(&mu_);
      pids = pids_;
    }
    for (pid_t pid : pids) {
      if (HoldsSocket(pid, *inode)) return pid;
    }
    return 0;
  }

  bool Replaced(pid_t pid) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return std::find(replaced_.begin(), replaced_.end(), pid) != replaced_.end();
  }

  // ShortClient: connect, echo one line, close, over and over.
  void ShortClient(int id) {
    for (int i = 0; i < kMaxIterations && !stop_.HasBeenNotified(); ++i) {
      absl::StatusOr<LoopbackClient> client =
          LoopbackClient::Connect(port_, "127.0.0.1", kIoTimeout);
      if (!client.ok()) {
        Count(ConnectFailure(client.status()),
              absl::StrCat("short ", id, ": connect: ", client.status().ToString()));
      } else {
        ++connects_;
        const std::string line = absl::StrCat("short ", id, " #", i, "\n");
        absl::StatusOr<std::string> echoed = client->Echo(line, kIoTimeout);
        if (std::optional<Failure> failure = EchoFailure(echoed, line)) {
          Count(*failure, absl::StrCat("short ", id, " #", i, ": ",
                                       echoed.ok() ? *echoed : echoed.status().ToString()));
        } else {
          ++short_echoes_;
        }
      }
      stop_.WaitForNotificationWithTimeout(kShortPace);
    }
  }

  // LongClient: one connection at a time, a line every kLongPace for kHandoffsPerLongConnection
  // hand-offs, then a clean close and the next connection. Checks that the process holding the
  // connection at its end is the one that accepted it, replaced by then unless the run stopped.
  void LongClient(int id) {
    int i = 0;
    while (i < kMaxIterations && !stop_.HasBeenNotified()) {
      absl::StatusOr<LoopbackClient> client =
          LoopbackClient::Connect(port_, "127.0.0.1", kIoTimeout);
      if (!client.ok()) {
        Count(ConnectFailure(client.status()),
              absl::StrCat("long ", id, ": connect: ", client.status().ToString()));
        ++i;
        stop_.WaitForNotificationWithTimeout(kLongPace);
        continue;
      }
      ++connects_;
      const int until_handoff = handoffs_done_.load() + kHandoffsPerLongConnection;
      const absl::Time until = absl::Now() + kMaxLongLife;
      pid_t owner = 0;
      bool broken = false;
      std::int64_t exchanges = 0;
      std::int64_t on_replaced = 0;
      while (i < kMaxIterations && !stop_.HasBeenNotified() &&
             handoffs_done_.load() < until_handoff && absl::Now() < until) {
        const std::string line = absl::StrCat("long ", id, " #", i++, "\n");
        absl::StatusOr<std::string> echoed = client->Echo(line, kIoTimeout);
        if (std::optional<Failure> failure = EchoFailure(echoed, line)) {
          Count(*failure, absl::StrCat("long ", id, " on pid ", owner, ": ",
                                       echoed.ok() ? *echoed : echoed.status().ToString()));
          broken = true;
          break;
        }
        ++long_exchanges_;
        ++exchanges;
        if (owner == 0) {
          // An echo proves the server has accepted the connection; a successor accepts before
          // its ready line, so its pid may not be known yet at the first one.
          owner = Owner(LocalPort(client->fd()));
        } else if (Replaced(owner)) {
          ++on_replaced;
        }
        stop_.WaitForNotificationWithTimeout(kLongPace);
      }
      if (broken || exchanges == 0) continue;
      if (owner == 0) {
        ++unidentified_;
      } else {
        const bool replaced = Replaced(owner);
        const pid_t last_owner = Owner(LocalPort(client->fd()));
        if (last_owner != owner) {
          ++moved_;
          LOG(ERROR) << "long " << id << ": accepted by pid " << owner << ", served at its end by "
                     << last_owner;
        } else if (replaced) {
          ++long_connections_outliving_their_process_;
        }
      }
      ++long_connections_;
      long_exchanges_on_replaced_ += on_replaced;
    }
  }

  // AdminClient: GET /healthz on a connection of its own, over and over; anything but a whole
  // 200 answer counts as a failure.
  void AdminClient(int id) {
    constexpr absl::string_view kRequest =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < kMaxIterations && !stop_.HasBeenNotified(); ++i) {
      absl::StatusOr<LoopbackClient> client =
          LoopbackClient::Connect(admin_port_, "127.0.0.1", kIoTimeout);
      if (!client.ok()) {
        Count(ConnectFailure(client.status()),
              absl::StrCat("admin ", id, ": connect: ", client.status().ToString()));
      } else {
        ++connects_;
        const absl::Status sent = client->Send(kRequest);
        const absl::StatusOr<std::string> answer =
            sent.ok() ? client->ReadUntilClosed(kIoTimeout) : absl::StatusOr<std::string>(sent);
        if (std::optional<Failure> failure = HttpFailure(answer)) {
          Count(*failure,
                absl::StrCat("admin ", id, " #", i, ": ",
                             answer.ok() ? answer->substr(0, 200) : answer.status().ToString()));
        } else {
          ++admin_probes_;
        }
      }
      stop_.WaitForNotificationWithTimeout(kShortPace);
    }
  }

  void StartLoad(int short_clients, int long_clients, int admin_clients) {
    for (int i = 0; i < long_clients; ++i) clients_.emplace_back([this, i] { LongClient(i); });
    for (int i = 0; i < admin_clients; ++i) clients_.emplace_back([this, i] { AdminClient(i); });
    for (int i = 0; i < short_clients; ++i) clients_.emplace_back([this, i] { ShortClient(i); });
  }

  void StopLoad() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    for (std::thread& client : clients_) client.join();
    clients_.clear();
  }

  // Adopt makes `weftd` the newest process the clients may find their connections on.
  void Adopt(std::unique_ptr<WeftdProcess> weftd) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (!processes_.empty()) replaced_.push_back(processes_.back()->pid());
    pids_.push_back(weftd->pid());
    processes_.push_back(std::move(weftd));
  }

  std::string dir_;
  std::string handoff_path_;
  // The echo listener's and the admin endpoint's ports, set before the clients start.
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
  // Every weftd started, oldest first; only the test thread touches it (the pids are copied).
  std::vector<std::unique_ptr<WeftdProcess>> processes_;
  Mutex mu_;
  std::vector<pid_t> pids_ ABSL_GUARDED_BY(mu_);
  std::vector<pid_t> replaced_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> handoffs_done_{0};

  std::array<std::atomic<std::int64_t>, kFailureCount> failures_{};
  std::atomic<int> logged_problems_{0};
  std::atomic<std::int64_t> connects_{0};
  std::atomic<std::int64_t> short_echoes_{0};
  std::atomic<std::int64_t> admin_probes_{0};
  std::atomic<std::int64_t> long_exchanges_{0};
  std::atomic<std::int64_t> long_connections_{0};
  std::atomic<std::int64_t> long_exchanges_on_replaced_{0};
  std::atomic<std::int64_t> long_connections_outliving_their_process_{0};
  std::atomic<std::int64_t> moved_{0};
  std::atomic<std::int64_t> unidentified_{0};

  Notification stop_;
  std::vector<std::thread> clients_;
};

TEST_F(HandoffTest, ConsecutiveTakeoversUnderLoadDropNoConnection) {
  const int handoff_count = static_cast<int>(testing::EnvInt("WEFT_HANDOFF_COUNT", 20));
  const int short_clients = static_cast<int>(testing::EnvInt("WEFT_HANDOFF_SHORT_CLIENTS", 4));
  const int long_clients = static_cast<int>(testing::EnvInt("WEFT_HANDOFF_LONG_CLIENTS", 4));
  const int admin_clients = static_cast<int>(testing::EnvInt("WEFT_HANDOFF_ADMIN_CLIENTS", 1));
  const absl::Time started = absl::Now();
  {
    absl::StatusOr<std::unique_ptr<WeftdProcess>> first =
        WeftdProcess::Start(WEFTD_PATH, Config(0, 0, 0), {}, {}, kStartTimeout);
    ASSERT_TRUE(first.ok()) << first.status();
    Adopt(std::move(*first));
  }
  const WeftdProcess& first = *processes_.front();
  port_ = first.port("echo");
  const int control_port = first.control_port();
  const int admin_port = first.admin_port();
  admin_port_ = static_cast<std::uint16_t>(admin_port);
  ASSERT_NE(port_, 0);
  ASSERT_NE(control_port, 0);
  ASSERT_NE(admin_port, 0);

  StartLoad(short_clients, long_clients, admin_clients);
  ASSERT_TRUE(WaitUntil([&] {
    return short_echoes_.load() >= kWarmConnects && long_exchanges_.load() >= long_clients;
  })) << "the load never got going";

  std::vector<absl::Duration> times;
  for (int k = 1; k <= handoff_count; ++k) {
    SCOPED_TRACE(absl::StrCat("hand-off ", k));
    const bool explicit_ports = k % 2 == 0;
    const std::string config =
        explicit_ports ? Config(control_port, admin_port, port_) : Config(0, 0, 0);
    const pid_t from = processes_.back()->pid();
    const absl::Time spawned = absl::Now();
    absl::StatusOr<std::unique_ptr<WeftdProcess>> next = WeftdProcess::Start(
        WEFTD_PATH, config, {absl::StrCat("--takeover=", handoff_path_)}, {}, kStartTimeout);
    const absl::Duration took = absl::Now() - spawned;
    ASSERT_TRUE(next.ok()) << "takeover from pid " << from << " ("
                           << (explicit_ports ? "explicit ports" : "ports 0")
                           << ") failed: " << next.status() << "\nold weftd's stderr:\n"
                           << processes_.back()->process().Stderr();
    times.push_back(took);
    std::cerr << "hand-off " << k << ": pid " << from << " -> " << (*next)->pid() << " in "
              << absl::ToInt64Milliseconds(took) << " ms ("
              << (explicit_ports ? "explicit ports" : "ports 0") << ")" << std::endl;
    EXPECT_EQ((*next)->port("echo"), port_);
    EXPECT_EQ((*next)->control_port(), control_port);
    EXPECT_EQ((*next)->admin_port(), admin_port);
    Adopt(std::move(*next));
    handoffs_done_.store(k);
    const std::int64_t served = short_echoes_.load();
    ASSERT_TRUE(WaitUntil([&] { return short_echoes_.load() >= served + kWarmConnects; }))
        << "no short connection served after hand-off " << k;
  }
  StopLoad();

  // Every replaced process drains its last connections and exits 0; then the last one stops on
  // SIGTERM as usual.
  for (std::size_t i = 0; i < processes_.size(); ++i) {
    WeftdProcess& weftd = *processes_[i];
    SCOPED_TRACE(absl::StrCat("weftd #", i, " pid ", weftd.pid()));
    if (i + 1 == processes_.size()) weftd.process().Signal(SIGTERM);
    absl::StatusOr<int> status = weftd.process().Wait(kExitTimeout);
    ASSERT_TRUE(status.ok()) << "did not exit; stderr:\n" << weftd.process().Stderr();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "wait status " << *status << "; stderr:\n"
        << weftd.process().Stderr();
    EXPECT_TRUE(absl::StrContains(weftd.process().Stderr(), "drained: every connection has ended"))
        << "had to close connections at the end of its drain; stderr:\n"
        << weftd.process().Stderr();
  }
  const absl::Duration total = absl::Now() - started;

  std::sort(times.begin(), times.end());
  std::vector<std::string> failure_counts;
  for (int f = 0; f < kFailureCount; ++f) {
    failure_counts.push_back(absl::StrCat(failures_[f].load(), " ", kFailureNames[f]));
  }
  const auto ms = [](absl::Duration d) { return absl::ToInt64Milliseconds(d); };
  const std::string figure = absl::StrFormat(
      "hand-off (spawn to ready line) min %d ms, median %d ms, max %d ms; %d connects, %d short "
      "echoes, %d admin probes, %d ping-pong exchanges on %d long-lived connections (%d still on "
      "their replaced process at their end, %d exchanges served by a replaced process); %s; "
      "%d moved, %d unidentified; total %d s",
      ms(times.front()), ms(times[times.size() / 2]), ms(times.back()), connects_.load(),
      short_echoes_.load(), admin_probes_.load(), long_exchanges_.load(), long_connections_.load(),
      long_connections_outliving_their_process_.load(), long_exchanges_on_replaced_.load(),
      absl::StrJoin(failure_counts, ", "), moved_.load(), unidentified_.load(),
      absl::ToInt64Seconds(total));
  std::cerr << "listener hand-off: " << figure << std::endl;

  for (int f = 0; f < kFailureCount; ++f) EXPECT_EQ(failures_[f].load(), 0) << kFailureNames[f];
  EXPECT_EQ(moved_.load(), 0) << "a long-lived connection changed process";
  EXPECT_EQ(unidentified_.load(), 0) << "a long-lived connection was on no weftd process";
  EXPECT_GE(long_connections_outliving_their_process_.load(), 1)
      << "no long-lived connection was still open after its process was replaced";

  testing::ReportFigure(
      {.scenario = "listener hand-off",
       .load = absl::StrCat(short_clients, " connect/echo/close loops + ", long_clients,
                            " long-lived ping-pong clients (each connection spans ",
                            kHandoffsPerLongConnection, " hand-offs) + ", admin_clients,
                            " admin /healthz prober"),
       .fault = absl::StrCat(handoff_count,
                             " consecutive `weftd --takeover` replacements, ports 0 and explicit "
                             "alternately"),
       .figure = figure,
       .result = testing::ResultOfCurrentTest()});
}

}  // namespace
}  // namespace weft

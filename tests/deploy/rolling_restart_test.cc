// The Kubernetes termination sequence, reproduced on loopback: weftd replicas behind a small
// round-robin client pool that honours readiness the way a Service does (kubelet-style gRPC
// health probes on each replica's control port, listener name as the service), clients with
// long-lived and short connections running throughout, and a rolling restart — for each old
// replica, start a new one, wait until it is ready, then SIGTERM the old one (what the preStop
// hook of deploy/kubernetes/deployment.yaml does). No connect may fail and no connection may
// break.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"

namespace weft {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::weft::testing::ChildProcess;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

// The drain: NOT_SERVING, then kDrainDelay of still accepting, then up to the drain timeout
// for open connections. The pool must notice NOT_SERVING well within the delay.
constexpr absl::Duration kDrainDelay = absl::Milliseconds(500);
constexpr char kDrainTimeout[] = "5s";
// How often the pool probes each replica (kubelet's periodSeconds, scaled down).
constexpr absl::Duration kProbeInterval = absl::Milliseconds(20);
constexpr absl::Duration kProbeTimeout = absl::Seconds(1);
// Client pacing: a long-lived connection exchanges a line this often; a short client opens a
// connection this often.
constexpr absl::Duration kLongPace = absl::Milliseconds(10);
constexpr absl::Duration kShortPace = absl::Milliseconds(2);
constexpr int kLongClients = 4;
constexpr int kShortClients = 2;
// Bounds: every client loop ends after this many iterations even if never stopped.
constexpr int kMaxIterations = 20000;
constexpr absl::Duration kIoTimeout = absl::Seconds(5);
constexpr absl::Duration kStartTimeout = absl::Seconds(20);
// Exchanges each replica must serve before the next step, so that every replica is really in
// the rotation when it is drained.
constexpr std::int64_t kWarmExchanges = 30;
constexpr int kInitialReplicas = 3;

std::string WriteTempFile(const std::string& contents) {
  char path[] = "/tmp/weft-rolling-XXXXXX";
  const int fd = ::mkstemp(path);
  CHECK_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << contents;
  return path;
}

// Replica: one weftd process and the pool's readiness view of it. Thread-safe: the atomics
// are written by the prober and read by the clients; the rest is set before it is shared.
struct Replica {
  std::string name;
  std::unique_ptr<ChildProcess> process;
  std::string config_path;
  std::uint16_t port = 0;
  int control_port = 0;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  // The pool's view, from the last probe: SERVING for the listener "echo".
  std::atomic<bool> ready{false};
  // Set once the replica is out of the pool; the prober skips it.
  std::atomic<bool> retired{false};
  // Exchanges (short or long) this replica completed.
  std::atomic<std::int64_t> exchanges{0};

  ~Replica() {
    process.reset();
    if (!config_path.empty()) ::unlink(config_path.c_str());
  }
};

absl::StatusOr<std::shared_ptr<Replica>> StartReplica(const std::string& name) {
  auto replica = std::make_shared<Replica>();
  replica->name = name;
  replica->config_path = WriteTempFile(absl::StrCat(
      "control { address: \"127.0.0.1:0\" drain_delay: \"", absl::FormatDuration(kDrainDelay),
      "\" }\n"
      "listeners { name: \"echo\" port: 0 handler { name: \"echo\" } drain_timeout: \"",
      kDrainTimeout, "\" }\n"));
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start({WEFTD_PATH, "--config", replica->config_path});
  if (!process.ok()) return process.status();
  replica->process = std::make_unique<ChildProcess>(std::move(*process));
  absl::StatusOr<std::string> line = replica->process->ReadLine(kStartTimeout);
  if (!line.ok()) {
    return absl::Status(line.status().code(),
                        absl::StrCat(name, ": no ready line: ", replica->process->Stderr()));
  }
  // "weftd ready control_port=N listeners=echo=P"
  for (absl::string_view field : absl::StrSplit(*line, ' ')) {
    std::uint32_t port = 0;
    if (absl::ConsumePrefix(&field, "control_port=")) {
      if (absl::SimpleAtoi(field, &port)) replica->control_port = static_cast<int>(port);
    } else if (absl::ConsumePrefix(&field, "listeners=echo=")) {
      if (absl::SimpleAtoi(field, &port)) replica->port = static_cast<std::uint16_t>(port);
    }
  }
  if (replica->control_port == 0 || replica->port == 0) {
    return absl::InternalError(absl::StrCat(name, ": bad ready line: ", *line));
  }
  replica->health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", replica->control_port), grpc::InsecureChannelCredentials()));
  return replica;
}

// ReplicaPool: the replicas a client may be routed to; Pick round-robins over the ready ones.
// Thread-safe.
class ReplicaPool {
 public:
  void Add(std::shared_ptr<Replica> replica) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    replicas_.push_back(std::move(replica));
  }

  void Remove(const Replica* replica) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    std::erase_if(replicas_, [&](const auto& r) { return r.get() == replica; });
  }

  // Replicas: every replica in the pool, ready or not.
  std::vector<std::shared_ptr<Replica>> Replicas() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return replicas_;
  }

  // Pick returns the next ready replica in round-robin order, or null if none is ready.
  std::shared_ptr<Replica> Pick() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      const std::shared_ptr<Replica>& r = replicas_[next_++ % replicas_.size()];
      if (r->ready.load()) return r;
    }
    return nullptr;
  }

 private:
  mutable Mutex mu_;
  // shared_ptr: a client keeps using the replica it picked after the test thread has removed
  // it from the pool.
  std::vector<std::shared_ptr<Replica>> replicas_ ABSL_GUARDED_BY(mu_);
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

// Stats: what the clients saw.
struct Stats {
  std::atomic<std::int64_t> connects{0};
  std::atomic<std::int64_t> failed_connects{0};
  std::atomic<std::int64_t> broken{0};
  std::atomic<std::int64_t> short_connections{0};
  std::atomic<std::int64_t> long_exchanges{0};
  std::atomic<std::int64_t> moved{0};
  std::atomic<std::int64_t> no_ready_replica{0};
};

class RollingRestartTest : public ::testing::Test {
 protected:
  void TearDown() override { StopTraffic(); }

  // Probe: one round of readiness probes, like kubelet's gRPC readiness probe with service
  // "echo" on each replica.
  void Probe() {
    for (const std::shared_ptr<Replica>& replica : pool_.Replicas()) {
      if (replica->retired.load()) continue;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + kProbeTimeout));
      HealthCheckRequest request;
      request.set_service("echo");
      HealthCheckResponse response;
      const bool serving = replica->health->Check(&context, request, &response).ok() &&
                           response.status() == HealthCheckResponse::SERVING;
      replica->ready.store(serving);
    }
  }

  // LogProblem logs the first few failed connects and broken connections, for diagnosis.
  void LogProblem(const std::string& what) {
    if (logged_problems_.fetch_add(1) < 20) LOG(ERROR) << what;
  }

  // ShortClient: connect, echo one line, close, over and over.
  void ShortClient(int id) {
    for (int i = 0; i < kMaxIterations && !stop_.HasBeenNotified(); ++i) {
      std::shared_ptr<Replica> replica = pool_.Pick();
      if (replica == nullptr) {
        ++stats_.no_ready_replica;
      } else if (absl::StatusOr<LoopbackClient> client =
                     LoopbackClient::Connect(replica->port, "127.0.0.1", kIoTimeout);
                 !client.ok()) {
        ++stats_.failed_connects;
        LogProblem(absl::StrCat("short ", id, ": connect to ", replica->name, ": ",
                                client.status().ToString()));
      } else {
        ++stats_.connects;
        const std::string line = absl::StrCat("short ", id, " #", i, "\n");
        absl::StatusOr<std::string> echoed = client->Echo(line, kIoTimeout);
        if (!echoed.ok() || *echoed != line) {
          ++stats_.broken;
          LogProblem(absl::StrCat("short ", id, " on ", replica->name, ": ",
                                  echoed.ok() ? "echo mismatch" : echoed.status().ToString()));
        } else {
          ++stats_.short_connections;
          ++replica->exchanges;
        }
      }
      stop_.WaitForNotificationWithTimeout(kShortPace);
    }
  }

  // LongClient: one connection at a time, a line every kLongPace; after each exchange, if its
  // replica is no longer ready, it closes and reconnects through the pool — what a load
  // balancer or a client honouring readiness does.
  void LongClient(int id) {
    std::shared_ptr<Replica> replica;
    std::optional<LoopbackClient> client;
    for (int i = 0; i < kMaxIterations && !stop_.HasBeenNotified(); ++i) {
      if (!client.has_value()) {
        replica = pool_.Pick();
        if (replica == nullptr) {
          ++stats_.no_ready_replica;
          stop_.WaitForNotificationWithTimeout(kLongPace);
          continue;
        }
        absl::StatusOr<LoopbackClient> connected =
            LoopbackClient::Connect(replica->port, "127.0.0.1", kIoTimeout);
        if (!connected.ok()) {
          ++stats_.failed_connects;
          LogProblem(absl::StrCat("long ", id, ": connect to ", replica->name, ": ",
                                  connected.status().ToString()));
          stop_.WaitForNotificationWithTimeout(kLongPace);
          continue;
        }
        ++stats_.connects;
        client.emplace(std::move(*connected));
      }
      const std::string line = absl::StrCat("long ", id, " #", i, "\n");
      absl::StatusOr<std::string> echoed = client->Echo(line, kIoTimeout);
      if (!echoed.ok() || *echoed != line) {
        ++stats_.broken;
        LogProblem(absl::StrCat("long ", id, " on ", replica->name, ": ",
                                echoed.ok() ? "echo mismatch" : echoed.status().ToString()));
        client.reset();
        continue;
      }
      ++stats_.long_exchanges;
      ++replica->exchanges;
      if (!replica->ready.load()) {
        client.reset();
        ++stats_.moved;
      }
      stop_.WaitForNotificationWithTimeout(kLongPace);
    }
  }

  void StartProbing() {
    prober_ = std::thread([this] {
      do {
        Probe();
      } while (!stop_probing_.WaitForNotificationWithTimeout(kProbeInterval));
    });
  }

  void StartClients() {
    for (int i = 0; i < kLongClients; ++i) clients_.emplace_back([this, i] { LongClient(i); });
    for (int i = 0; i < kShortClients; ++i) clients_.emplace_back([this, i] { ShortClient(i); });
  }

  void StopTraffic() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    for (std::thread& client : clients_) client.join();
    clients_.clear();
    if (!stop_probing_.HasBeenNotified()) stop_probing_.Notify();
    if (prober_.joinable()) prober_.join();
  }

  ReplicaPool pool_;
  Stats stats_;
  std::atomic<int> logged_problems_{0};
  Notification stop_;
  Notification stop_probing_;
  std::thread prober_;
  std::vector<std::thread> clients_;
};

TEST_F(RollingRestartTest, ReplacingEveryReplicaUnderLoadDropsNoConnection) {
  const absl::Time started = absl::Now();
  std::vector<std::shared_ptr<Replica>> old_replicas;
  for (int i = 0; i < kInitialReplicas; ++i) {
    absl::StatusOr<std::shared_ptr<Replica>> replica = StartReplica(absl::StrCat("r", i));
    ASSERT_TRUE(replica.ok()) << replica.status();
    pool_.Add(*replica);
    old_replicas.push_back(*replica);
  }
  StartProbing();
  for (const std::shared_ptr<Replica>& replica : old_replicas) {
    ASSERT_TRUE(WaitUntil([&] { return replica->ready.load(); })) << replica->name;
  }
  StartClients();
  for (const std::shared_ptr<Replica>& replica : old_replicas) {
    ASSERT_TRUE(WaitUntil([&] { return replica->exchanges.load() >= kWarmExchanges; }))
        << replica->name << " never got traffic";
  }

  std::vector<std::string> noticed_ms;
  int next_name = kInitialReplicas;
  for (const std::shared_ptr<Replica>& old : old_replicas) {
    // maxSurge 1, maxUnavailable 0: the new pod is ready before the old one is drained.
    absl::StatusOr<std::shared_ptr<Replica>> fresh = StartReplica(absl::StrCat("r", next_name++));
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    pool_.Add(*fresh);
    ASSERT_TRUE(WaitUntil([&] { return (*fresh)->exchanges.load() >= kWarmExchanges; }))
        << (*fresh)->name << " never got traffic";

    // The preStop hook: SIGTERM to weftd.
    const absl::Time signalled = absl::Now();
    old->process->Signal(SIGTERM);
    ASSERT_TRUE(WaitUntil([&] { return !old->ready.load(); }, absl::Seconds(5)));
    const absl::Duration noticed = absl::Now() - signalled;
    noticed_ms.push_back(absl::StrCat(absl::ToInt64Milliseconds(noticed)));
    EXPECT_LT(noticed, kDrainDelay) << old->name << ": the pool saw NOT_SERVING only after the "
                                    << "listener may have closed";

    absl::StatusOr<int> status = old->process->Wait(kDrainDelay + absl::Seconds(15));
    ASSERT_TRUE(status.ok()) << old->name << " did not exit after its drain";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    const std::string logs = old->process->Stderr();
    EXPECT_TRUE(absl::StrContains(logs, "drained: every connection has ended"))
        << old->name << " had to close connections at the end of its drain:\n"
        << logs;
    old->retired.store(true);
    old->ready.store(false);
    pool_.Remove(old.get());
  }
  // The replacements keep serving after the rollout.
  for (const std::shared_ptr<Replica>& replica : pool_.Replicas()) {
    const std::int64_t before = replica->exchanges.load();
    EXPECT_TRUE(WaitUntil([&] { return replica->exchanges.load() >= before + kWarmExchanges; }))
        << replica->name;
  }
  StopTraffic();
  const absl::Duration took = absl::Now() - started;

  const std::string report = absl::StrCat(
      "rolling restart: ", kInitialReplicas, " replicas replaced in ",
      absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1))),
      "; connects ok=", stats_.connects.load(), " failed=", stats_.failed_connects.load(),
      "; broken connections=", stats_.broken.load(),
      "; short connections=", stats_.short_connections.load(),
      "; long-lived exchanges=", stats_.long_exchanges.load(),
      "; long-lived moved off NOT_SERVING replicas=", stats_.moved.load(),
      "; picks with no ready replica=", stats_.no_ready_replica.load(),
      "; NOT_SERVING noticed after [", absl::StrJoin(noticed_ms, ", "), "] ms (drain delay ",
      absl::FormatDuration(kDrainDelay), ")");
  std::cout << report << std::endl;
  RecordProperty("report", report);

  EXPECT_EQ(stats_.failed_connects.load(), 0);
  EXPECT_EQ(stats_.broken.load(), 0);
  EXPECT_EQ(stats_.no_ready_replica.load(), 0);
  // Long-lived connections were on the drained replicas and moved away from them.
  EXPECT_GE(stats_.moved.load(), 1);
}

}  // namespace
}  // namespace weft

// DescriptorBudget and its use by Server: a spent budget sheds new connections with a counted
// reason, a closed connection gives its descriptor back, and every manager spends exactly one
// descriptor per connection.
#include "weft/descriptor_budget.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tests/testing/loopback_client.h"
#include "weft/connection.h"
#include "weft/fiber_task_manager.h"
#include "weft/pool_task_manager.h"
#include "weft/server.h"
#include "weft/server_observer.h"
#include "weft/server_options.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace {

using ::weft::testing::CountOpenFds;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;

void Echo(Connection& connection, const HandlerArgs&) {
  char buf[256];
  for (absl::StatusOr<size_t> n; (n = connection.Read(absl::MakeSpan(buf))).ok() && *n > 0;) {
    if (!connection.WriteAll(absl::string_view(buf, *n)).ok()) return;
  }
}

class CountingObserver final : public ServerObserver {
 public:
  void OnEvent(const ServerEvent& event) override {
    if (event.kind == ServerEvent::Kind::kConnectionRefused &&
        event.refusal == RefusalReason::kDescriptorBudget) {
      budget_refusals.fetch_add(1);
    }
  }
  std::atomic<int> budget_refusals{0};
};

TEST(DescriptorBudgetTest, AcquiresUpToItsCapacityAndCountsRefusals) {
  DescriptorBudget budget(2);
  EXPECT_TRUE(budget.TryAcquire());
  EXPECT_TRUE(budget.TryAcquire());
  EXPECT_FALSE(budget.TryAcquire());
  EXPECT_EQ(budget.in_use(), 2u);
  EXPECT_EQ(budget.refusals(), 1u);
  budget.Release();
  EXPECT_TRUE(budget.TryAcquire());
  budget.Resize(1);
  EXPECT_FALSE(budget.TryAcquire()) << "in use above a lowered capacity admits nothing";
  budget.Release();
  budget.Release();
  EXPECT_TRUE(budget.TryAcquire());
}

TEST(DescriptorBudgetTest, AnUnsizedBudgetAdmitsEverything) {
  DescriptorBudget budget;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(budget.TryAcquire());
  EXPECT_EQ(budget.refusals(), 0u);
}

TEST(DescriptorBudgetTest, SizingLeavesTheOpenDescriptorsAndTheReserve) {
  absl::StatusOr<DescriptorBudgetPlan> plan = SizeDescriptorBudget(10, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GT(plan->open, 2u);  // stdin, stdout, stderr at least.
  EXPECT_EQ(plan->reserve, 10u);
  EXPECT_EQ(plan->listeners, plan->limit - plan->open - plan->reserve);
}

TEST(DescriptorBudgetTest, SizingRefusesALimitThatLeavesListenersTooLittle) {
  absl::StatusOr<DescriptorBudgetPlan> plan = SizeDescriptorBudget(std::uint64_t{1} << 40, 16);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(plan.status().message().find("RLIMIT_NOFILE"), absl::string_view::npos)
      << plan.status();
}

TEST(DescriptorBudgetTest, ASpentBudgetShedsWithItsReasonAndAClosedConnectionGivesBack) {
  auto budget = std::make_shared<DescriptorBudget>(2);
  auto observer = std::make_shared<CountingObserver>();
  ServerOptions options;
  options.handler = Echo;
  options.observer = observer;
  options.descriptor_budget = budget;
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());

  std::vector<LoopbackClient> clients;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client->Echo("x").ok());
    clients.push_back(std::move(*client));
  }
  absl::StatusOr<LoopbackClient> third = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(third.ok());
  absl::StatusOr<std::string> closed = third->ReadUntilClosed();
  EXPECT_TRUE(closed.ok() && closed->empty()) << "the third connection was not shed";
  EXPECT_EQ(server.stats().refused_by_reason[static_cast<int>(RefusalReason::kDescriptorBudget)],
            1u);
  EXPECT_TRUE(WaitUntil([&] { return observer->budget_refusals.load() == 1; }));

  clients.front().Close();
  ASSERT_TRUE(WaitUntil([&] { return budget->in_use() == 1; })) << budget->in_use();
  absl::StatusOr<LoopbackClient> again = LoopbackClient::Connect(server.port());
  ASSERT_TRUE(again.ok());
  absl::StatusOr<std::string> echoed = again->Echo("back");
  EXPECT_TRUE(echoed.ok() && *echoed == "back") << echoed.status();
  server.Stop();
  EXPECT_EQ(budget->in_use(), 0u);
}

// Each manager holds exactly one descriptor per open connection: the socket. (The client ends
// live in this process too, so N connections add 2N.)
class OneDescriptorPerConnectionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OneDescriptorPerConnectionTest, NConnectionsCostNDescriptors) {
  ServerOptions options;
  options.handler = Echo;
  if (GetParam() == "pool")
    options.manager = std::make_unique<PoolTaskManager>(PoolTaskManagerOptions{.threads = 8});
  if (GetParam() == "fiber") options.manager = std::make_unique<FiberTaskManager>();
  Server server(std::move(options));
  ASSERT_TRUE(server.Run().ok());
  {
    // Warm up: the first connection starts a manager's lazily created resources.
    absl::StatusOr<LoopbackClient> warm = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(warm.ok());
    ASSERT_TRUE(warm->Echo("w").ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return server.stats().open == 0; }));
  const int before = CountOpenFds();
  constexpr int kConnections = 8;
  std::vector<LoopbackClient> clients;
  for (int i = 0; i < kConnections; ++i) {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(server.port());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client->Echo("x").ok()) << "every connection is being served";
    clients.push_back(std::move(*client));
  }
  EXPECT_EQ(CountOpenFds() - before, 2 * kConnections);
  clients.clear();
  server.Stop();
}

INSTANTIATE_TEST_SUITE_P(Managers, OneDescriptorPerConnectionTest,
                         ::testing::Values("threaded", "pool", "fiber"));

}  // namespace
}  // namespace weft

// ListTasks while tasks come and go: a real gRPC control plane in-process pages through a
// server's tasks while another thread adds and removes tasks between every two pages. A task
// that lives throughout a listing is listed exactly once, in id order and in every order_by.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "control/event_hub.h"
#include "control/health_reporter.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "tests/control/service/service_harness.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/log.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.grpc.pb.h"
#include "weft/pool_task_manager.h"

namespace weft::control {
namespace {

using ::weft::testing::kTestTimeout;

constexpr int kStableTasks = 2000;   // Live throughout every listing; peers in 192.168/16.
constexpr int kChurningTasks = 500;  // Replaced one by one, oldest first; peers in 10/8.
static_assert(kStableTasks % kChurningTasks == 0);
constexpr int kPageSize = 100;
constexpr int kChurnPerPage = 25;  // Tasks replaced between two pages.

class TaskListingChurnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One worker held by a task that waits for the test: every other task stays queued, listed
    // and cheap (no thread, no descriptor), and removing it drops it at once.
    auto manager = std::make_unique<PoolTaskManager>(
        PoolTaskManagerOptions{.threads = 1, .max_queued = 2 * (kStableTasks + kChurningTasks)});
    manager_ = manager.get();
    ServerOptions options;
    options.handler = [](Connection&, const HandlerArgs&) {};
    options.manager = std::move(manager);
    ASSERT_TRUE(testing::AddRunningServer(servers_, "churn", std::move(options)).ok());
    ASSERT_TRUE(manager_->AddTask([this] { release_.WaitForNotification(); }).ok());

    auth_ = Authenticator::Open();
    absl::StatusOr<testing::ServedControl> served =
        testing::ServeControl(&servers_, &events_, auth_.get(), &process_, &health_);
    ASSERT_TRUE(served.ok()) << served.status();
    control_ = std::move(*served);
    stub_ = v1::Control::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", control_.plane->port()), grpc::InsecureChannelCredentials()));

    // Interleaved, so that tasks end both before and after where a listing has got to.
    for (int i = 0; i < kStableTasks; ++i) {
      stable_.insert(Add(absl::StrCat("192.168.0.1:", i)));
      if (i % (kStableTasks / kChurningTasks) == 0) churning_.push_back(Add("10.0.0.1:1"));
    }
  }

  void TearDown() override {
    {
      MutexLock lock(&mu_);
      stop_churn_ = true;
      changed_.SignalAll();
    }
    if (churn_.joinable()) churn_.join();
    release_.Notify();
    control_.plane.reset();
    for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
  }

  TaskId Add(const std::string& peer) {
    absl::StatusOr<TaskId> id = manager_->AddTask(TaskSpec{[] {}, peer});
    CHECK(id.ok()) << id.status();
    return *id;
  }

  // StartChurn starts the thread that replaces tasks, one per round, as Churn allows it.
  void StartChurn() {
    churn_ = std::thread([this, churning = std::move(churning_)]() mutable {
      while (true) {
        {
          MutexLock lock(&mu_);
          changed_.Await(&mu_, [this] {
            mu_.AssertHeld();
            return stop_churn_ || churned_ < allowed_;
          });
          if (stop_churn_) return;
        }
        churning.push_back(Add("10.0.0.1:1"));
        CHECK(manager_->RemoveTask(churning.front()));
        churning.pop_front();
        MutexLock lock(&mu_);
        ++churned_;
        changed_.SignalAll();
      }
    });
  }

  // Churn lets `rounds` more tasks be replaced and waits until they have been. Bounded, so a
  // listing in id order is never chasing tasks added at its end faster than it pages.
  void Churn(int rounds) {
    MutexLock lock(&mu_);
    allowed_ += rounds;
    changed_.SignalAll();
    EXPECT_TRUE(changed_.AwaitUntil(
        &mu_,
        [this] {
          mu_.AssertHeld();
          return churned_ == allowed_;
        },
        DeadlineAfter(kTestTimeout)));
  }

  // ListAll pages through the listing `request` asks for, letting kChurnPerPage tasks be
  // replaced between two pages; returns the ids listed, in order.
  std::vector<TaskId> ListAll(v1::ListTasksRequest request) {
    request.set_server("churn");
    request.set_page_size(kPageSize);
    std::vector<TaskId> ids;
    for (int page = 0; page < 1000; ++page) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::ListTasksResponse response;
      const grpc::Status status = stub_->ListTasks(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return ids;
      for (const v1::Task& task : response.tasks()) ids.push_back(task.id());
      if (response.next_page_token().empty()) return ids;
      request.set_page_token(response.next_page_token());
      Churn(kChurnPerPage);
    }
    ADD_FAILURE() << "the listing did not end";
    return ids;
  }

  // ExpectEachStableTaskOnce checks `ids` for duplicates and for every stable task.
  void ExpectEachStableTaskOnce(const std::vector<TaskId>& ids) {
    const std::set<TaskId> listed(ids.begin(), ids.end());
    EXPECT_EQ(listed.size(), ids.size()) << "a task was listed twice";
    std::vector<TaskId> missed;
    std::set_difference(stable_.begin(), stable_.end(), listed.begin(), listed.end(),
                        std::back_inserter(missed));
    EXPECT_THAT(missed, ::testing::IsEmpty()) << "tasks that lived throughout were missed";
  }

  EventHub events_{/*capacity=*/256, /*max_subscribers=*/16};
  HealthReporter health_;
  ServerSet servers_;
  ProcessInfo process_;
  std::unique_ptr<Authenticator> auth_;
  testing::ServedControl control_;
  std::unique_ptr<v1::Control::Stub> stub_;
  TaskManager* manager_ = nullptr;
  Notification release_;
  std::set<TaskId> stable_;
  std::deque<TaskId> churning_;  // Oldest first; handed to the churn thread.
  std::thread churn_;
  Mutex mu_;
  CondVar changed_;  // Signalled when allowed_, churned_ or stop_churn_ changes.
  std::uint64_t allowed_ ABSL_GUARDED_BY(mu_) = 0;  // Rounds of churn allowed so far.
  std::uint64_t churned_ ABSL_GUARDED_BY(mu_) = 0;  // Rounds done.
  bool stop_churn_ ABSL_GUARDED_BY(mu_) = false;
};

TEST_F(TaskListingChurnTest, IdOrderListsEveryLastingTaskOnceInIdOrder) {
  StartChurn();
  const std::vector<TaskId> ids = ListAll(v1::ListTasksRequest());
  ExpectEachStableTaskOnce(ids);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_GE(ids.size(), static_cast<std::size_t>(kStableTasks));
}

TEST_F(TaskListingChurnTest, AFilteredListingListsExactlyTheLastingTasksItSelects) {
  StartChurn();
  v1::ListTasksRequest request;
  request.mutable_filter()->set_peer("192.168.0.0/16");
  request.mutable_filter()->add_states(v1::TASK_STATE_QUEUED);
  const std::vector<TaskId> ids = ListAll(request);
  EXPECT_EQ(ids, std::vector<TaskId>(stable_.begin(), stable_.end()));
}

TEST_F(TaskListingChurnTest, OrderedListingsListEveryLastingTaskOnce) {
  StartChurn();
  for (const char* order_by : {"age desc", "age", "idle desc", "idle"}) {
    SCOPED_TRACE(order_by);
    v1::ListTasksRequest request;
    request.set_order_by(order_by);
    const std::vector<TaskId> ids = ListAll(request);
    ExpectEachStableTaskOnce(ids);
    EXPECT_LE(ids.size(), static_cast<std::size_t>(kStableTasks + kChurningTasks + 2))
        << "an ordered listing lists only what its first page saw";
  }
}

}  // namespace
}  // namespace weft::control

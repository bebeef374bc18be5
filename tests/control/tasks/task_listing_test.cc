// TaskListing: ListTasks's paging, filters, order_by and ordered-listing cursors, against a real
// task manager whose tasks stay queued (a single-threaded manager nobody pumps).
#include "control/tasks/task_listing.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "weft/base/proto_time.h"
#include "weft/single_threaded_task_manager.h"

namespace weft::control {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TaskListingTest : public ::testing::Test {
 protected:
  TaskListingTest() : listing_([this] { return now_; }) {}

  // AddTasks adds `n` queued tasks with peers "10.0.0.<i>:80" (even i) or "192.168.0.<i>:80".
  std::vector<TaskId> AddTasks(int n) {
    std::vector<TaskId> ids;
    for (int i = 0; i < n; ++i) {
      const std::string peer = absl::StrCat(i % 2 == 0 ? "10.0.0." : "192.168.0.", i, ":80");
      absl::StatusOr<TaskId> id = manager_.AddTask(TaskSpec{[] {}, peer});
      EXPECT_TRUE(id.ok()) << id.status();
      ids.push_back(*id);
    }
    return ids;
  }

  absl::StatusOr<v1::ListTasksResponse> List(const v1::ListTasksRequest& request,
                                             const std::string& server = "echo") {
    v1::ListTasksResponse response;
    if (absl::Status status = listing_.List(server, manager_, request, &response); !status.ok()) {
      return status;
    }
    return response;
  }

  // ListAll pages through a listing; returns the ids in the order listed.
  std::vector<TaskId> ListAll(v1::ListTasksRequest request) {
    std::vector<TaskId> ids;
    for (int page = 0; page < 100; ++page) {
      absl::StatusOr<v1::ListTasksResponse> response = List(request);
      EXPECT_TRUE(response.ok()) << response.status();
      if (!response.ok()) break;
      for (const v1::Task& task : response->tasks()) ids.push_back(task.id());
      if (response->next_page_token().empty()) break;
      request.set_page_token(response->next_page_token());
    }
    return ids;
  }

  static v1::ListTasksRequest Request(int page_size, const std::string& order_by = "") {
    v1::ListTasksRequest request;
    request.set_server("echo");
    request.set_page_size(page_size);
    request.set_order_by(order_by);
    return request;
  }

  absl::Time now_ = absl::Now();
  SingleThreadedTaskManager manager_;
  TaskListing listing_;
};

TEST_F(TaskListingTest, IdOrderPagesAfterTheLastIdAndCountsEveryTask) {
  const std::vector<TaskId> ids = AddTasks(7);
  v1::ListTasksRequest request = Request(3);
  std::vector<TaskId> listed;
  for (int page = 0; page < 3; ++page) {
    absl::StatusOr<v1::ListTasksResponse> response = List(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->total_size(), 7u);
    for (const v1::Task& task : response->tasks()) {
      listed.push_back(task.id());
      EXPECT_EQ(task.server(), "echo");
      EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
    }
    EXPECT_EQ(response->next_page_token().empty(), page == 2);
    request.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(listed, ids);
}

TEST_F(TaskListingTest, TheFilterAndTheLegacyFieldsAreAnded) {
  const std::vector<TaskId> ids = AddTasks(6);
  v1::ListTasksRequest request = Request(2);
  request.mutable_filter()->set_peer("10.0.0.0/8");
  request.mutable_filter()->add_states(v1::TASK_STATE_QUEUED);
  EXPECT_EQ(ListAll(request), (std::vector<TaskId>{ids[0], ids[2], ids[4]}));
  absl::StatusOr<v1::ListTasksResponse> first = List(request);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->total_size(), 3u);
  EXPECT_EQ(first->tasks_size(), 2);

  *request.mutable_min_age() = DurationToProto(absl::Hours(1));
  EXPECT_THAT(ListAll(request), IsEmpty()) << "min_age narrows the filter";
  request.clear_min_age();
  *request.mutable_min_idle() = DurationToProto(absl::Hours(1));
  EXPECT_THAT(ListAll(request), IsEmpty()) << "min_idle narrows the filter";

  v1::ListTasksRequest running = Request(10);
  running.mutable_filter()->add_states(v1::TASK_STATE_RUNNING);
  EXPECT_THAT(ListAll(running), IsEmpty());
}

TEST_F(TaskListingTest, OrderByAgeAndIdleSortTheWholeListing) {
  const std::vector<TaskId> ids = AddTasks(5);
  const std::vector<TaskId> reversed(ids.rbegin(), ids.rend());
  // Queued tasks were never active: idle counts from creation, like age.
  EXPECT_EQ(ListAll(Request(2, "age desc")), ids) << "oldest first";
  EXPECT_EQ(ListAll(Request(2, "age")), reversed) << "youngest first";
  EXPECT_EQ(ListAll(Request(2, "idle desc")), ids) << "longest idle first";
  EXPECT_EQ(ListAll(Request(2, "idle")), reversed) << "most recently active first";
  EXPECT_EQ(ListAll(Request(2, "  age \t desc ")), ids) << "spacing is not significant";
  EXPECT_EQ(ListAll(Request(2, "id")), ids);
}

TEST_F(TaskListingTest, AnOrderedListingIsTheSnapshotOfItsFirstPage) {
  const std::vector<TaskId> ids = AddTasks(7);
  absl::StatusOr<v1::ListTasksResponse> first = List(Request(3, "age"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->tasks(), ::testing::SizeIs(3));
  EXPECT_EQ(first->tasks(0).id(), ids[6]);
  EXPECT_EQ(first->total_size(), 7u);
  ASSERT_FALSE(first->next_page_token().empty());

  ASSERT_TRUE(manager_.RemoveTask(ids[3]));       // Ends before its page: skipped.
  const std::vector<TaskId> added = AddTasks(1);  // Starts after the first page: not listed.
  v1::ListTasksRequest request = Request(3, "age");
  request.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListTasksResponse> second = List(request);
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<TaskId> listed;
  for (const v1::Task& task : second->tasks()) listed.push_back(task.id());
  EXPECT_EQ(listed, (std::vector<TaskId>{ids[2], ids[1], ids[0]})) << "the page is filled up";
  EXPECT_TRUE(second->next_page_token().empty());
  EXPECT_EQ(second->total_size(), 7u) << "the total of the first page";

  // The same token again gives the same page: tokens carry their position.
  absl::StatusOr<v1::ListTasksResponse> again = List(request);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tasks_size(), 3);
}

TEST_F(TaskListingTest, AListingThatFitsOnOnePageHasNoToken) {
  AddTasks(3);
  absl::StatusOr<v1::ListTasksResponse> response = List(Request(3, "idle desc"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->tasks_size(), 3);
  EXPECT_TRUE(response->next_page_token().empty());
}

TEST_F(TaskListingTest, AnOrderedTokenExpiresAfterTenMinutes) {
  AddTasks(4);
  absl::StatusOr<v1::ListTasksResponse> first = List(Request(2, "idle desc"));
  ASSERT_TRUE(first.ok());
  v1::ListTasksRequest request = Request(2, "idle desc");
  request.set_page_token(first->next_page_token());
  now_ += absl::Minutes(10) - absl::Seconds(1);
  EXPECT_TRUE(List(request).ok());
  now_ += absl::Seconds(1);
  absl::StatusOr<v1::ListTasksResponse> late = List(request);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));
}

TEST_F(TaskListingTest, ATokenOnlyContinuesItsOwnListing) {
  AddTasks(4);
  absl::StatusOr<v1::ListTasksResponse> ordered = List(Request(2, "age"));
  absl::StatusOr<v1::ListTasksResponse> by_id = List(Request(2));
  ASSERT_TRUE(ordered.ok() && by_id.ok());

  v1::ListTasksRequest other_order = Request(2, "idle");
  other_order.set_page_token(ordered->next_page_token());
  EXPECT_THAT(List(other_order).status().message(), HasSubstr("another listing"));
  v1::ListTasksRequest same_order = Request(2, "age");
  same_order.set_page_token(ordered->next_page_token());
  EXPECT_THAT(List(same_order, "other-server").status().message(), HasSubstr("another listing"));

  v1::ListTasksRequest id_token_ordered = Request(2, "age");
  id_token_ordered.set_page_token(by_id->next_page_token());
  v1::ListTasksRequest ordered_token_by_id = Request(2);
  ordered_token_by_id.set_page_token(ordered->next_page_token());
  v1::ListTasksRequest garbage = Request(2, "age");
  garbage.set_page_token("not-a-token");
  for (const v1::ListTasksRequest* request : {&id_token_ordered, &ordered_token_by_id, &garbage}) {
    EXPECT_EQ(List(*request).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TaskListingTest, BadRequestsAreInvalidArgument) {
  for (const char* order_by : {"name", "id desc", "age asc desc", "desc", "AGE"}) {
    absl::StatusOr<v1::ListTasksResponse> response = List(Request(1, order_by));
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << order_by;
  }
  v1::ListTasksRequest negative = Request(-1);
  EXPECT_EQ(List(negative).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ListTasksRequest bad_filter = Request(1);
  bad_filter.mutable_filter()->set_peer("10.0.0.1/8");
  EXPECT_THAT(List(bad_filter).status().message(), HasSubstr("filter.peer"));
  v1::ListTasksRequest bad_legacy = Request(1);
  bad_legacy.mutable_min_idle()->set_seconds(-5);
  EXPECT_THAT(List(bad_legacy).status().message(), HasSubstr("min_idle"));
}

}  // namespace
}  // namespace weft::control

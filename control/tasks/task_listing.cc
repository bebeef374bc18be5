#include "control/tasks/task_listing.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "control/paging.h"
#include "control/proto_conversion.h"
#include "control/tasks/task_filter.h"

namespace weft::control {
namespace {

// The legacy ListTasksRequest.min_age/min_idle accept what TaskFilter's fields accept.
constexpr absl::Duration kMaxFilterDuration = absl::Hours(24 * 365 * 100);

// Page tokens: "t:<last id>" in id order (the format predates ordering), and
// "o:<cursor key>:<offset of the next id>" in an ordered listing.
constexpr char kIdToken[] = "t";
constexpr char kOrderedToken[] = "o";

enum class Order { kId, kAge, kAgeDesc, kIdle, kIdleDesc };

struct OrderBy {
  Order order;
  std::string text;  // Normalised: words separated by one space.
};

absl::StatusOr<OrderBy> ParseOrderBy(const std::string& text) {
  const std::vector<absl::string_view> words =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  std::string normal = absl::StrJoin(words, " ");
  if (normal.empty() || normal == "id") return OrderBy{Order::kId, "id"};
  if (normal == "age") return OrderBy{Order::kAge, std::move(normal)};
  if (normal == "age desc") return OrderBy{Order::kAgeDesc, std::move(normal)};
  if (normal == "idle") return OrderBy{Order::kIdle, std::move(normal)};
  if (normal == "idle desc") return OrderBy{Order::kIdleDesc, std::move(normal)};
  return absl::InvalidArgumentError(
      "order_by must be empty, \"id\", \"age\", \"age desc\", \"idle\" or \"idle desc\"");
}

absl::StatusOr<TaskFilter> FilterOf(const v1::ListTasksRequest& request) {
  absl::StatusOr<TaskFilter> filter = TaskFilter::FromProto(request.filter());
  if (!filter.ok()) return filter.status();
  if (request.has_min_age()) {
    absl::StatusOr<absl::Duration> age =
        DurationFromProto(request.min_age(), "min_age", kMaxFilterDuration);
    if (!age.ok()) return age.status();
    filter->AddMinAge(*age);
  }
  if (request.has_min_idle()) {
    absl::StatusOr<absl::Duration> idle =
        DurationFromProto(request.min_idle(), "min_idle", kMaxFilterDuration);
    if (!idle.ok()) return idle.status();
    filter->AddMinIdle(*idle);
  }
  return filter;
}

absl::Status TokenNotIssued() {
  return absl::InvalidArgumentError("page_token is not one this server issued");
}

void AddTask(const TaskInfo& task, const std::string& server, v1::ListTasksResponse* response) {
  response->mutable_tasks()->Add(TaskToProto(task, server));
}

// ListInIdOrder: stateless paging after the last id returned.
absl::Status ListInIdOrder(const std::string& server, const TaskManager& tasks,
                           const v1::ListTasksRequest& request, const TaskFilter& filter,
                           int page_size, v1::ListTasksResponse* response) {
  TaskQuery query{.limit = static_cast<std::size_t>(page_size)};
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> after = ParsePageToken(kIdToken, request.page_token());
    if (!after.ok()) return after.status();
    if (!absl::SimpleAtoi(*after, &query.after)) return TokenNotIssued();
  }
  if (!filter.empty()) {
    query.predicate = [&filter](const TaskInfo& task) { return filter.Matches(task); };
  }
  const TaskPage page = tasks.ListTaskPage(query);
  for (const TaskInfo& task : page.tasks) AddTask(task, server, response);
  if (page.more) {
    response->set_next_page_token(MakePageToken(kIdToken, absl::StrCat(page.tasks.back().id)));
  }
  response->set_total_size(static_cast<std::uint32_t>(page.total));
  return absl::OkStatus();
}

// LastActive is the instant a task's idle time counts from (TaskControl::Snapshot's rule).
absl::Time LastActive(const TaskInfo& task) {
  if (task.last_activity != absl::InfinitePast()) return task.last_activity;
  if (task.started != absl::InfinitePast()) return task.started;
  return task.created;
}

// SortedIds selects the tasks `filter` matches and returns their ids in `order`, ties broken by
// id. Tasks are compared by instants (creation, last activity) rather than by age and idle,
// which each snapshot measures against its own "now". The predicate only records each match's
// key and selects nothing, so no task is copied: the page's tasks are described afterwards.
std::vector<TaskId> SortedIds(const TaskManager& tasks, const TaskFilter& filter, Order order) {
  struct Key {
    absl::Time instant;
    TaskId id;
  };
  std::vector<Key> keys;
  const bool by_age = order == Order::kAge || order == Order::kAgeDesc;
  tasks.ListTaskPage(
      TaskQuery{.limit = 0, .predicate = [&](const TaskInfo& task) {
                  if (filter.Matches(task)) {
                    keys.push_back(Key{by_age ? task.created : LastActive(task), task.id});
                  }
                  return false;
                }});
  // Oldest first ("age desc") and longest idle first ("idle desc") are the earliest instants.
  const bool earliest_first = order == Order::kAgeDesc || order == Order::kIdleDesc;
  std::sort(keys.begin(), keys.end(), [earliest_first](const Key& a, const Key& b) {
    if (a.instant != b.instant)
      return earliest_first ? a.instant < b.instant : a.instant > b.instant;
    return a.id < b.id;
  });
  std::vector<TaskId> ids;
  ids.reserve(keys.size());
  for (const Key& key : keys) ids.push_back(key.id);
  return ids;
}

// FillFromCursor adds the tasks of `cursor` from `offset` on that are still managed, until
// the page is full; returns the offset the next page starts at.
std::size_t FillFromCursor(const std::string& server, const TaskManager& tasks,
                           const TaskCursor& cursor, std::size_t offset, int page_size,
                           v1::ListTasksResponse* response) {
  const absl::Span<const TaskId> ids(cursor.ids);
  while (offset < ids.size() && response->tasks_size() < page_size) {
    const std::size_t wanted = static_cast<std::size_t>(page_size - response->tasks_size());
    const absl::Span<const TaskId> chunk = ids.subspan(offset, wanted);
    for (const TaskInfo& task : tasks.GetTasks(chunk)) AddTask(task, server, response);
    offset += chunk.size();
  }
  return offset;
}

}  // namespace

TaskListing::TaskListing(CursorCache::Clock now)
    : cursors_(kMaxCursors, kMaxCursorIds, kCursorLifetime, std::move(now)) {}

absl::Status TaskListing::List(const std::string& server, const TaskManager& tasks,
                               const v1::ListTasksRequest& request,
                               v1::ListTasksResponse* response) {
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return page_size.status();
  absl::StatusOr<TaskFilter> filter = FilterOf(request);
  if (!filter.ok()) return filter.status();
  absl::StatusOr<OrderBy> order_by = ParseOrderBy(request.order_by());
  if (!order_by.ok()) return order_by.status();
  if (order_by->order == Order::kId) {
    return ListInIdOrder(server, tasks, request, *filter, *page_size, response);
  }

  std::shared_ptr<const TaskCursor> cursor;
  std::uint64_t key = 0;
  std::size_t offset = 0;
  if (request.page_token().empty()) {
    auto fresh = std::make_shared<TaskCursor>();
    fresh->server = server;
    fresh->order_by = order_by->text;
    fresh->ids = SortedIds(tasks, *filter, order_by->order);
    fresh->total = static_cast<std::uint32_t>(fresh->ids.size());
    cursor = std::move(fresh);
  } else {
    absl::StatusOr<std::string> position = ParsePageToken(kOrderedToken, request.page_token());
    if (!position.ok()) return position.status();
    const std::vector<absl::string_view> parts = absl::StrSplit(*position, ':');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &key) ||
        !absl::SimpleAtoi(parts[1], &offset)) {
      return TokenNotIssued();
    }
    cursor = cursors_.Find(key);
    if (cursor == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_token has expired (an ordered listing's tokens last ",
          absl::FormatDuration(kCursorLifetime), ") or is unknown: start the listing again"));
    }
    if (cursor->server != server || cursor->order_by != order_by->text) {
      return absl::InvalidArgumentError(
          "page_token belongs to another listing (a different server or order_by)");
    }
    if (offset > cursor->ids.size()) return TokenNotIssued();
  }
  const std::size_t next = FillFromCursor(server, tasks, *cursor, offset, *page_size, response);
  if (next < cursor->ids.size()) {
    if (key == 0) key = cursors_.Add(cursor);
    response->set_next_page_token(MakePageToken(kOrderedToken, absl::StrCat(key, ":", next)));
  }
  response->set_total_size(cursor->total);
  return absl::OkStatus();
}

}  // namespace weft::control

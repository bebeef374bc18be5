#include "control/tasks/stop_tasks.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/proto_conversion.h"
#include "control/tasks/task_filter.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

constexpr std::uint32_t kDefaultMaxCount = 1000;
constexpr std::uint32_t kMaxMaxCount = 1000000;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
constexpr absl::Duration kMaxTimeout = absl::Hours(1);

}  // namespace

absl::StatusOr<v1::StopTasksResponse> StopTasks(const ManagedServer& server,
                                                const v1::StopTasksRequest& request) {
  absl::StatusOr<TaskFilter> filter = TaskFilter::FromProto(request.filter());
  if (!filter.ok()) return filter.status();
  if (filter->empty()) {
    return absl::InvalidArgumentError(
        "filter is required: an empty filter selects every task (StopServer stops them all)");
  }
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  const std::size_t page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  if (request.max_count() > kMaxMaxCount) {
    return absl::InvalidArgumentError(absl::StrCat("max_count must be at most ", kMaxMaxCount));
  }
  const std::uint32_t max_count = request.max_count() == 0 ? kDefaultMaxCount : request.max_count();
  absl::Duration timeout = kDefaultTimeout;
  if (request.has_timeout()) {
    absl::StatusOr<absl::Duration> requested =
        DurationFromProto(request.timeout(), "timeout", kMaxTimeout);
    if (!requested.ok()) return requested.status();
    timeout = *requested;
  }

  const absl::Time start = absl::Now();
  TaskManager& manager = server.server->task_manager();
  std::vector<TaskId> ids;
  v1::StopTasksResponse response;
  for (const TaskInfo& task : manager.ListTasks()) {
    if (!filter->Matches(task)) continue;
    ids.push_back(task.id);
    if (static_cast<std::size_t>(response.tasks_size()) < page_size) {
      *response.add_tasks() = TaskToProto(task, server.name);
    }
  }
  if (ids.size() > max_count) {
    return absl::FailedPreconditionError(
        absl::StrCat(ids.size(), " tasks match the filter, more than max_count (", max_count,
                     "); nothing was stopped: narrow the filter or raise max_count"));
  }
  response.set_matched_tasks(static_cast<std::uint32_t>(ids.size()));
  if (!request.dry_run()) {
    const StopReport report = manager.StopTasks(ids, timeout);
    response.set_cooperative_tasks(static_cast<std::uint32_t>(report.cooperative));
    response.set_forced_tasks(static_cast<std::uint32_t>(report.forced));
    response.set_dropped_tasks(static_cast<std::uint32_t>(report.dropped));
  }
  const absl::Duration elapsed = absl::Now() - start;
  *response.mutable_elapsed() = DurationToProto(elapsed);
  LOG(INFO) << "control: StopTasks " << server.name << (request.dry_run() ? " (dry run)" : "")
            << " in " << elapsed << ": " << ids.size() << " matched, "
            << response.cooperative_tasks() << " cooperative, " << response.forced_tasks()
            << " forced, " << response.dropped_tasks() << " dropped";
  return response;
}

}  // namespace weft::control

#include "weft/task_manager_base.h"

#include <utility>

#include "server/internal/task_table.h"

namespace weft {

TaskManagerBase::TaskManagerBase(std::string kind, ExecutionModel model,
                                 std::optional<std::size_t> limit, std::size_t max_queued)
    : table_(std::make_unique<internal::TaskTable>(
          internal::TaskTableOptions{std::move(kind), model, limit, max_queued, {}})) {}

TaskManagerBase::TaskManagerBase(std::unique_ptr<internal::TaskTable> table)
    : table_(std::move(table)) {}

TaskManagerBase::~TaskManagerBase() = default;

absl::StatusOr<TaskId> TaskManagerBase::AddTask(TaskSpec spec) {
  return table_->Add(std::move(spec));
}
bool TaskManagerBase::RemoveTask(TaskId id) { return table_->Remove(id); }
bool TaskManagerBase::StopTask(TaskId id, absl::Duration grace) { return table_->Stop(id, grace); }
std::vector<TaskId> TaskManagerBase::AllTasks() const { return table_->All(); }
std::vector<TaskInfo> TaskManagerBase::ListTasks() const { return table_->List(); }
TaskPage TaskManagerBase::ListTaskPage(const TaskQuery& query) const {
  return table_->ListPage(query);
}
std::vector<TaskInfo> TaskManagerBase::GetTasks(absl::Span<const TaskId> ids) const {
  return table_->Get(ids);
}
TaskManagerStats TaskManagerBase::Stats() const { return table_->Stats(); }
std::optional<std::size_t> TaskManagerBase::limit() const { return table_->options().limit; }
std::size_t TaskManagerBase::max_queued() const { return table_->options().max_queued; }
std::string_view TaskManagerBase::kind() const { return table_->options().kind; }
StopReport TaskManagerBase::StopAllTasks(absl::Duration grace) { return table_->StopAll(grace); }
StopReport TaskManagerBase::StopTasks(const std::vector<TaskId>& ids, absl::Duration grace) {
  return table_->StopSome(ids, grace);
}
void TaskManagerBase::set_stop_listener(std::shared_ptr<StopListener> listener) {
  table_->set_stop_listener(std::move(listener));
}
bool TaskManagerBase::RunsTasksOnCaller() const {
  return table_->options().model == ExecutionModel::kCallerThread;
}
void TaskManagerBase::RunPendingTasks() {
  if (RunsTasksOnCaller()) table_->RunPendingOnCaller();
}

}  // namespace weft

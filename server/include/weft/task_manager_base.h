// TaskManagerBase: the bookkeeping shared by Weft's built-in managers — ids, a bounded queue,
// states, stop/remove with grace, introspection — parameterised by how threads are supplied.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/task_manager.h"

namespace weft {
namespace internal {
class TaskTable;
}  // namespace internal

// ExecutionModel: how a TaskManagerBase gives tasks a thread.
enum class ExecutionModel {
  kThreadPerTask,  // A thread is started per task, up to the limit; it then serves the queue.
  kFixedPool,      // `limit` threads started at construction serve the queue.
  kCallerThread,   // RunPendingTasks runs queued tasks on its caller, one at a time.
  kFiber,          // A fiber is started per task, up to the limit, on scheduler threads started
                   // at construction; it then serves the queue (FiberTaskManager).
};

// TaskManagerBase: thread-safe; see TaskManager for each method's contract. Destruction stops
// every task (zero grace) and joins every thread. Subclasses only choose an execution model.
class TaskManagerBase : public TaskManager {
 public:
  ~TaskManagerBase() override;

  absl::StatusOr<TaskId> AddTask(TaskSpec spec) override;
  using TaskManager::AddTask;
  bool RemoveTask(TaskId id) override;
  bool StopTask(TaskId id, absl::Duration grace) override;
  using TaskManager::StopTask;
  std::vector<TaskId> AllTasks() const override;
  std::vector<TaskInfo> ListTasks() const override;
  TaskPage ListTaskPage(const TaskQuery& query) const override;
  std::vector<TaskInfo> GetTasks(absl::Span<const TaskId> ids) const override;
  TaskManagerStats Stats() const override;
  std::optional<std::size_t> limit() const override;
  std::size_t max_queued() const override;
  std::string_view kind() const override;
  StopReport StopAllTasks(absl::Duration grace) override;
  StopReport StopTasks(const std::vector<TaskId>& ids, absl::Duration grace) override;
  void set_stop_listener(std::shared_ptr<StopListener> listener) override;
  bool RunsTasksOnCaller() const override;
  void RunPendingTasks() override;

 protected:
  // Admission: a task is accepted while fewer than limit + max_queued tasks are managed.
  TaskManagerBase(std::string kind, ExecutionModel model, std::optional<std::size_t> limit,
                  std::size_t max_queued);
  // For models that need more than these four settings (kFiber): the subclass builds the table.
  explicit TaskManagerBase(std::unique_ptr<internal::TaskTable> table);

 private:
  std::unique_ptr<internal::TaskTable> table_;
};

}  // namespace weft

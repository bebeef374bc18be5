#include "weft/threaded_task_manager.h"

#include <memory>

#include "server/internal/task_table.h"
#include "weft/base/names.h"

namespace weft {

ThreadedTaskManager::ThreadedTaskManager(ThreadedTaskManagerOptions options)
    : TaskManagerBase(std::make_unique<internal::TaskTable>(internal::TaskTableOptions{
          .kind = names::kManagerThreaded,
          .model = ExecutionModel::kThreadPerTask,
          .limit = options.limit,
          .max_queued = options.limit.has_value() ? options.max_queued : 0,
          .fibers = {},
          .thread_stack_size = options.stack_size,
          .idle_threads = options.idle_threads,
          .idle_thread_timeout = options.idle_thread_timeout,
      })) {}

}  // namespace weft

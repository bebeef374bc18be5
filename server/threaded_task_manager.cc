#include "weft/threaded_task_manager.h"

namespace weft {

ThreadedTaskManager::ThreadedTaskManager(ThreadedTaskManagerOptions options)
    : TaskManagerBase("threaded", ExecutionModel::kThreadPerTask, options.limit,
                      options.limit.has_value() ? options.max_queued : 0) {}

}  // namespace weft

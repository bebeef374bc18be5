#include "weft/threaded_task_manager.h"

#include "weft/base/names.h"

namespace weft {

ThreadedTaskManager::ThreadedTaskManager(ThreadedTaskManagerOptions options)
    : TaskManagerBase(names::kManagerThreaded, ExecutionModel::kThreadPerTask, options.limit,
                      options.limit.has_value() ? options.max_queued : 0) {}

}  // namespace weft

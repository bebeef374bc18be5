#include "weft/single_threaded_task_manager.h"

namespace weft {

SingleThreadedTaskManager::SingleThreadedTaskManager(SingleThreadedTaskManagerOptions options)
    : TaskManagerBase("single", ExecutionModel::kCallerThread, 1, options.max_queued) {}

}  // namespace weft

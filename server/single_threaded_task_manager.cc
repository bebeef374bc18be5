#include "weft/single_threaded_task_manager.h"

#include "weft/base/names.h"

namespace weft {

SingleThreadedTaskManager::SingleThreadedTaskManager(SingleThreadedTaskManagerOptions options)
    : TaskManagerBase(names::kManagerSingle, ExecutionModel::kCallerThread, 1,
                      options.max_queued) {}

}  // namespace weft

#include "weft/pool_task_manager.h"

#include "weft/base/names.h"

namespace weft {

PoolTaskManager::PoolTaskManager(PoolTaskManagerOptions options)
    : TaskManagerBase(names::kManagerPool, ExecutionModel::kFixedPool, options.threads,
                      options.max_queued) {}

}  // namespace weft

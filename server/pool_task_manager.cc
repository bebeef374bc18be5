#include "weft/pool_task_manager.h"

namespace weft {

PoolTaskManager::PoolTaskManager(PoolTaskManagerOptions options)
    : TaskManagerBase("pool", ExecutionModel::kFixedPool, options.threads, options.max_queued) {}

}  // namespace weft

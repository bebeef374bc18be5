#include "weft/pool_task_manager.h"

#include <memory>

#include "server/internal/task_table.h"
#include "weft/base/names.h"

namespace weft {

PoolTaskManager::PoolTaskManager(PoolTaskManagerOptions options)
    : TaskManagerBase(std::make_unique<internal::TaskTable>(internal::TaskTableOptions{
          .kind = names::kManagerPool,
          .model = ExecutionModel::kFixedPool,
          .limit = options.threads,
          .max_queued = options.max_queued,
          .fibers = {},
          .thread_stack_size = 0,
          .idle_threads = 0,
          .idle_thread_timeout = absl::ZeroDuration(),
          .batch_scheduling = options.batch_scheduling,
      })) {}

}  // namespace weft

// PoolTaskManager: a fixed set of pre-started worker threads and a bounded queue.
#pragma once

#include <cstddef>

#include "weft/task_manager_base.h"

namespace weft {

struct PoolTaskManagerOptions {
  // Worker threads, started at construction and joined at destruction. Must be ≥ 1.
  std::size_t threads = 4;
  // Tasks that may wait for a free worker; AddTask then says RESOURCE_EXHAUSTED.
  std::size_t max_queued = 1024;
};

// PoolTaskManager: no thread is created per connection; `threads` is its limit. Thread-safe.
class PoolTaskManager final : public TaskManagerBase {
 public:
  explicit PoolTaskManager(PoolTaskManagerOptions options = {});
};

}  // namespace weft

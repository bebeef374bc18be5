// ThreadedTaskManager: the default manager — a thread per connection, as in the seed.
#pragma once

#include <cstddef>
#include <optional>

#include "weft/task_manager_base.h"

namespace weft {

struct ThreadedTaskManagerOptions {
  // At most this many tasks run at once; beyond it tasks queue. nullopt = no limit.
  std::optional<std::size_t> limit;
  // Tasks that may wait beyond the limit; AddTask then says RESOURCE_EXHAUSTED.
  std::size_t max_queued = 1024;
};

// ThreadedTaskManager: starts a thread for each task while fewer than `limit` run; a thread
// that finishes its task takes the next queued one before exiting, so a saturated manager does
// not pay for thread creation per task. Thread-safe. Every thread is joined, never detached.
class ThreadedTaskManager final : public TaskManagerBase {
 public:
  explicit ThreadedTaskManager(ThreadedTaskManagerOptions options = {});
};

}  // namespace weft

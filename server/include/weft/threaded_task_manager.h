// ThreadedTaskManager: the default manager — a thread per connection, as in the seed.
#pragma once

#include <cstddef>
#include <optional>

#include "weft/task_manager_base.h"

namespace weft {

struct ThreadedTaskManagerOptions {
  // kDefaultStackSize: 1 MiB, what the JVM and MySQL give a connection's thread. glibc reuses
  // freed stacks up to 40 MiB in all, so forty threads' stacks at this size are reused, against
  // five at the 8 MiB default: see weft/base/thread.h.
  static constexpr std::size_t kDefaultStackSize = std::size_t{1} << 20;

  // At most this many tasks run at once; beyond it tasks queue. nullopt = no limit.
  std::optional<std::size_t> limit;
  // Tasks that may wait beyond the limit; AddTask then says RESOURCE_EXHAUSTED.
  std::size_t max_queued = 1024;
  // Each task thread's stack, in bytes (rounded up to whole pages); 0 = the process's default
  // (RLIMIT_STACK, usually 8 MiB). A handler that needs deeper recursion or large stack buffers
  // raises it.
  std::size_t stack_size = kDefaultStackSize;
};

// ThreadedTaskManager: starts a thread for each task while fewer than `limit` run; a thread
// that finishes its task takes the next queued one before exiting, so a saturated manager does
// not pay for thread creation per task. Thread-safe. Every thread is joined, never detached.
class ThreadedTaskManager final : public TaskManagerBase {
 public:
  explicit ThreadedTaskManager(ThreadedTaskManagerOptions options = {});
};

}  // namespace weft

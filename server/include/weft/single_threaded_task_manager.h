// SingleThreadedTaskManager: runs tasks one at a time on the thread that calls Server::Run.
#pragma once

#include <cstddef>

#include "weft/task_manager_base.h"

namespace weft {

struct SingleThreadedTaskManagerOptions {
  // Connections accepted while one is being served wait here; beyond it they are refused.
  std::size_t max_queued = 64;
};

// SingleThreadedTaskManager: an iterative server's manager. With it Server::Run blocks until the
// server is stopped, serving one connection at a time on its caller's thread (limit 1); other
// clients wait in the queue (and in the kernel's listen backlog while a task runs).
// Thread-safe, except that RunPendingTasks must be called from one thread at a time.
class SingleThreadedTaskManager final : public TaskManagerBase {
 public:
  explicit SingleThreadedTaskManager(SingleThreadedTaskManagerOptions options = {});
};

}  // namespace weft

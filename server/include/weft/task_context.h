// The per-task context a running task can query: the seed's *shutdown* flag and task id.
//
// Each built-in manager sets the context for what runs a task: the thread of the threaded, pool
// and single-threaded managers, the fiber of FiberTaskManager (switched with the fiber).
// Outside a task every function here is a harmless no-op.
#pragma once

#include <optional>

#include "weft/task.h"

namespace weft {

// ShutdownRequested returns true once the calling task has been asked to stop (by StopTask,
// RemoveTask, Server::Stop or its own RequestShutdown). Cooperative handlers poll it between
// units of work. False outside a task. Thread contract: call from the task itself.
bool ShutdownRequested();

// RequestShutdown sets the calling task's own shutdown flag (the seed's `(setf *shutdown* t)`);
// its blocked I/O then returns CANCELLED. No effect outside a task.
void RequestShutdown();

// CurrentTaskId returns the id of the calling task, or nullopt outside a task.
std::optional<TaskId> CurrentTaskId();

}  // namespace weft

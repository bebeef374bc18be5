// ThreadedTaskManager: the default manager — a thread per connection, as in the seed.
#pragma once

#include <cstddef>
#include <optional>

#include "absl/time/time.h"
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
  // The idle-thread cache: a thread whose task ended and finds none queued waits up to
  // `idle_thread_timeout` for the next task, while fewer than `idle_threads` wait so; the next
  // AddTask hands its task to such a thread instead of starting one (MySQL's thread_cache_size).
  // A busy server then pays for thread creation and exit only when its concurrency grows.
  // With a `limit`, running and cached threads together stay within it.
  // idle_threads = 0 turns the cache off: every thread exits when its task ends.
  std::size_t idle_threads = 64;
  absl::Duration idle_thread_timeout = absl::Seconds(10);
};

// ThreadedTaskManager: runs each task on a thread of its own while fewer than `limit` run. A
// thread that finishes its task takes the next queued one, or else waits in the idle-thread
// cache for the next AddTask, before it exits; a thread serves tasks one after another, never
// two at once. Thread-safe. Every thread is joined, never detached: StopAllTasks and the
// destructor return with the cached threads gone too.
class ThreadedTaskManager final : public TaskManagerBase {
 public:
  explicit ThreadedTaskManager(ThreadedTaskManagerOptions options = {});
};

}  // namespace weft

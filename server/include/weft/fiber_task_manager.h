// FiberTaskManager: tasks as stackful coroutines (fibers) on a few scheduler threads, each with
// its own epoll loop — thread-style handlers at event-loop cost.
#pragma once

#include <cstddef>
#include <optional>

#include "weft/task_manager_base.h"

namespace weft {

struct FiberTaskManagerOptions {
  // Scheduler threads, started at construction and joined at destruction; 0 = one per core
  // (std::thread::hardware_concurrency()).
  std::size_t threads = 0;
  // Usable stack bytes per fiber (rounded up to whole pages), below which one PROT_NONE guard
  // page is mapped: an overflow dies with SIGSEGV instead of corrupting memory. Only the pages
  // a task touches become resident. Default 64 KiB; minimum 16 KiB. Sanitizer builds
  // (-DWEFT_SANITIZE=...) map 4× the size, since instrumented frames are that much bigger.
  //
  // Sizing: the deepest call chain of your handler (its largest local buffers count in full;
  // the built-in echo handler keeps a 16 KiB buffer on the stack) plus ~8 KiB for Weft, spdlog and
  // libc beneath it. Run your handler's worst case under a test with the intended size: an
  // overflow is a deterministic crash, not a silent one.
  std::size_t stack_size = 64 * 1024;
  // At most this many tasks run at once; beyond it tasks queue. nullopt = no limit (the usual
  // choice: a parked fiber costs only its touched stack pages and a few hundred bytes).
  std::optional<std::size_t> limit;
  // Tasks that may wait beyond the limit (only with a limit); AddTask then says
  // RESOURCE_EXHAUSTED.
  std::size_t max_queued = 1024;
  // Helper threads for weft::RunBlocking (weft/fiber.h), started on first use and joined at
  // destruction. Must be ≥ 1.
  std::size_t blocking_threads = 4;
};

// FiberTaskManager: each task runs as a fiber (Boost.Context) on one of `threads` scheduler
// threads; a fiber stays on the scheduler it started on. A Connection read or write that would
// block parks the fiber — its scheduler runs other fibers — until the socket is ready, the
// operation's deadline passes, or the task is asked to stop. ShutdownRequested(),
// CurrentTaskId(), ThreadShutdown, StopTask, RemoveTask, limits and timeouts behave exactly as
// on ThreadedTaskManager. Thread-safe. kind() is "fiber".
//
// Honest limits — a fiber runs until it parks, so anything that blocks without going through
// Weft blocks its whole scheduler thread (every other task on it waits):
//   - system calls Weft does not know about (a blocking read of another descriptor, sleep,
//     DNS lookups, file I/O, a database client): run them with weft::RunBlocking, which parks
//     the fiber while a helper thread does the work;
//   - waiting on a mutex, condition variable or future held or signalled by another task of the
//     same scheduler can deadlock it — coordinate through sockets, or wait in RunBlocking;
//   - a long computation starves the other fibers of its scheduler: call weft::Yield() in the
//     loop.
// Stop, StopTask and RemoveTask called from a handler park the calling fiber (they do not block
// its scheduler), so a handler may stop another task of the same manager.
//
// Capacity: a parked connection costs its fiber's touched stack pages plus its task and
// connection state, and no descriptor beyond its socket (weftd's echo handler, which keeps a
// 16 KiB buffer on its stack: 8.8 KiB RSS per idle connection, measured with 19,000). Nothing
// here caps the number of tasks, but each stack is two memory mappings (the stack and its
// guard page): N concurrent tasks need vm.max_map_count above 2N (the Linux default, 65,530,
// allows ~32,000) and RLIMIT_NOFILE above N.
class FiberTaskManager final : public TaskManagerBase {
 public:
  explicit FiberTaskManager(FiberTaskManagerOptions options = {});
};

}  // namespace weft

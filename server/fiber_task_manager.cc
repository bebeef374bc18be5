#include "weft/fiber_task_manager.h"

#include <exception>
#include <memory>
#include <thread>
#include <utility>

#include "server/internal/fiber_scheduler.h"
#include "server/internal/task_table.h"
#include "weft/base/log.h"
#include "weft/base/names.h"
#include "weft/base/sync.h"
#include "weft/fiber.h"

namespace weft {
namespace {

std::unique_ptr<internal::TaskTable> NewFiberTable(const FiberTaskManagerOptions& options) {
  std::size_t threads = options.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  internal::TaskTableOptions table{
      .kind = names::kManagerFiber,
      .model = ExecutionModel::kFiber,
      .limit = options.limit,
      .max_queued = options.limit.has_value() ? options.max_queued : 0,
      .fibers = {.threads = threads,
                 .stack_size = options.stack_size,
                 .blocking_threads = options.blocking_threads},
  };
  return std::make_unique<internal::TaskTable>(std::move(table));
}

}  // namespace

FiberTaskManager::FiberTaskManager(FiberTaskManagerOptions options)
    : TaskManagerBase(NewFiberTable(options)) {}

void Yield() {
  if (internal::CurrentFiber() != nullptr) {
    internal::YieldCurrentFiber();
  } else {
    std::this_thread::yield();
  }
}

bool InFiber() { return internal::CurrentFiber() != nullptr; }

namespace internal {

void RunBlockingImpl(absl::FunctionRef<void()> fn) {
  Fiber* self = CurrentFiber();
  if (self == nullptr) {
    fn();
    return;
  }
  struct Job {
    Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    std::exception_ptr error;  // Written before `done`, read after it.
  } job;
  SubmitBlockingWork([&job, fn, self] {
    try {
      fn();
    } catch (...) {
      job.error = std::current_exception();
    }
    // Unpark under the lock: the fiber cannot see `done`, return and end before it completes.
    MutexLock lock(&job.mu);
    job.done = true;
    UnparkFiber(self);
  });
  while (true) {
    {
      MutexLock lock(&job.mu);
      if (job.done) break;
    }
    ParkCurrentFiber(kNoDeadline);
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace internal
}  // namespace weft

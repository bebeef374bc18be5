// Cooperation points for handlers running on FiberTaskManager: Yield and RunBlocking. Both
// work on every manager: outside a fiber they fall back to the plain thread behaviour.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"

namespace weft {

// Yield lets the other ready fibers of the calling fiber's scheduler run, then returns (call it
// in long computations on FiberTaskManager). Outside a fiber: std::this_thread::yield().
void Yield();

// InFiber returns true when called from a task running on a FiberTaskManager.
bool InFiber();

namespace internal {
void RunBlockingImpl(absl::FunctionRef<void()> fn);
}  // namespace internal

// RunBlocking runs `fn` on a helper thread of the calling fiber's FiberTaskManager and parks the
// fiber (its scheduler serves other tasks meanwhile) until `fn` returns; then returns its result
// or rethrows its exception. Outside a fiber it just calls `fn`. Use it for blocking calls Weft
// does not know about: file I/O, DNS, blocking client libraries, sleeps.
//
// `fn` runs outside the task: there ShutdownRequested() is false and CurrentTaskId() empty, and
// it must not use the task's Connection. It cannot be interrupted: StopTask and Server::Stop
// wait for it to return. At most FiberTaskManagerOptions::blocking_threads calls run at once;
// the others wait in order.
template <typename Fn>
std::invoke_result_t<Fn&> RunBlocking(Fn&& fn) {
  using Result = std::invoke_result_t<Fn&>;
  if constexpr (std::is_void_v<Result>) {
    internal::RunBlockingImpl([&fn] { fn(); });
  } else {
    std::optional<Result> result;
    internal::RunBlockingImpl([&fn, &result] { result.emplace(fn()); });
    return std::move(*result);
  }
}

}  // namespace weft

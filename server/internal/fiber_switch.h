// Internal header: do not include from outside the weft library and its tests.
//
// Fiber switching: the Boost.Context stack switches between a scheduler thread and its fibers,
// each announced to the sanitizers. Without the announcements they see one thread jumping
// between stacks: TSan reports races between fibers of one thread and ASan false stack
// overflows. Everything here is inline: it runs on every switch.
#pragma once

#include <cstddef>
#include <utility>

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

// GCC defines __SANITIZE_*__; clang (the fuzzing build) answers __has_feature.
#if defined(__SANITIZE_THREAD__)
#define WEFT_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_FIBER_ASAN 1
#endif
#endif
#if defined(WEFT_FIBER_TSAN)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(WEFT_FIBER_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace weft::internal {

// kSanitizerStackFactor: how many times the requested stack a fiber gets. Sanitizer builds use
// several times the stack: ASan adds redzones to every frame, TSan and ASan instrument spdlog
// and Abseil too.
#if defined(WEFT_FIBER_TSAN) || defined(WEFT_FIBER_ASAN)
inline constexpr std::size_t kSanitizerStackFactor = 4;
#else
inline constexpr std::size_t kSanitizerStackFactor = 1;
#endif

// FiberStack: Boost.Context's StackAllocator concept over another one, `StackAllocator`, for
// one fiber: it records the stack it hands out in *record (the switches announce its bounds)
// and, under ASan, unpoisons a stack before giving it back. Boost.Context owns it (and the
// wrapped allocator) for the fiber's lifetime and calls it on the thread creating the fiber
// and on the one ending it.
template <typename StackAllocator>
class FiberStack {
 public:
  FiberStack(StackAllocator stacks, boost::context::stack_context* record)
      : stacks_(std::move(stacks)), record_(record) {}

  // allocate returns a stack from the wrapped allocator (which may throw std::bad_alloc).
  boost::context::stack_context allocate() {
    *record_ = stacks_.allocate();
    return *record_;
  }

  // deallocate gives `s` back to the wrapped allocator.
  void deallocate(boost::context::stack_context& s) noexcept {
#if defined(WEFT_FIBER_ASAN)
    // A finished fiber leaves the redzones of the frames it never returned from poisoned.
    __asan_unpoison_memory_region(static_cast<char*>(s.sp) - s.size, s.size);
#endif
    stacks_.deallocate(s);
  }

 private:
  StackAllocator stacks_;
  boost::context::stack_context* record_;
};

// SchedulerContext: a scheduler thread's own side of its fiber switches, the one every fiber
// switches back to. Owned by the scheduler and confined to its thread. Empty without TSan.
class SchedulerContext {
 public:
  // Bind records the calling thread as the scheduler thread: call it there before the first
  // FiberContext::Resume.
  void Bind() {
#if defined(WEFT_FIBER_TSAN)
    tsan_self_ = __tsan_get_current_fiber();
#endif
  }

 private:
  friend class FiberContext;

#if defined(WEFT_FIBER_TSAN)
  void* tsan_self_ = nullptr;
#endif
};

// FiberContext: one fiber's execution context (its Boost.Context continuation, its stack and
// its sanitizer records), and the switches into and out of it. Owned by its Fiber; confined to
// the scheduler thread once the fiber has been handed over. Resume runs on the scheduler's own
// stack, Enter, Suspend and Exit on the fiber's.
class FiberContext {
 public:
  FiberContext() = default;
  FiberContext(const FiberContext&) = delete;
  FiberContext& operator=(const FiberContext&) = delete;

  // Create makes the fiber, suspended at its start: its first Resume calls
  // `entry(boost::context::fiber&& scheduler)`, which must begin with Enter(std::move(scheduler))
  // and return Exit(...). The stack comes from `stacks` (a Boost.Context StackAllocator, owned
  // by the fiber from here). Throws std::bad_alloc when no stack can be had.
  template <typename StackAllocator, typename Entry>
  void Create(StackAllocator stacks, Entry entry) {
    fiber_ = boost::context::fiber(std::allocator_arg,
                                   FiberStack<StackAllocator>(std::move(stacks), &stack_),
                                   std::move(entry));
#if defined(WEFT_FIBER_TSAN)
    tsan_fiber_ = __tsan_create_fiber(0);
#endif
  }

  // Destroy releases the sanitizer's record of an ended fiber. Call once, after ended().
  void Destroy() {
#if defined(WEFT_FIBER_TSAN)
    __tsan_destroy_fiber(tsan_fiber_);
#endif
  }

  // ended: whether the fiber has returned from its entry function (its stack is freed).
  bool ended() const { return !fiber_; }

  // Resume switches from the scheduler into the fiber, until it suspends or ends.
  void Resume() {
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, static_cast<char*>(stack_.sp) - stack_.size,
                                   stack_.size);
#endif
    fiber_ = std::move(fiber_).resume();
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  }

  // Enter is the first thing the fiber does: it keeps `scheduler`, the context to switch back to.
  void Enter(boost::context::fiber&& scheduler) {
    return_to_ = std::move(scheduler);
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
  }

  // Suspend switches from the fiber back to `scheduler` (the one that resumed it), until the
  // next Resume.
  void Suspend([[maybe_unused]] const SchedulerContext& scheduler) {
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(scheduler.tsan_self_, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
#endif
    return_to_ = std::move(return_to_).resume();
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
  }

  // Exit is the last thing the fiber does: its entry function returns the result, which
  // switches to `scheduler` for good.
  boost::context::fiber Exit([[maybe_unused]] const SchedulerContext& scheduler) {
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(scheduler.tsan_self_, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    // nullptr: this fiber's fake stack is never used again.
    __sanitizer_start_switch_fiber(nullptr, scheduler_stack_bottom_, scheduler_stack_size_);
#endif
    return std::move(return_to_);
  }

 private:
  boost::context::fiber fiber_;      // The fiber, while suspended.
  boost::context::fiber return_to_;  // Its scheduler, while the fiber runs.
  boost::context::stack_context stack_{};
#if defined(WEFT_FIBER_TSAN)
  void* tsan_fiber_ = nullptr;
#endif
#if defined(WEFT_FIBER_ASAN)
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
#endif
};

}  // namespace weft::internal

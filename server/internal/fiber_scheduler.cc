#include "server/internal/fiber_scheduler.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <deque>
#include <exception>
#include <new>
#include <utility>

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

#include "absl/strings/str_cat.h"
#include "server/internal/acceptor.h"
#include "server/internal/task_control.h"
#include "weft/base/log.h"
#include "weft/unique_fd.h"

// Stack switches must be announced to the sanitizers, or they see one thread jumping between
// stacks: TSan reports races between fibers of one thread and ASan false stack overflows.
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
namespace ctx = boost::context;

namespace {

constexpr std::size_t kNotInHeap = static_cast<std::size_t>(-1);
constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};

// EdgeBits: the epoll events that end a wait for `interest` (errors and hang-ups end any wait).
std::uint32_t EdgeBits(IoInterest interest) {
  const std::uint32_t direction =
      interest == IoInterest::kReadable ? (EPOLLIN | EPOLLRDHUP) : EPOLLOUT;
  return direction | EPOLLERR | EPOLLHUP;
}

// Freed stacks kept per scheduler for reuse: a new connection then costs no mmap/mprotect and no
// munmap (whose TLB shoot-down interrupts every other core).
constexpr std::size_t kMaxPooledStacks = 256;
constexpr int kMaxEvents = 256;

std::size_t PageSize() {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// Sanitizer builds use several times the stack: ASan adds redzones to every frame, TSan and ASan
// instrument spdlog and Abseil too.
#if defined(WEFT_FIBER_TSAN) || defined(WEFT_FIBER_ASAN)
constexpr std::size_t kSanitizerStackFactor = 4;
#else
constexpr std::size_t kSanitizerStackFactor = 1;
#endif

constexpr std::size_t kMinStackSize = 16 * 1024;

}  // namespace

// StackPool: guard-paged stacks of one size. Thread-safe (fibers are created by whoever calls
// AddTask; their stacks are freed on the scheduler thread).
class StackPool {
 public:
  explicit StackPool(std::size_t usable)
      : usable_((std::max(usable, kMinStackSize) * kSanitizerStackFactor + PageSize() - 1) /
                PageSize() * PageSize()) {}
  ~StackPool() {
    for (const ctx::stack_context& s : free_) Unmap(s);
  }

  // Allocate maps usable_ bytes plus one PROT_NONE guard page below them: an overflow faults
  // (SIGSEGV) at the guard instead of overwriting the next mapping. Throws std::bad_alloc.
  ctx::stack_context Allocate() {
    {
      MutexLock lock(&mu_);
      if (!free_.empty()) {
        ctx::stack_context s = free_.back();
        free_.pop_back();
        return s;
      }
    }
    const std::size_t total = usable_ + PageSize();
    void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    if (::mprotect(base, PageSize(), PROT_NONE) != 0) {
      ::munmap(base, total);
      throw std::bad_alloc();
    }
    ctx::stack_context s;
    s.size = usable_;
    s.sp = static_cast<char*>(base) + total;
    return s;
  }

  void Release(ctx::stack_context& s) {
#if defined(WEFT_FIBER_ASAN)
    // A finished fiber leaves the redzones of the frames it never returned from poisoned.
    __asan_unpoison_memory_region(static_cast<char*>(s.sp) - s.size, s.size);
#endif
    {
      MutexLock lock(&mu_);
      if (free_.size() < kMaxPooledStacks) {
        free_.push_back(s);
        return;
      }
    }
    Unmap(s);
  }

  std::size_t usable() const { return usable_; }

 private:
  void Unmap(const ctx::stack_context& s) {
    ::munmap(static_cast<char*>(s.sp) - s.size - PageSize(), s.size + PageSize());
  }

  const std::size_t usable_;
  Mutex mu_;
  std::vector<ctx::stack_context> free_ ABSL_GUARDED_BY(mu_);
};

// FiberWaiter: the IoWaiter of one fiber — parks it on its scheduler's epoll.
class FiberWaiter final : public TaskWaiter {
 public:
  explicit FiberWaiter(Fiber* fiber) : fiber_(fiber) {}
  absl::Status Wait(int fd, IoInterest interest, Deadline deadline) override;
  void Wake() override { UnparkFiber(fiber_); }
  bool BlocksThread() const override { return false; }
  void Reset() override {}
  void ForgetDescriptor(int fd) override;

 private:
  Fiber* const fiber_;
};

// Fiber: one coroutine and its scheduling state. Everything but remote_queued is confined to
// its scheduler's thread once the fiber has been handed over.
class Fiber {
 public:
  enum class State { kReady, kRunning, kParked };

  Fiber(FiberScheduler* scheduler, absl::AnyInvocable<void()> fn)
      : scheduler(scheduler), fn(std::move(fn)), waiter(this) {}

  FiberScheduler* const scheduler;
  absl::AnyInvocable<void()> fn;
  ctx::fiber context;    // The fiber, while suspended.
  ctx::fiber return_to;  // Its scheduler, while the fiber runs.
  ctx::stack_context stack{};
  State state = State::kParked;  // A new fiber waits for its first Unpark.
  WakeReason reason = WakeReason::kWoken;
  Deadline park_deadline = kNoDeadline;
  std::size_t heap_index = kNotInHeap;
  std::uint32_t wait_events = 0;
  TaskControl* current_task = nullptr;  // Saved across switches: the task context is per fiber.
  std::vector<int> registered_fds;      // Descriptors it registered with the epoll.
  bool remote_queued = false;           // Guarded by the scheduler's remote_mu_.
  FiberWaiter waiter;
#if defined(WEFT_FIBER_TSAN)
  void* tsan_fiber = nullptr;
#endif
#if defined(WEFT_FIBER_ASAN)
  const void* scheduler_stack_bottom = nullptr;
  std::size_t scheduler_stack_size = 0;
#endif
};

namespace {

thread_local FiberScheduler* tls_scheduler = nullptr;
thread_local Fiber* tls_fiber = nullptr;

// PooledStack: Boost.Context's StackAllocator concept over a StackPool; records the stack in
// the fiber for the sanitizer annotations.
class PooledStack {
 public:
  PooledStack(StackPool* pool, Fiber* fiber) : pool_(pool), fiber_(fiber) {}
  ctx::stack_context allocate() {
    fiber_->stack = pool_->Allocate();
    return fiber_->stack;
  }
  void deallocate(ctx::stack_context& s) noexcept { pool_->Release(s); }

 private:
  StackPool* pool_;
  Fiber* fiber_;
};

}  // namespace

// FiberScheduler: one thread, one epoll, the fibers spawned on it. Spawn and Unpark are
// thread-safe; everything else runs on the scheduler thread.
class FiberScheduler {
 public:
  FiberScheduler(FiberSchedulerGroup* group, StackPool* stacks)
      : group_(group), stacks_(stacks) {
    {
      MutexLock lock(&DescriptorReserveMutex());
      epoll_.Reset(::epoll_create1(EPOLL_CLOEXEC));
      wake_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
    PCHECK(epoll_.valid()) << "epoll_create1 for a fiber scheduler";
    PCHECK(wake_.valid()) << "eventfd for a fiber scheduler";
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeToken;
    PCHECK(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) == 0);
    thread_ = std::thread([this] { Loop(); });
  }

  ~FiberScheduler() {
    {
      MutexLock lock(&remote_mu_);
      exit_ = true;
    }
    Notify();
    thread_.join();
  }

  FiberSchedulerGroup* group() const { return group_; }
  std::size_t load() const { return live_.load(std::memory_order_relaxed); }

  absl::Status Spawn(absl::AnyInvocable<void()> fn) {
    auto fiber = std::make_unique<Fiber>(this, std::move(fn));
    Fiber* f = fiber.get();
    try {
      f->context = ctx::fiber(std::allocator_arg, PooledStack(stacks_, f),
                              [f](ctx::fiber&& scheduler) { return Body(f, std::move(scheduler)); });
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot map a ", stacks_->usable(), "-byte fiber stack: ",
                       "out of memory or vm.max_map_count reached"));
    }
#if defined(WEFT_FIBER_TSAN)
    f->tsan_fiber = __tsan_create_fiber(0);
#endif
    live_.fetch_add(1, std::memory_order_relaxed);
    fiber.release();  // Owned by the scheduler from here: freed in Finish.
    Unpark(f);
    return absl::OkStatus();
  }

  void Unpark(Fiber* f) {
    if (tls_scheduler == this) {
      MakeReadyIfParked(f);
      return;
    }
    bool notify;
    {
      MutexLock lock(&remote_mu_);
      if (f->remote_queued) return;
      f->remote_queued = true;
      notify = remote_ready_.empty();
      remote_ready_.push_back(f);
    }
    if (notify) Notify();
  }

  // Park suspends the running fiber `f` (on this thread) until woken.
  WakeReason Park(Fiber* f, Deadline deadline) {
    f->state = Fiber::State::kParked;
    if (deadline != kNoDeadline) {
      TimerSet(f, deadline);
    } else if (f->heap_index != kNotInHeap) {
      TimerRemove(f);
    }
    SwitchToScheduler(f);
    return f->reason;
  }

  void Yield(Fiber* f) {
    f->state = Fiber::State::kReady;
    ready_.push_back(f);
    SwitchToScheduler(f);
  }

  // TakeEdge returns whether `fd`, registered by `f`, became ready for `interest` since the
  // last time `f` waited on it for that (an edge reported while `f` was not waiting for it),
  // and forgets the edge: the caller's next system call will find out whether it was stale.
  bool TakeEdge(Fiber* f, int fd, IoInterest interest) {
    const std::size_t slot = static_cast<std::size_t>(fd);
    if (slot >= fd_owner_.size() || fd_owner_[slot] != f) return false;
    const std::uint32_t bits = EdgeBits(interest);
    const bool seen = (fd_edges_[slot] & bits) != 0;
    fd_edges_[slot] &= ~bits;
    return seen;
  }

  // WatchFd registers `fd` (edge-triggered, both directions, once per fiber and descriptor) and
  // marks `f` as waiting on it for `interest`.
  absl::Status WatchFd(Fiber* f, int fd, IoInterest interest) {
    const std::size_t slot = static_cast<std::size_t>(fd);
    if (slot >= fd_owner_.size()) {
      const std::size_t size = std::max<std::size_t>(slot + 1, fd_owner_.size() * 2);
      fd_owner_.resize(size, nullptr);
      fd_waiter_.resize(size, nullptr);
      fd_edges_.resize(size, 0);
    }
    if (fd_owner_[slot] != f) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = slot;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (errno != EEXIST || ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
          return absl::ErrnoToStatus(errno, "epoll_ctl");
        }
      }
      fd_owner_[slot] = f;
      fd_edges_[slot] = 0;  // A new registration reports the current readiness by itself.
      f->registered_fds.push_back(fd);
    }
    fd_waiter_[slot] = f;
    f->wait_events = EdgeBits(interest);
    return absl::OkStatus();
  }

  void UnwatchFd(int fd) { fd_waiter_[static_cast<std::size_t>(fd)] = nullptr; }

  // Forget drops every registration cached for `f` (one of its descriptors is about to be
  // closed), so that a reused descriptor number is registered afresh. No EPOLL_CTL_DEL: close()
  // removes the registration, and one that survives (a dup()ed socket) is harmless — events are
  // keyed by descriptor slot and reach only a fiber parked on that slot, as a spurious wake-up.
  void Forget(Fiber* f, int fd) {
    (void)fd;
    ForgetRegistrations(f);
  }

 private:
  static ctx::fiber Body(Fiber* f, ctx::fiber&& scheduler) {
    f->return_to = std::move(scheduler);
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &f->scheduler_stack_bottom,
                                    &f->scheduler_stack_size);
#endif
    {
      absl::AnyInvocable<void()> fn = std::move(f->fn);
      try {
        fn();
      } catch (...) {
        LOG(FATAL) << "an exception escaped a fiber's task boundary";
      }
    }
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(f->scheduler->tsan_self_, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    // nullptr: this fiber's fake stack is never used again.
    __sanitizer_start_switch_fiber(nullptr, f->scheduler_stack_bottom, f->scheduler_stack_size);
#endif
    return std::move(f->return_to);
  }

  void SwitchToScheduler(Fiber* f) {
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(tsan_self_, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, f->scheduler_stack_bottom,
                                   f->scheduler_stack_size);
#endif
    f->return_to = std::move(f->return_to).resume();
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, &f->scheduler_stack_bottom,
                                    &f->scheduler_stack_size);
#endif
  }

  void Resume(Fiber* f) {
    f->state = Fiber::State::kRunning;
    tls_fiber = f;
    ExchangeCurrentTask(f->current_task);
#if defined(WEFT_FIBER_TSAN)
    __tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
#if defined(WEFT_FIBER_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, static_cast<char*>(f->stack.sp) - f->stack.size,
                                   f->stack.size);
#endif
    f->context = std::move(f->context).resume();
#if defined(WEFT_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
    f->current_task = ExchangeCurrentTask(nullptr);
    tls_fiber = nullptr;
    if (!f->context) Finish(f);
  }

  void Finish(Fiber* f) {
    if (f->heap_index != kNotInHeap) TimerRemove(f);
    ForgetRegistrations(f);
    {
      MutexLock lock(&remote_mu_);
      if (f->remote_queued) {
        remote_ready_.erase(std::find(remote_ready_.begin(), remote_ready_.end(), f));
      }
    }
#if defined(WEFT_FIBER_TSAN)
    __tsan_destroy_fiber(f->tsan_fiber);
#endif
    delete f;
    live_.fetch_sub(1, std::memory_order_relaxed);
  }

  void ForgetRegistrations(Fiber* f) {
    for (int fd : f->registered_fds) {
      const std::size_t slot = static_cast<std::size_t>(fd);
      if (fd_owner_[slot] == f) {
        fd_owner_[slot] = nullptr;
        fd_edges_[slot] = 0;
      }
      if (fd_waiter_[slot] == f) fd_waiter_[slot] = nullptr;
    }
    f->registered_fds.clear();
  }

  void MakeReadyIfParked(Fiber* f, WakeReason reason = WakeReason::kWoken) {
    if (f->state != Fiber::State::kParked) return;
    f->state = Fiber::State::kReady;
    f->reason = reason;
    ready_.push_back(f);
  }

  void Notify() {
    const std::uint64_t one = 1;
    // EAGAIN: the counter is saturated, a wake-up is pending anyway.
    [[maybe_unused]] ssize_t r = ::write(wake_.get(), &one, sizeof one);
  }

  // DrainRemote takes the wake-ups posted by other threads; returns whether exit was requested.
  bool DrainRemote() {
    bool exit;
    {
      MutexLock lock(&remote_mu_);
      remote_taken_.swap(remote_ready_);
      for (Fiber* f : remote_taken_) f->remote_queued = false;
      exit = exit_;
    }
    for (Fiber* f : remote_taken_) MakeReadyIfParked(f);
    remote_taken_.clear();
    return exit;
  }

  void Loop() {
    tls_scheduler = this;
#if defined(WEFT_FIBER_TSAN)
    tsan_self_ = __tsan_get_current_fiber();
#endif
    epoll_event events[kMaxEvents];
    while (true) {
      const bool exit = DrainRemote();
      // Only the fibers ready now: one that yields runs again after the next poll.
      for (std::size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
        Fiber* f = ready_.front();
        ready_.pop_front();
        Resume(f);
      }
      if (exit && live_.load(std::memory_order_relaxed) == 0) break;
      const int timeout = ready_.empty() ? TimeoutMs() : 0;
      const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
      if (n < 0) {
        PCHECK(errno == EINTR) << "epoll_wait";
        continue;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t token = events[i].data.u64;
        if (token == kWakeToken) {
          std::uint64_t value;
          [[maybe_unused]] ssize_t r = ::read(wake_.get(), &value, sizeof value);
          continue;
        }
        if (token >= fd_waiter_.size()) continue;
        // Remember every edge: with EPOLLET it is reported once, and the owner may be running,
        // or waiting for the other direction, and ask for it later (TakeEdge).
        if (fd_owner_[token] != nullptr) fd_edges_[token] |= events[i].events;
        Fiber* f = fd_waiter_[token];
        if (f == nullptr) continue;
        if ((events[i].events & f->wait_events) != 0) {
          fd_edges_[token] &= ~f->wait_events;
          MakeReadyIfParked(f, WakeReason::kReady);
        }
      }
      FireTimers();
    }
    tls_scheduler = nullptr;
  }

  // Timers: a binary min-heap of parked fibers by deadline; each fiber is in it at most once
  // (its position in heap_index), so the heap never outgrows the fibers.
  int TimeoutMs() const {
    if (timers_.empty()) return -1;
    const auto left = timers_.front()->park_deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
  }

  void FireTimers() {
    if (timers_.empty()) return;
    const Deadline now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.front()->park_deadline <= now) {
      Fiber* f = timers_.front();
      TimerRemove(f);
      MakeReadyIfParked(f, WakeReason::kTimeout);
    }
  }

  void TimerSet(Fiber* f, Deadline deadline) {
    f->park_deadline = deadline;
    if (f->heap_index == kNotInHeap) {
      f->heap_index = timers_.size();
      timers_.push_back(f);
    }
    SiftUp(f->heap_index);
    SiftDown(f->heap_index);
  }

  void TimerRemove(Fiber* f) {
    const std::size_t i = f->heap_index;
    f->heap_index = kNotInHeap;
    Fiber* last = timers_.back();
    timers_.pop_back();
    if (last == f) return;
    timers_[i] = last;
    last->heap_index = i;
    SiftUp(i);
    SiftDown(last->heap_index);
  }

  void SiftUp(std::size_t i) {
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (timers_[parent]->park_deadline <= timers_[i]->park_deadline) break;
      SwapTimers(i, parent);
      i = parent;
    }
  }

  void SiftDown(std::size_t i) {
    while (true) {
      std::size_t smallest = i;
      for (std::size_t child = 2 * i + 1; child <= 2 * i + 2 && child < timers_.size(); ++child) {
        if (timers_[child]->park_deadline < timers_[smallest]->park_deadline) smallest = child;
      }
      if (smallest == i) return;
      SwapTimers(i, smallest);
      i = smallest;
    }
  }

  void SwapTimers(std::size_t a, std::size_t b) {
    std::swap(timers_[a], timers_[b]);
    timers_[a]->heap_index = a;
    timers_[b]->heap_index = b;
  }

  FiberSchedulerGroup* const group_;
  StackPool* const stacks_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::atomic<std::size_t> live_{0};  // Fibers spawned and not yet finished.

  // Scheduler thread only.
  std::deque<Fiber*> ready_;
  std::vector<Fiber*> timers_;
  std::vector<Fiber*> fd_waiter_;  // By descriptor: the fiber parked on it.
  std::vector<Fiber*> fd_owner_;   // By descriptor: the fiber whose registration is current.
  // By descriptor: epoll events reported since the owner last consumed them (see TakeEdge).
  std::vector<std::uint32_t> fd_edges_;
  std::vector<Fiber*> remote_taken_;
#if defined(WEFT_FIBER_TSAN)
  void* tsan_self_ = nullptr;
#endif

  Mutex remote_mu_;
  std::vector<Fiber*> remote_ready_ ABSL_GUARDED_BY(remote_mu_);
  bool exit_ ABSL_GUARDED_BY(remote_mu_) = false;

  std::thread thread_;
};

// --- FiberWaiter ------------------------------------------------------------------------------

absl::Status FiberWaiter::Wait(int fd, IoInterest interest, Deadline deadline) {
  CHECK_EQ(CurrentFiber(), fiber_) << "a fiber's waiter was used outside its fiber";
  FiberScheduler* scheduler = fiber_->scheduler;
  while (true) {
    const TaskControl* task = CurrentTask();
    if (task != nullptr && task->shutdown_requested()) {
      return absl::CancelledError("task is shutting down");
    }
    if (deadline != kNoDeadline && std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("I/O deadline passed");
    }
    if (scheduler->TakeEdge(fiber_, fd, interest)) return absl::OkStatus();
    if (absl::Status s = scheduler->WatchFd(fiber_, fd, interest); !s.ok()) return s;
    const WakeReason reason = scheduler->Park(fiber_, deadline);
    scheduler->UnwatchFd(fd);
    if (reason == WakeReason::kReady) return absl::OkStatus();
  }
}

void FiberWaiter::ForgetDescriptor(int fd) {
  if (CurrentFiber() != fiber_) return;
  fiber_->scheduler->Forget(fiber_, fd);
}

// --- Free functions ---------------------------------------------------------------------------

Fiber* CurrentFiber() { return tls_fiber; }

WakeReason ParkCurrentFiber(Deadline deadline) {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "ParkCurrentFiber outside a fiber";
  return f->scheduler->Park(f, deadline);
}

void UnparkFiber(Fiber* fiber) { fiber->scheduler->Unpark(fiber); }

void YieldCurrentFiber() {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "YieldCurrentFiber outside a fiber";
  f->scheduler->Yield(f);
}

TaskWaiter& CurrentFiberWaiter() {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "CurrentFiberWaiter outside a fiber";
  return f->waiter;
}

void SubmitBlockingWork(absl::AnyInvocable<void()> job) {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "SubmitBlockingWork outside a fiber";
  f->scheduler->group()->SubmitBlocking(std::move(job));
}

// --- FiberSchedulerGroup ----------------------------------------------------------------------

FiberSchedulerGroup::FiberSchedulerGroup(FiberGroupOptions options)
    : stack_size_(std::max(options.stack_size, kMinStackSize)),
      blocking_threads_(std::max<std::size_t>(options.blocking_threads, 1)),
      stacks_(std::make_unique<StackPool>(options.stack_size)) {
  CHECK_GE(options.threads, 1u);
  schedulers_.reserve(options.threads);
  for (std::size_t i = 0; i < options.threads; ++i) {
    schedulers_.push_back(std::make_unique<FiberScheduler>(this, stacks_.get()));
  }
}

FiberSchedulerGroup::~FiberSchedulerGroup() {
  schedulers_.clear();  // Each joins its thread once its fibers have ended.
  std::vector<std::thread> helpers;
  {
    MutexLock lock(&blocking_mu_);
    blocking_closing_ = true;
    blocking_cv_.SignalAll();
    helpers.swap(blocking_helpers_);
  }
  for (std::thread& t : helpers) t.join();
}

absl::Status FiberSchedulerGroup::Spawn(absl::AnyInvocable<void()> fn) {
  FiberScheduler* best = schedulers_.front().get();
  for (const auto& s : schedulers_) {
    if (s->load() < best->load()) best = s.get();
  }
  return best->Spawn(std::move(fn));
}

void FiberSchedulerGroup::SubmitBlocking(absl::AnyInvocable<void()> job) {
  MutexLock lock(&blocking_mu_);
  blocking_jobs_.push_back(std::move(job));
  if (blocking_idle_ == 0 && blocking_helpers_.size() < blocking_threads_) {
    blocking_helpers_.emplace_back([this] { HelperMain(); });
  } else {
    blocking_cv_.Signal();
  }
}

void FiberSchedulerGroup::HelperMain() {
  MutexLock lock(&blocking_mu_);
  while (true) {
    while (blocking_jobs_.empty() && !blocking_closing_) {
      ++blocking_idle_;
      blocking_cv_.Wait(&blocking_mu_);
      --blocking_idle_;
    }
    if (blocking_jobs_.empty()) return;
    absl::AnyInvocable<void()> job = std::move(blocking_jobs_.front());
    blocking_jobs_.erase(blocking_jobs_.begin());
    blocking_mu_.Unlock();
    job();
    job = nullptr;
    blocking_mu_.Lock();
  }
}

// --- FiberAwareCondVar ------------------------------------------------------------------------

bool FiberAwareCondVar::WaitUntil(Mutex* mu, Deadline deadline) {
  Fiber* self = tls_fiber;
  if (self == nullptr) return cv_.WaitUntil(mu, deadline);
  fibers_.push_back(self);
  mu->Unlock();
  // A SignalAll between the unlock and the park is not lost: a wake-up from another thread is
  // queued and only processed after this fiber has switched out; none can come from this one.
  const WakeReason reason = self->scheduler->Park(self, deadline);
  mu->Lock();
  auto it = std::find(fibers_.begin(), fibers_.end(), self);
  if (it != fibers_.end()) fibers_.erase(it);
  return reason != WakeReason::kTimeout;
}

void FiberAwareCondVar::SignalAll(Mutex* /*mu*/) {
  for (Fiber* f : fibers_) UnparkFiber(f);
  fibers_.clear();
  cv_.SignalAll();
}

}  // namespace weft::internal
